/**
 * Starts the Azure simulator: ARM and Entra ID over HTTPS (certificates from a per-run CA), one
 * plain-HTTP IMDS per simulated node, and a plain-HTTP admin API — all sharing one state, token
 * issuer, request log and fault set. Every server gets the instrumentation (request log + faults)
 * before its routes.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import fastify, { type FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { createCertificateAuthority, type CertificateAuthority } from '../lib/pki.ts';
import { adminRoutes } from './admin/index.ts';
import { SimSettings, type ImdsLimits } from './admin/settings.ts';
import { armRoutes, type ArmDeps } from './arm/index.ts';
import type { LroKind } from './arm/operations.ts';
import { LroPollLog } from './arm/poll-log.ts';
import { entraRoutes, type EntraDeps } from './entra/index.ts';
import { FaultInjector } from './faults/injector.ts';
import { instrumentation } from './http/instrumentation.ts';
import { QuietRequestLogController } from './http/log-controller.ts';
import { RequestLog } from './http/request-log.ts';
import type { ServiceName } from './http/service.ts';
import { imdsRoutes, type ImdsDeps } from './imds/index.ts';
import type { SimStateData } from './state/model.ts';
import { SimStore } from './state/store.ts';
import { TokenIssuer } from './tokens/issuer.ts';

export interface AzureSimulatorOptions {
  /** Address every server listens on; default `127.0.0.1`. Only loopback or a test-namespace address. */
  host?: string;
  /**
   * More addresses clients reach the servers at through forwarders (e.g. a test cluster's gateway,
   * src/devenv/node): named in the ARM/Entra certificate. Listening stays on `host`.
   */
  advertisedAddresses?: readonly string[];
  /** 0/undefined = a free port chosen by the kernel. */
  armPort?: number;
  entraPort?: number;
  adminPort?: number;
  /** Default: `state.tenantId`, else a random GUID. */
  tenantId?: string;
  /** Initial state. */
  state?: Partial<SimStateData>;
  /** Duration of compute identity operations; default `{ vm: 10_000, vmss: 40_000 }` (use ~100 ms in tests). */
  lroDurationMs?: { vm: number; vmss: number };
  /** `Retry-After` seconds (integer ≥ 1) per operation kind; default 1 each. */
  lroRetryAfterSeconds?: Partial<Record<LroKind, number>>;
  /** IMDS Managed Identity limits per VM; default `{ requestsPerSecond: 20, maxConcurrent: 5 }`; false = off. */
  imdsLimits?: ImdsLimits | false;
  /** ARM checks the caller's role assignments; default false. */
  enforceRbac?: boolean;
  /**
   * CA certificates (PEM) Entra ID trusts, besides the public roots, when it fetches an OIDC issuer's
   * discovery document and keys for a federated assertion (e.g. a test API server's CA). Also admin
   * `POST /options {"oidcCaPems": [...]}`.
   */
  oidcCaPems?: readonly string[];
  /** Issues the ARM/Entra server certificates; default a fresh CA. */
  ca?: CertificateAuthority;
  /** Default: silent. */
  logger?: Logger;
}

/** A running IMDS listener for one node. */
export interface ImdsListener {
  readonly url: string;
  close(): Promise<void>;
}

export interface AzureSimulator {
  /** `https://<host>:<port>` */
  readonly armUrl: string;
  /** `https://<host>:<port>`: the authority host. */
  readonly entraUrl: string;
  /** `http://<host>:<port>` */
  readonly adminUrl: string;
  /** CA certificate that signed the ARM/Entra server certificates: give it to clients as `ca`. */
  readonly caPem: string;
  readonly tenantId: string;
  readonly store: SimStore;
  readonly issuer: TokenIssuer;
  readonly faults: FaultInjector;
  readonly requestLog: RequestLog;
  /** Polls per compute operation (admin `GET /requests/operations`). */
  readonly pollLog: LroPollLog;
  /** Live settings (also changed by admin `POST /options`). */
  readonly settings: SimSettings;
  /** One IMDS listener (plain HTTP) per simulated node: answers only for the identities on that node's VM / scale set. */
  startImds(nodeName: string, listen?: { host?: string; port?: number }): Promise<ImdsListener>;
  /** Closes every server (pending latency/hang faults end at once). Idempotent. */
  stop(): Promise<void>;
}

/** `host:port` for a URL (IPv6 in brackets). */
function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `https://<name>:<port of armUrl>` for each name (duplicates dropped); [] before ARM listens. */
function ownEndpoints(armUrl: string, names: readonly string[]): string[] {
  if (armUrl === '') return [];
  const port = Number(new URL(armUrl).port || 443);
  return [...new Set(names.map((name) => `https://${hostPort(name, port)}`))];
}

function checkHost(host: string): void {
  // A wildcard would expose the simulator (and its tokens) beyond the test.
  if (host === '0.0.0.0' || host === '::' || host === '') {
    throw new Error(`azure simulator: refusing to listen on the wildcard address ${JSON.stringify(host)}; give a loopback or test-namespace address`);
  }
}

async function listen(app: FastifyInstance, host: string, port: number | undefined, what: string): Promise<number> {
  try {
    await app.listen({ host, port: port ?? 0 });
  } catch (error) {
    throw new Error(`azure simulator: ${what} cannot listen on ${hostPort(host, port ?? 0)}`, { cause: error });
  }
  return (app.server.address() as AddressInfo).port;
}

/** Starts every server; resolves once all listen. On failure, whatever started is closed again. */
export async function startAzureSimulator(options: AzureSimulatorOptions = {}): Promise<AzureSimulator> {
  const host = options.host ?? '127.0.0.1';
  checkHost(host);
  const logger = options.logger ?? pino({ level: 'silent' });
  const ca = options.ca ?? createCertificateAuthority('pod-identity azure-sim CA');
  const hostIsIp = isIP(host) !== 0;
  const tls = ca.issue({
    commonName: 'pod-identity azure-sim',
    dnsNames: ['localhost', ...(hostIsIp || host === 'localhost' ? [] : [host])],
    ipAddresses: [...new Set(['127.0.0.1', ...(hostIsIp ? [host] : []), ...(options.advertisedAddresses ?? [])])],
    usage: 'server',
  });
  const tenantId = options.tenantId ?? options.state?.tenantId ?? randomUUID();
  const store = new SimStore(tenantId);
  store.load(options.state ?? {});
  const issuer = TokenIssuer.create();
  const faults = new FaultInjector();
  const requestLog = new RequestLog();
  const pollLog = new LroPollLog();
  const settings = new SimSettings({
    ...(options.lroDurationMs !== undefined ? { lroDurationMs: options.lroDurationMs } : {}),
    ...(options.lroRetryAfterSeconds !== undefined ? { lroRetryAfterSeconds: options.lroRetryAfterSeconds } : {}),
    ...(options.imdsLimits !== undefined ? { imdsLimits: options.imdsLimits } : {}),
    ...(options.enforceRbac !== undefined ? { enforceRbac: options.enforceRbac } : {}),
    ...(options.oidcCaPems !== undefined ? { oidcCaPems: options.oidcCaPems } : {}),
  });
  const stopping = new AbortController();
  const servers = new Set<FastifyInstance>();

  const newServer = async (service: ServiceName, https: boolean): Promise<FastifyInstance> => {
    const serviceLogger = logger.child({ service });
    // Route plugins are typed against fastify's default (http) server; over https the request and
    // reply objects are the same IncomingMessage/ServerResponse, so one instance type serves both.
    const app = fastify({
      ...(https ? { https: { key: tls.keyPem, cert: tls.certPem } } : {}),
      loggerInstance: serviceLogger,
      logController: new QuietRequestLogController(),
      // Hanging faults and keep-alive clients must not hold stop() up.
      forceCloseConnections: true,
      // A whole state (PUT /state) can be large; the Azure-facing servers keep fastify's 1 MiB.
      ...(service === 'admin' ? { bodyLimit: 64 * 1024 * 1024 } : {}),
    }) as unknown as FastifyInstance;
    servers.add(app);
    await app.register(instrumentation, { service, requestLog, faults, store, signal: stopping.signal, logger: serviceLogger });
    return app;
  };

  let armUrl = '';
  let entraUrl = '';
  const stop = async (): Promise<void> => {
    stopping.abort();
    const closing = [...servers].map((app) => app.close());
    servers.clear();
    await Promise.allSettled(closing);
  };

  try {
    const arm = await newServer('arm', true);
    const armDeps: ArmDeps = {
      store,
      issuer,
      lroDurationMs: settings.lroDurationMs,
      lroRetryAfterSeconds: settings.lroRetryAfterSeconds,
      pollLog,
      get enforceRbac() {
        return settings.enforceRbac;
      },
      publicUrl: () => armUrl,
      // ARM's own endpoints, accepted as token audiences: every name in its certificate at its port.
      endpoints: () => ownEndpoints(armUrl, ['localhost', '127.0.0.1', host, ...(options.advertisedAddresses ?? [])]),
      logger: logger.child({ service: 'arm' }),
    };
    await arm.register(armRoutes, armDeps);
    armUrl = `https://${hostPort(host, await listen(arm, host, options.armPort, 'ARM'))}`;

    const entra = await newServer('entra', true);
    const entraDeps: EntraDeps = { store, issuer, publicUrl: () => entraUrl, oidcCaPems: () => settings.oidcCaPems, logger: logger.child({ service: 'entra' }) };
    await entra.register(entraRoutes, entraDeps);
    entraUrl = `https://${hostPort(host, await listen(entra, host, options.entraPort, 'Entra ID'))}`;

    const admin = await newServer('admin', false);
    await admin.register(adminRoutes, { store, faults, requestLog, pollLog, settings });
    const adminUrl = `http://${hostPort(host, await listen(admin, host, options.adminPort, 'admin API'))}`;

    const startImds = async (nodeName: string, at: { host?: string; port?: number } = {}): Promise<ImdsListener> => {
      if (stopping.signal.aborted) throw new Error('azure simulator: stopped; cannot start IMDS for ' + nodeName);
      if (nodeName === '') throw new Error('azure simulator: IMDS needs a node name');
      const imdsHost = at.host ?? host;
      checkHost(imdsHost);
      const imds = await newServer(`imds:${nodeName}`, false);
      try {
        const imdsDeps: ImdsDeps = {
          store,
          issuer,
          nodeName,
          get limits() {
            return settings.imdsLimits;
          },
          logger: logger.child({ service: `imds:${nodeName}` }),
        };
        await imds.register(imdsRoutes, imdsDeps);
        const url = `http://${hostPort(imdsHost, await listen(imds, imdsHost, at.port, `IMDS for node ${nodeName}`))}`;
        return {
          url,
          close: async () => {
            servers.delete(imds);
            await imds.close();
          },
        };
      } catch (error) {
        servers.delete(imds);
        await imds.close();
        throw error;
      }
    };

    return {
      armUrl,
      entraUrl,
      adminUrl,
      caPem: ca.certPem,
      tenantId,
      store,
      issuer,
      faults,
      requestLog,
      pollLog,
      settings,
      startImds,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
