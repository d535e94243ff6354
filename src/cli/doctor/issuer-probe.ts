/**
 * The doctor's look at a service-account issuer the way Entra ID fetches it: anonymous HTTPS GETs of
 * the discovery document and then of its `jwks_uri`, from where the doctor runs. Only facts are
 * returned (status, JSON, network error); federated-steps.ts judges them.
 * @module
 */
import { rootCertificates } from 'node:tls';
import { Agent, fetch } from 'undici';
import { describeError } from '../../lib/errors.ts';
import { discoveryUrl } from '../federation/issuer.ts';
import type { FetchOutcome, IssuerProbe } from './model.ts';

export interface IssuerProbeOptions {
  /** Extra CA certificates (PEM) trusted besides the public roots (a self-hosted issuer's private CA). */
  readonly extraCaPem?: string | undefined;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal | undefined;
}

/** Probes `issuer`; never throws for network or HTTP problems. */
export async function probeIssuer(issuer: string, options: IssuerProbeOptions = {}): Promise<IssuerProbe> {
  const agent = new Agent({ connect: { ca: options.extraCaPem === undefined ? [...rootCertificates] : [...rootCertificates, options.extraCaPem] } });
  try {
    const get = (url: string): Promise<FetchOutcome> => fetchJson(url, agent, options);
    const discovery = await get(discoveryUrl(issuer));
    const jwksUri = discovery.kind === 'ok' ? (discovery.json as { jwks_uri?: unknown } | null)?.jwks_uri : undefined;
    const jwks = typeof jwksUri === 'string' && jwksUri.startsWith('https://') ? await get(jwksUri) : undefined;
    return { issuer, discovery, jwks };
  } finally {
    await agent.close();
  }
}

async function fetchJson(url: string, agent: Agent, options: IssuerProbeOptions): Promise<FetchOutcome> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 10_000);
  const signal = options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal]);
  let text: string;
  try {
    // kube-apiserver serves the JWKS only as application/jwk-set+json (406 for a plain application/json).
    const response = await fetch(url, { dispatcher: agent, headers: { Accept: 'application/json, application/jwk-set+json, */*;q=0.5' }, signal });
    text = await response.text();
    if (!response.ok) return { kind: 'http', url, status: response.status };
  } catch (error) {
    return { kind: 'network', url, message: describeError(error) };
  }
  try {
    return { kind: 'ok', url, json: JSON.parse(text) as unknown };
  } catch {
    return { kind: 'invalid', url, message: `not JSON: ${JSON.stringify(text.slice(0, 80))}` };
  }
}
