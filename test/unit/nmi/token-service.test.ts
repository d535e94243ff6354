import { describe, expect, it } from 'vitest';
import type { AzureIdentity } from '../../../src/api/index.ts';
import type { AccessToken } from '../../../src/azure/token-source.ts';
import { ManualClock } from '../../../src/lib/clock.ts';
import { UpstreamLimiter } from '../../../src/nmi/limits.ts';
import { isMicPod } from '../../../src/nmi/select-identity.ts';
import { imdsKey, servicePrincipalKey, TokenService } from '../../../src/nmi/token-service.ts';

const HOUR = 3_600_000;

function service(clock: ManualClock) {
  const calls: string[] = [];
  let issued = 0;
  const make = (resource: string, clientId?: string): AccessToken => ({ accessToken: `t${String(++issued)}`, expiresOnMs: clock.now() + 24 * HOUR, resource, ...(clientId === undefined ? {} : { clientId }) });
  const tokens = new TokenService({
    imds: {
      getToken: async (request) => {
        calls.push(`imds ${request.selector?.kind ?? 'system'}=${request.selector?.value ?? ''} ${request.resource}`);
        await Promise.resolve();
        return make(request.resource, request.selector?.value);
      },
    },
    servicePrincipals: {
      getToken: async (identity, tenantId, resource) => {
        calls.push(`sp ${identity.metadata.name ?? ''}@${tenantId} ${resource}`);
        await Promise.resolve();
        return make(resource, identity.spec.clientID);
      },
    },
    imdsLimiter: new UpstreamLimiter({ clock }),
    cache: { clock },
  });
  return { tokens, calls };
}

const sp = (aux: string[]): AzureIdentity =>
  ({ apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentity', metadata: { name: 'sp', namespace: 'ns' }, spec: { type: 1, clientID: 'app', tenantID: 'T1', auxiliaryTenantIDs: aux } });

describe('TokenService', () => {
  it('keys are canonical: client IDs compare case-insensitively, resources exactly', () => {
    expect(imdsKey({ kind: 'client_id', value: 'ABC' })).toBe(imdsKey({ kind: 'client_id', value: 'abc' }));
    expect(imdsKey(undefined)).toBe('node:system');
    expect(servicePrincipalKey(sp([]), 'T1')).toBe('sp:ns/sp@t1');
  });

  it('coalesces concurrent misses into one upstream call and serves later requests from the cache', async () => {
    const clock = new ManualClock(1_000_000);
    const { tokens, calls } = service(clock);
    const selector = { kind: 'client_id' as const, value: 'c1' };
    const results = await Promise.all(Array.from({ length: 50 }, () => tokens.fromImds(selector, 'https://r', undefined)));
    expect(calls).toEqual(['imds client_id=c1 https://r']);
    expect(new Set(results.map((result) => result.token.accessToken)).size).toBe(1);
    const again = await tokens.fromImds({ kind: 'client_id', value: 'C1' }, 'https://r');
    expect(again.cacheHit).toBe(true);
    expect(calls).toHaveLength(1);
    // Another resource is another token.
    await tokens.fromImds(selector, 'https://r/');
    expect(calls).toHaveLength(2);
  });

  it('drops an identity’s tokens when it changes (by name or by client ID), and only its tokens', async () => {
    const clock = new ManualClock(1_000_000);
    const { tokens, calls } = service(clock);
    const owner = { namespace: 'ns', name: 'id1', clientId: 'C1' };
    await tokens.fromImds({ kind: 'client_id', value: 'c1' }, 'r', undefined, owner);
    await tokens.fromImds({ kind: 'client_id', value: 'c2' }, 'r', undefined, { namespace: 'ns', name: 'id2', clientId: 'c2' });
    tokens.invalidate({ namespace: 'other', name: 'x', clientId: 'c1' });
    const refetched = await tokens.fromImds({ kind: 'client_id', value: 'c1' }, 'r', undefined, owner);
    expect(refetched.cacheHit).toBe(false);
    expect((await tokens.fromImds({ kind: 'client_id', value: 'c2' }, 'r')).cacheHit).toBe(true);
    expect(calls).toHaveLength(3);
  });

  it('asks Entra once per tenant for a service principal with auxiliary tenants, primary first', async () => {
    const clock = new ManualClock(1_000_000);
    const { tokens, calls } = service(clock);
    const served = await tokens.fromServicePrincipal(sp(['T2', 'T3']), 'r');
    expect(served).toHaveLength(3);
    expect(calls).toEqual(['sp sp@T1 r', 'sp sp@T2 r', 'sp sp@T3 r']);
    tokens.invalidate({ namespace: 'ns', name: 'sp', clientId: 'app' });
    await tokens.fromServicePrincipal(sp(['T2', 'T3']), 'r');
    expect(calls).toHaveLength(6);
  });
});

describe('MIC self-exception', () => {
  it('needs MIC’s namespace (any case) and a ReplicaSet whose name starts with mic', () => {
    expect(isMicPod({ namespace: 'Default', replicaSet: 'mic-5d8f' }, 'default')).toBe(true);
    expect(isMicPod({ namespace: 'default', replicaSet: 'release-mic-5d8f' }, 'default')).toBe(false);
    expect(isMicPod({ namespace: 'other', replicaSet: 'mic-5d8f' }, 'default')).toBe(false);
    expect(isMicPod({ namespace: 'default', replicaSet: undefined }, 'default')).toBe(false);
  });
});
