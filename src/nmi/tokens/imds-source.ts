/**
 * Managed-identity tokens from the node's IMDS (src/azure/imds-token-client.ts) as a
 * {@link TokenSource}. It serves type-0 AzureIdentities (by client ID, else by resource ID) and the
 * requests NMI sends IMDS without one: an exception or MIC pod (the node's default identity, or the
 * selector the pod sent) and an `object_id` lookup among a pod's identities.
 *
 * Upstream ids say exactly what IMDS is asked: `node:system`, `msi:client_id:<id>`,
 * `msi:resource_id:<id>`, `msi:object_id:<id>` (IDs lower-cased: IMDS compares them so).
 * @module
 */
import { IdentityType } from '../../api/index.ts';
import type { AccessToken } from '../../azure/access-token.ts';
import type { ImdsIdentitySelector, ImdsTokenClient } from '../../azure/imds-token-client.ts';
import type { ImdsOperation } from '../metrics.ts';
import type { TokenKey, TokenSource, Upstream, UpstreamKind } from './token-source.ts';

export interface ImdsUpstream extends Upstream {
  readonly kind: 'imds';
  /** None: the VM's default identity. */
  readonly selector: ImdsIdentitySelector | undefined;
}

export function imdsUpstream(selector: ImdsIdentitySelector | undefined): ImdsUpstream {
  const id = selector === undefined ? 'node:system' : `msi:${selector.kind}:${selector.value.toLowerCase()}`;
  return { kind: 'imds', id, selector };
}

/** Type-0 identities: by client ID when set, else by resource ID. */
export const IMDS_IDENTITIES: UpstreamKind<ImdsUpstream> = {
  kind: 'imds',
  identityTypes: [IdentityType.UserAssignedMSI],
  upstreamsOf(identity) {
    const clientId = identity.spec.clientID ?? '';
    return [imdsUpstream(clientId !== '' ? { kind: 'client_id', value: clientId } : { kind: 'resource_id', value: identity.spec.resourceID ?? '' })];
  },
};

/** Upstream's `operation_type` of an IMDS call: the default identity, or one named by the request. */
export function imdsOperation(upstream: ImdsUpstream): ImdsOperation {
  return upstream.selector === undefined ? 'adal_token_msi' : 'adal_token_msi_userassignedid';
}

export class ImdsSource implements TokenSource<ImdsUpstream> {
  private readonly client: Pick<ImdsTokenClient, 'getToken'>;

  constructor(client: Pick<ImdsTokenClient, 'getToken'>) {
    this.client = client;
  }

  getToken(key: TokenKey<ImdsUpstream>, signal?: AbortSignal): Promise<AccessToken> {
    return this.client.getToken({ resource: key.resource, selector: key.upstream.selector }, signal);
  }
}
