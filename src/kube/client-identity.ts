/**
 * Who our components are towards the API server: the User-Agent of every request, in client-go's
 * form (`<component>/<version> (<os>/<arch>) <runtime>/<version>`, plus `--custom-user-agent`), and
 * the field manager of every write. The API server names the manager of a write without
 * `fieldManager` after the User-Agent's first token; we pass it explicitly anyway, so `managedFields`
 * keep the component's name whatever a proxy or the User-Agent format does, and server-side apply
 * (which requires it) uses the same name.
 * @module
 */
import type { KubeAccess, PreparedRequest } from './access.ts';
import type { RequestLimiter } from './request-limiter.ts';

/** Component names: the User-Agent's product token and the field manager of each component's writes. */
export const KUBE_COMPONENT = {
  mic: 'pod-identity-mic',
  nmi: 'pod-identity-nmi',
  cli: 'pod-identity-cli',
} as const;

export interface ClientIdentity {
  readonly component: string;
  readonly version: string;
  /** Appended after a space, as upstream's `--custom-user-agent`. */
  readonly customUserAgent?: string | undefined;
}

export interface Runtime {
  readonly platform: string;
  readonly arch: string;
  readonly nodeVersion: string;
}

const NODE_RUNTIME: Runtime = { platform: process.platform, arch: process.arch, nodeVersion: process.version };

/** Node's names for Go's GOOS/GOARCH, so the platform reads as in client-go's User-Agents. */
const GO_OS: Readonly<Record<string, string>> = { win32: 'windows' };
const GO_ARCH: Readonly<Record<string, string>> = { x64: 'amd64', ia32: '386', ppc64: 'ppc64le' };

/** E.g. `pod-identity-mic/0.1.0 (linux/amd64) node/v24.21.0 my-cluster-agent`. */
export function kubeUserAgent(identity: ClientIdentity, runtime: Runtime = NODE_RUNTIME): string {
  const os = GO_OS[runtime.platform] ?? runtime.platform;
  const arch = GO_ARCH[runtime.arch] ?? runtime.arch;
  const base = `${identity.component}/${identity.version} (${os}/${arch}) node/${runtime.nodeVersion}`;
  const custom = identity.customUserAgent?.trim() ?? '';
  return custom === '' ? base : `${base} ${custom}`;
}

export interface IdentifiedOptions {
  readonly userAgent: string;
  readonly fieldManager: string;
  /** Paces every request and watch opening (`--clientQps`); none = not paced. */
  readonly limiter?: RequestLimiter | undefined;
}

/** `access` with our User-Agent on every request, our field manager on writes, and optional pacing. */
export function identifiedAccess(access: KubeAccess, options: IdentifiedOptions): KubeAccess {
  return {
    server: access.server,
    fieldManager: options.fieldManager,
    async prepare(signal?: AbortSignal): Promise<PreparedRequest> {
      await options.limiter?.wait(signal);
      const prepared = await access.prepare(signal);
      return { ...prepared, headers: { ...prepared.headers, 'User-Agent': options.userAgent } };
    },
  };
}
