import { describe, expect, it } from 'vitest';
import type { AzureIdentity } from '../../../../src/api/index.ts';
import type { AccessToken } from '../../../../src/azure/access-token.ts';
import { ManualClock } from '../../../support/manual-clock.ts';
import { UpstreamLimiter } from '../../../../src/nmi/limits.ts';
import type { ImdsOperation } from '../../../../src/nmi/metrics.ts';
import { isMicPod } from '../../../../src/nmi/identity/select-identity.ts';
import { IMDS_IDENTITIES, imdsOperation, imdsUpstream, type ImdsUpstream } from '../../../../src/nmi/tokens/imds-source.ts';
import { LimitedTokenSource } from '../../../../src/nmi/tokens/limited-source.ts';
import { MeasuredTokenSource } from '../../../../src/nmi/tokens/measured-source.ts';
import { SERVICE_PRINCIPAL_IDENTITIES, servicePrincipalUpstream, type ServicePrincipalUpstream } from '../../../../src/nmi/tokens/service-principal-source.ts';
import { CachingTokenSource } from '../../../../src/nmi/tokens/token-cache.ts';
import { TokenService } from '../../../../src/nmi/tokens/token-service.ts';
import type { TokenSource } from '../../../../src/nmi/tokens/token-source.ts';
import { route, UpstreamRouter } from '../../../../src/nmi/tokens/upstream-router.ts';

const HOUR = 3_600_000;

function service(clock: ManualClock) {
  const calls: string[] = [];
  let issued = 0;
  const make = (resource: string, clientId?: string): AccessToken => ({ accessToken: `t${String(++issued)}`, expiresOnMs: clock.now() + 24 * HOUR, resource, ...(clientId === undefined ? {} : { clientId }) });
  const imds: TokenSource<ImdsUpstream> = {
    getToken: async ({ upstream, resource }) => {
      calls.push(`imds ${upstream.selector?.kind ?? 'system'}=${upstream.selector?.value ?? ''} ${resource}`);
      await Promise.resolve();
      return make(resource, upstream.selector?.value);
    },
  };
  const servicePrincipals: TokenSource<ServicePrincipalUpstream> = {
    getToken: async ({ upstream, resource }) => {
      calls.push(`sp ${upstream.identity.metadata.name ?? ''}@${upstream.tenantId} ${resource}`);
      await Promise.resolve();
      return make(resource, upstream.identity.spec.clientID);
    },
  };
  const upstreams = new UpstreamRouter([route(IMDS_IDENTITIES, new LimitedTokenSource(imds, new UpstreamLimiter({ clock }))), route(SERVICE_PRINCIPAL_IDENTITIES, servicePrincipals)]);
  const tokens = new TokenService({ cache: new CachingTokenSource(upstreams, { clock }), upstreams });
  return { tokens, calls };
}

const sp = (aux: string[]): AzureIdentity =>
  ({ apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentity', metadata: { name: 'sp', namespace: 'ns' }, spec: { type: 1, clientID: 'app', tenantID: 'T1', auxiliaryTenantIDs: aux } });
const msi = (name: string, spec: { clientID?: string; resourceID?: string }): AzureIdentity =>
  ({ apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentity', metadata: { name, namespace: 'ns' }, spec: { type: 0, ...spec } });

describe('TokenService', () => {
  it('keys are canonical: client IDs compare case-insensitively, resources exactly', () => {
    expect(imdsUpstream({ kind: 'client_id', value: 'ABC' }).id).toBe(imdsUpstream({ kind: 'client_id', value: 'abc' }).id);
    expect(imdsUpstream(undefined).id).toBe('node:system');
    expect(servicePrincipalUpstream(sp([]), 'T1').id).toBe('sp:ns/sp@t1');
  });

  it('coalesces concurrent misses into one upstream call and serves later requests from the cache', async () => {
    const clock = new ManualClock(1_000_000);
    const { tokens, calls } = service(clock);
    const selector = { kind: 'client_id' as const, value: 'c1' };
    const results = await Promise.all(Array.from({ length: 50 }, () => tokens.serve(imdsUpstream(selector), 'https://r', undefined)));
    expect(calls).toEqual(['imds client_id=c1 https://r']);
    expect(new Set(results.map((result) => result.token.accessToken)).size).toBe(1);
    const again = await tokens.serve(imdsUpstream({ kind: 'client_id', value: 'C1' }), 'https://r');
    expect(again.cacheHit).toBe(true);
    expect(calls).toHaveLength(1);
    // Another resource is another token.
    await tokens.serve(imdsUpstream(selector), 'https://r/');
    expect(calls).toHaveLength(2);
  });

  it('drops an identity’s tokens when it changes (by name or by client ID), and only its tokens', async () => {
    const clock = new ManualClock(1_000_000);
    const { tokens, calls } = service(clock);
    const owner = { namespace: 'ns', name: 'id1', clientId: 'C1' };
    await tokens.serve(imdsUpstream({ kind: 'client_id', value: 'c1' }), 'r', undefined, owner);
    await tokens.serve(imdsUpstream({ kind: 'client_id', value: 'c2' }), 'r', undefined, { namespace: 'ns', name: 'id2', clientId: 'c2' });
    tokens.invalidate({ namespace: 'other', name: 'x', clientId: 'c1' });
    const refetched = await tokens.serve(imdsUpstream({ kind: 'client_id', value: 'c1' }), 'r', undefined, owner);
    expect(refetched.cacheHit).toBe(false);
    expect((await tokens.serve(imdsUpstream({ kind: 'client_id', value: 'c2' }), 'r')).cacheHit).toBe(true);
    expect(calls).toHaveLength(3);
  });

  it('asks IMDS for a type-0 identity by client ID, else by resource ID, and owns the token under the identity', async () => {
    const clock = new ManualClock(1_000_000);
    const { tokens, calls } = service(clock);
    await tokens.forIdentity(msi('a', { clientID: 'C-A', resourceID: '/sub/a' }), 'r');
    await tokens.forIdentity(msi('b', { resourceID: '/sub/b' }), 'r');
    expect(calls).toEqual(['imds client_id=C-A r', 'imds resource_id=/sub/b r']);
    tokens.invalidate({ namespace: 'ns', name: 'b', clientId: undefined });
    expect((await tokens.forIdentity(msi('a', { clientID: 'C-A' }), 'r'))[0]?.cacheHit).toBe(true);
    expect((await tokens.forIdentity(msi('b', { resourceID: '/sub/b' }), 'r'))[0]?.cacheHit).toBe(false);
  });

  it('follows an identity replaced by the view (a new object), and reuses what it worked out for the same object', async () => {
    const clock = new ManualClock(1_000_000);
    const { tokens, calls } = service(clock);
    const before = msi('a', { clientID: 'c-old' });
    await tokens.forIdentity(before, 'r');
    expect((await tokens.forIdentity(before, 'r'))[0]?.cacheHit).toBe(true);
    await tokens.forIdentity(msi('a', { clientID: 'c-new' }), 'r');
    expect(calls).toEqual(['imds client_id=c-old r', 'imds client_id=c-new r']);
  });

  it('asks Entra once per tenant for a service principal with auxiliary tenants, primary first', async () => {
    const clock = new ManualClock(1_000_000);
    const { tokens, calls } = service(clock);
    const served = await tokens.forIdentity(sp(['T2', 'T3']), 'r');
    expect(served).toHaveLength(3);
    expect(calls).toEqual(['sp sp@T1 r', 'sp sp@T2 r', 'sp sp@T3 r']);
    tokens.invalidate({ namespace: 'ns', name: 'sp', clientId: 'app' });
    await tokens.forIdentity(sp(['T2', 'T3']), 'r');
    expect(calls).toHaveLength(6);
  });
});

describe('TokenService.cachedForIdentity (the synchronous hit)', () => {
  it('answers only what the cache holds, counts it as a hit, and is dropped with the identity like any token', async () => {
    const clock = new ManualClock(1_000_000);
    const { tokens, calls } = service(clock);
    const identity = msi('a', { clientID: 'C-A' });
    expect(tokens.cachedForIdentity(identity, 'r')).toBeUndefined();
    expect(tokens.stats().hits).toBe(0);
    const [fetched] = await tokens.forIdentity(identity, 'r');
    const cached = tokens.cachedForIdentity(identity, 'r');
    expect(cached).toEqual([{ token: fetched?.token, cacheHit: true }]);
    expect(tokens.stats().hits).toBe(1);
    expect(tokens.cachedForIdentity(identity, 'other-resource')).toBeUndefined();
    tokens.invalidate({ namespace: 'ns', name: 'a', clientId: 'C-A' });
    expect(tokens.cachedForIdentity(identity, 'r')).toBeUndefined();
    expect(calls).toEqual(['imds client_id=C-A r']);
  });

  it('leaves identities with several upstreams (auxiliary tenants) to forIdentity', async () => {
    const clock = new ManualClock(1_000_000);
    const { tokens } = service(clock);
    await tokens.forIdentity(sp(['T2']), 'r');
    expect(tokens.cachedForIdentity(sp(['T2']), 'r')).toBeUndefined();
    expect(tokens.cachedForIdentity(sp([]), 'r')?.[0]?.cacheHit).toBe(true);
  });

  it('does not answer a token too close to its expiry: forIdentity fetches a new one', async () => {
    const clock = new ManualClock(1_000_000);
    const { tokens, calls } = service(clock);
    const identity = msi('a', { clientID: 'C-A' });
    await tokens.forIdentity(identity, 'r');
    await clock.advance(24 * HOUR - 30_000);
    expect(tokens.cachedForIdentity(identity, 'r')).toBeUndefined();
    await tokens.forIdentity(identity, 'r');
    expect(calls).toHaveLength(2);
  });
});

describe('UpstreamRouter', () => {
  it('refuses a key of a kind no route serves, and two routes for one kind or type', async () => {
    const router = new UpstreamRouter([]);
    await expect(router.getToken({ upstream: imdsUpstream(undefined), resource: 'r' })).rejects.toThrow(/no token source for upstream kind imds/);
    expect(() => router.upstreamsOf(sp([]))).toThrow(/type 1/);
    const never: TokenSource<ImdsUpstream> = { getToken: () => Promise.reject(new Error('unused')) };
    expect(() => new UpstreamRouter([route(IMDS_IDENTITIES, never), route(IMDS_IDENTITIES, never)])).toThrow(/two token sources/);
  });
});

describe('MeasuredTokenSource', () => {
  it('observes each upstream call with upstream’s operation label, and whether it failed', async () => {
    const clock = new ManualClock(1_000_000);
    const observed: [ImdsOperation, number, boolean][] = [];
    const metrics = { observeUpstream: (operation: ImdsOperation, seconds: number, failed: boolean) => { observed.push([operation, seconds, failed]); } };
    const inner: TokenSource<ImdsUpstream> = {
      getToken: async ({ upstream, resource }) => {
        await clock.advance(250);
        if (upstream.selector?.value === 'bad') throw new Error('refused');
        return { accessToken: 't', expiresOnMs: clock.now() + HOUR, resource };
      },
    };
    const measured = new MeasuredTokenSource(inner, { metrics, clock, operationOf: imdsOperation });
    await measured.getToken({ upstream: imdsUpstream(undefined), resource: 'r' });
    await measured.getToken({ upstream: imdsUpstream({ kind: 'client_id', value: 'c' }), resource: 'r' });
    await expect(measured.getToken({ upstream: imdsUpstream({ kind: 'client_id', value: 'bad' }), resource: 'r' })).rejects.toThrow('refused');
    expect(observed).toEqual([
      ['adal_token_msi', 0.25, false],
      ['adal_token_msi_userassignedid', 0.25, false],
      ['adal_token_msi_userassignedid', 0.25, true],
    ]);
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
