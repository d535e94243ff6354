import { describe, expect, it } from 'vitest';
import { canonicalIp, matchPodByIp, PodAddressIndex, projectNodePod, type NodePod } from '../../../../src/nmi/identity/pods.ts';

function raw(name: string, ip: string | string[], extra: { phase?: string; hostNetwork?: boolean; owner?: string; deleting?: boolean } = {}): unknown {
  const ips = Array.isArray(ip) ? ip : [ip];
  return {
    metadata: {
      name,
      namespace: 'ns',
      uid: `uid-${name}`,
      resourceVersion: '1',
      labels: { aadpodidbinding: 'sel' },
      ownerReferences: extra.owner === undefined ? [] : [{ kind: 'ReplicaSet', name: extra.owner, controller: true }],
      ...(extra.deleting === true ? { deletionTimestamp: '2026-11-22T22:00:00Z' } : {}),
    },
    spec: { hostNetwork: extra.hostNetwork ?? false },
    status: { phase: extra.phase ?? 'Running', podIP: ips[0], podIPs: ips.map((value) => ({ ip: value })) },
  };
}

const pod = (...args: Parameters<typeof raw>): NodePod => projectNodePod(raw(...args)) as NodePod;

describe('pods by address', () => {
  it('projects every podIPs address (IPv6 lower-cased) and the owning ReplicaSet', () => {
    const projected = pod('a', ['10.0.0.5', 'FD00::5'], { owner: 'mic-7f9' });
    expect(projected.ips).toEqual(['10.0.0.5', 'fd00::5']);
    expect(projected.replicaSet).toBe('mic-7f9');
    expect(projectNodePod({ metadata: {} })).toBeUndefined();
  });

  it('maps an IPv4 client on a dual-stack socket to its IPv4 address', () => {
    expect(canonicalIp('::ffff:10.0.0.5')).toBe('10.0.0.5');
    expect(canonicalIp('FD00::1')).toBe('fd00::1');
  });

  it('matches only Pending/Running pods that are not hostNetwork; refuses ambiguity', () => {
    const pods = [pod('a', '10.0.0.5'), pod('done', '10.0.0.6', { phase: 'Succeeded' }), pod('host', '10.240.0.4', { hostNetwork: true }), pod('b', '10.0.0.7'), pod('b2', '10.0.0.7', { phase: 'Pending' })];
    expect(matchPodByIp('10.0.0.5', pods)).toMatchObject({ kind: 'pod', pod: { name: 'a' } });
    expect(matchPodByIp('10.0.0.6', pods)).toEqual({ kind: 'unknown' });
    expect(matchPodByIp('10.240.0.4', pods)).toEqual({ kind: 'unknown' });
    expect(matchPodByIp('10.0.0.7', pods)).toEqual({ kind: 'ambiguous', count: 2 });
    expect(matchPodByIp('::ffff:10.0.0.5', pods).kind).toBe('pod');
  });

  it('keeps the index right through updates (address change) and deletes', () => {
    const index = new PodAddressIndex();
    const first = pod('a', '10.0.0.5');
    index.apply('add', first, undefined);
    expect(index.lookup('10.0.0.5').kind).toBe('pod');
    const moved = pod('a', '10.0.0.9');
    index.apply('update', moved, first);
    expect(index.lookup('10.0.0.5').kind).toBe('unknown');
    expect(index.lookup('10.0.0.9').kind).toBe('pod');
    index.apply('delete', moved, undefined);
    expect(index.lookup('10.0.0.9').kind).toBe('unknown');
    expect(index.size).toBe(0);
  });

  it('never serves a pod being deleted: its address may already be a new pod’s (IP reuse)', () => {
    const old = pod('old', '10.0.0.5', { deleting: true });
    expect(old.terminating).toBe(true);
    expect(pod('a', '10.0.0.5').terminating).toBe(false);
    expect(matchPodByIp('10.0.0.5', [old])).toMatchObject({ kind: 'terminating', pod: { name: 'old' } });
    // The old pod and the new one on one address: neither is served.
    expect(matchPodByIp('10.0.0.5', [old, pod('new', '10.0.0.5')])).toEqual({ kind: 'ambiguous', count: 2 });
    // Once the old pod is gone, the new one is.
    const index = new PodAddressIndex();
    index.apply('add', pod('old', '10.0.0.5'), undefined);
    index.apply('update', old, pod('old', '10.0.0.5'));
    expect(index.lookup('10.0.0.5').kind).toBe('terminating');
    index.apply('add', pod('new', '10.0.0.5'), undefined);
    expect(index.lookup('10.0.0.5').kind).toBe('ambiguous');
    index.apply('delete', old, undefined);
    expect(index.lookup('10.0.0.5')).toMatchObject({ kind: 'pod', pod: { name: 'new' } });
  });
});
