/** The soak suite's pure parts: the flatness rule over resource samples and the verdict on a token answer. */
import { describe, expect, it } from 'vitest';
import { flatness, median, type ResourceSample } from '../../reliability/soak-sampler.ts';
import { judge, type SoakIdentity, type SoakPod } from '../../reliability/soak-traffic.ts';

const series = (rss: readonly number[], fds = 30): ResourceSample[] => rss.map((rssMb, index) => ({ atMs: index * 1000, rssMb, fds, heapUsedMb: 30, handles: 8, heapTotalMb: 40, externalMb: 2 }));

describe('flatness', () => {
  it('compares the median of the last quarter with the second quarter (the first is warm-up)', () => {
    // Warm-up from 40 to 100 MB is ignored; then flat with a GC spike.
    const flat = flatness(series([40, 60, 80, 100, 100, 101, 160, 100, 101, 100, 102, 101]));
    expect(flat.find((result) => result.field === 'rssMb')).toMatchObject({ baseline: 100, end: 101, breached: false });
  });

  it('breaches RSS beyond max(20 MB, 25 %), fds beyond +20, and says nothing on too few samples', () => {
    const grown = flatness(series([100, 100, 100, 100, 100, 100, 110, 120, 126, 126, 126, 126]));
    expect(grown.find((result) => result.field === 'rssMb')).toMatchObject({ baseline: 100, end: 126, allowed: 25, breached: true });
    const big = flatness(series([400, 400, 400, 400, 400, 400, 440, 440, 440, 440, 440, 440]));
    expect(big.find((result) => result.field === 'rssMb')?.breached).toBe(false);
    const fds = flatness([...series([100, 100, 100, 100, 100, 100], 30), ...series([100, 100, 100, 100, 100, 100], 51)]);
    expect(fds.find((result) => result.field === 'fds')).toMatchObject({ baseline: 30, end: 51, breached: true });
    expect(flatness(series([1, 2, 3]))).toEqual([]);
  });

  it('ignores missed scrapes (NaN) in medians', () => {
    expect(median([Number.NaN, 3, 1, 2])).toBe(2);
    expect(median([Number.NaN])).toBeNaN();
  });
});

const identity: SoakIdentity = { name: 'id-0', selector: 'soak-0', id: '/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-0', clientId: 'client-0', assignable: true };
const pod = (overrides: Partial<Pick<SoakPod, 'deletedAt' | 'served'>> & { identity?: SoakIdentity | undefined } = {}): SoakPod => ({
  name: 'churn-1', node: 'n', ip: '127.30.0.2', identity: 'identity' in overrides ? overrides.identity : identity, ipAt: 0, deletedAt: overrides.deletedAt, served: overrides.served ?? false,
});
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const token = (claims: Record<string, string>): string => JSON.stringify({ access_token: `${b64({ alg: 'none' })}.${b64(claims)}.` });

describe('judge', () => {
  it("counts a bound pod's own token as served and any other identity as a breach", () => {
    const own = pod();
    expect(judge('bound', own, { status: 200, body: token({ appid: 'client-0', xms_mirid: identity.id.toLowerCase() }) })).toEqual({ outcome: 'success', count: 'tokensServed' });
    expect(own.served).toBe(true);
    expect(judge('bound', pod(), { status: 200, body: token({ appid: 'client-9', xms_mirid: '/x' }) })).toMatchObject({ outcome: 'breach', count: 'wrongIdentityTokens' });
  });

  it('expects refusals for unbound and deleted pods; a token there is a breach', () => {
    const unbound = pod({ identity: undefined });
    expect(judge('unbound', unbound, { status: 404, body: '{}' })).toMatchObject({ outcome: 'success', count: 'unboundRefused' });
    expect(judge('unbound', unbound, { status: 200, body: token({ appid: 'client-0' }) })).toMatchObject({ outcome: 'breach', count: 'tokensToRefusedPods' });
    expect(judge('deleted', pod({ deletedAt: 1 }), { status: 500, body: '{}' })).toMatchObject({ outcome: 'success', count: 'deletedRefused' });
  });

  it('treats a refusal of a live pod served before as a breach, but not a 429 or a refusal while it is deleted', () => {
    expect(judge('bound', pod({ served: true }), { status: 404, body: '{"error":"identity_not_found"}' })).toMatchObject({ outcome: 'breach', count: 'servedPodRefused' });
    expect(judge('bound', pod({ served: true }), { status: 429, body: '{}' })).toMatchObject({ outcome: 'error', count: 'rateLimited' });
    expect(judge('bound', pod({ served: true, deletedAt: 5 }), { status: 404, body: '{}' })).toMatchObject({ outcome: 'error', count: 'boundRefusedWhileDeleted' });
    expect(judge('bound', pod(), { status: 404, body: '{}' })).toMatchObject({ outcome: 'error', count: 'firstTokenRefused404' });
  });
});
