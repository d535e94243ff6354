/**
 * The serialisable facts about a running control plane: what global setup hands to test files
 * (which run in other processes) through vitest's provide/inject.
 */
export interface ControlPlaneInfo {
  /** Temp dir with certs (including the CA key), kubeconfigs and logs. */
  readonly dir: string;
  /** https://127.0.0.1:<port> */
  readonly server: string;
  /** The plane's CA (PEM): it signs the serving certificate, so it is also what trusts `issuerUrl`. */
  readonly caPem: string;
  /**
   * Service-account token issuer (`iss` of minted tokens), https://127.0.0.1:<port>; its
   * `/.well-known/openid-configuration` and JWKS are readable without credentials.
   */
  readonly issuerUrl: string;
  /** Admin (system:masters) kubeconfig. */
  readonly kubeconfigPath: string;
  /** Holds kube-apiserver, etcd, kubectl and helm. */
  readonly binDir: string;
  /** JSON lines, one audit event (Metadata level) per request stage ResponseComplete. */
  readonly auditLogPath: string;
  /** etcd + kube-apiserver start until ready, in ms. */
  readonly startupMs: number;
}
