/**
 * Phase "NMI's federated token": what the kubelet does for NMI on a real node — a ServiceAccount for
 * NMI (kube-system/pod-identity-nmi) and a token of it with audience api://AzureADTokenExchange from
 * the TokenRequest API, written to the file NMI's `--federated-token-file` names, and written again
 * before it expires (NMI reads the file for every exchange, so no restart).
 * @module
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FEDERATED_TOKEN_AUDIENCE } from '../../../api/index.ts';
import type { KubeTarget } from '../../../kube/access.ts';
import { isStatus, rawRequest } from '../../../kube/raw-client.ts';
import { NMI_SERVICE_ACCOUNT } from '../examples.ts';
import type { Teardown } from '../steps.ts';

/** Lifetime asked for (the kubelet's default for projected tokens is one hour). */
export const FEDERATED_TOKEN_SECONDS = 3600;
/** Renewed when this share of the lifetime has passed (the kubelet renews at 80 %). */
const RENEW_AT = 0.8;
/** Retry a failed renewal this soon. */
const RETRY_MS = 30_000;

export interface FederatedTokenFile {
  readonly file: string;
  /** `<namespace>/<name>` of NMI's service account. */
  readonly serviceAccount: string;
  readonly audience: string;
  /** When the current token expires (epoch ms). */
  expiresAt(): number;
  /** Renewal interval as planned for the first token. */
  readonly renewEveryMs: number;
}

/** How long after issuing a token that expires at `expiresAtMs` to renew it; at least a second. */
export function renewDelayMs(issuedAtMs: number, expiresAtMs: number): number {
  return Math.max(1_000, Math.floor((expiresAtMs - issuedAtMs) * RENEW_AT));
}

interface TokenRequestAnswer {
  readonly status: { readonly token: string; readonly expirationTimestamp: string };
}

async function createServiceAccount(kube: KubeTarget): Promise<void> {
  await rawRequest(kube, {
    method: 'POST',
    path: `/api/v1/namespaces/${NMI_SERVICE_ACCOUNT.namespace}/serviceaccounts`,
    body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: NMI_SERVICE_ACCOUNT.name } },
  }).catch((error: unknown) => {
    // Already there (a sandbox started on a kept plane): its tokens serve as well.
    if (!isStatus(error, 409)) throw error;
  });
}

async function requestToken(kube: KubeTarget): Promise<{ token: string; expiresAtMs: number }> {
  const answer = (await rawRequest(kube, {
    method: 'POST',
    path: `/api/v1/namespaces/${NMI_SERVICE_ACCOUNT.namespace}/serviceaccounts/${NMI_SERVICE_ACCOUNT.name}/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [FEDERATED_TOKEN_AUDIENCE], expirationSeconds: FEDERATED_TOKEN_SECONDS } },
  })) as TokenRequestAnswer;
  return { token: answer.status.token, expiresAtMs: Date.parse(answer.status.expirationTimestamp) };
}

/** Replaces the file in one step: NMI never reads half a token. */
async function writeAtomically(file: string, content: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, content, { mode: 0o600 });
  await rename(temporary, file);
}

/** Creates the account, writes the first token under `dir`, and keeps it fresh until the teardown. */
export async function provideFederatedToken(kube: KubeTarget, dir: string, teardown: Teardown): Promise<FederatedTokenFile> {
  await createServiceAccount(kube);
  const tokenDir = path.join(dir, 'federated');
  await mkdir(tokenDir, { recursive: true, mode: 0o700 });
  const file = path.join(tokenDir, 'token');
  const first = await requestToken(kube);
  await writeAtomically(file, first.token);
  let expiresAt = first.expiresAtMs;

  let timer: NodeJS.Timeout | undefined;
  const schedule = (delayMs: number): void => {
    timer = setTimeout(() => void renew(), delayMs);
    timer.unref();
  };
  const renew = async (): Promise<void> => {
    try {
      const next = await requestToken(kube);
      await writeAtomically(file, next.token);
      expiresAt = next.expiresAtMs;
      schedule(renewDelayMs(Date.now(), next.expiresAtMs));
    } catch {
      // The API server is away for a moment (or stopping): try again; NMI still holds a valid token.
      schedule(RETRY_MS);
    }
  };
  const renewEveryMs = renewDelayMs(Date.now(), first.expiresAtMs);
  schedule(renewEveryMs);
  teardown.add("stopping the renewal of NMI's federated token", () => {
    clearTimeout(timer);
    return Promise.resolve();
  });
  return { file, serviceAccount: `${NMI_SERVICE_ACCOUNT.namespace}/${NMI_SERVICE_ACCOUNT.name}`, audience: FEDERATED_TOKEN_AUDIENCE, expiresAt: () => expiresAt, renewEveryMs };
}
