/**
 * TokenIssuer's audit: a cached token's record is written by a logger made once per identity, pod and
 * resource; the line must be the one the plain path writes.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { AzureAssignedIdentity } from '../../../../src/api/index.ts';
import { KeyedWaiter } from '../../../../src/lib/keyed-waiter.ts';
import { TokenIssuer } from '../../../../src/nmi/http/token-issuer.ts';
import { IdentityFinder, type FinderView } from '../../../../src/nmi/identity/identity-finder.ts';
import { projectNodePod, type NodePod } from '../../../../src/nmi/identity/pods.ts';
import { IMDS_IDENTITIES } from '../../../../src/nmi/tokens/imds-source.ts';
import { CachingTokenSource } from '../../../../src/nmi/tokens/token-cache.ts';
import { TokenService } from '../../../../src/nmi/tokens/token-service.ts';
import { route, UpstreamRouter } from '../../../../src/nmi/tokens/upstream-router.ts';
import { ManualClock } from '../../../support/manual-clock.ts';
import { assignedFrom, binding, identity } from '../../../support/mic-fixtures.ts';

function pod(uid = 'uid-1'): NodePod {
  const projected = projectNodePod({ metadata: { namespace: 'app', name: 'web', uid, resourceVersion: '1', labels: { aadpodidbinding: 'web' } }, status: { phase: 'Running', podIP: '10.0.0.5' } });
  if (projected === undefined) throw new Error('unreadable pod');
  return projected;
}

function aai(clientID: string): AzureAssignedIdentity {
  const id = identity('web-id', { namespace: 'app', clientID });
  return assignedFrom({ name: 'web-app-web-id', namespace: 'default', podName: 'web', podNamespace: 'app', podUid: 'uid-1', nodeName: 'n', identity: id, binding: binding('web-binding', 'web-id', 'web', 'app'), resourceIdKey: undefined }, 'Assigned');
}

function world() {
  const clock = new ManualClock(1_000_000);
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info', base: { component: 'nmi' }, timestamp: false }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>); } });
  const current = { assigned: [aai('client-a')] as readonly AzureAssignedIdentity[] };
  const view: FinderView = { pod: () => undefined, arrivedAt: () => undefined, assignedTo: () => current.assigned, exceptionsIn: () => [], bindingsIn: () => [], identitiesIn: () => [] };
  const finder = new IdentityFinder(view, new KeyedWaiter(clock), { mode: 'standard', namespaced: false, micNamespace: 'kube-system', retryAttemptsForCreated: 1, retryAttemptsForAssigned: 0, retryIntervalMs: 0, clock });
  let issued = 0;
  const upstreams = new UpstreamRouter([route(IMDS_IDENTITIES, { getToken: ({ resource, upstream }) => Promise.resolve({ accessToken: `t${String(++issued)}`, expiresOnMs: clock.now() + 3_600_000, resource, clientId: upstream.selector?.value }) })]);
  const tokens = new TokenService({ cache: new CachingTokenSource(upstreams, { clock }), upstreams });
  const issuer = new TokenIssuer({ finder, tokens, metrics: { observeDecision: () => undefined }, logger, clock, retryAfterSeconds: undefined });
  return { issuer, lines, current };
}

describe('TokenIssuer audit records', () => {
  it('writes the same record for every cache hit as for the miss, but cacheHit, and follows a changed identity', async () => {
    const { issuer, lines, current } = world();
    const web = pod();
    for (let request = 0; request < 3; request++) await issuer.issue(web, undefined, 'https://vault.azure.net', undefined);
    expect(lines).toHaveLength(3);
    const [miss, hit, again] = lines;
    expect(miss).toMatchObject({ level: 30, component: 'nmi', msg: 'token issued', audit: { podUid: 'uid-1', namespace: 'app', pod: 'web', identity: 'app/web-id', identityType: 0, clientId: 'client-a', resource: 'https://vault.azure.net', cacheHit: false, decision: 'issued', status: 200 } });
    expect(hit).toEqual({ ...miss, audit: { ...(miss?.['audit'] as object), cacheHit: true } });
    expect(again).toEqual(hit);
    expect(Object.keys(hit ?? {})).toEqual(Object.keys(miss ?? {}));

    await issuer.issue(web, undefined, 'https://storage.azure.com', undefined);
    await issuer.issue(web, undefined, 'https://storage.azure.com', undefined);
    expect(lines.at(-1)).toMatchObject({ audit: { resource: 'https://storage.azure.com', cacheHit: true } });

    current.assigned = [aai('client-b')];
    await issuer.issue(web, undefined, 'https://vault.azure.net', undefined);
    await issuer.issue(web, undefined, 'https://vault.azure.net', undefined);
    expect(lines.at(-1)).toMatchObject({ audit: { clientId: 'client-b', cacheHit: true } });
    await issuer.issue(pod('uid-2'), undefined, 'https://vault.azure.net', undefined);
    expect(lines.at(-1)).toMatchObject({ audit: { podUid: 'uid-2', clientId: 'client-b', cacheHit: true } });
  });
});
