/**
 * Why NMI sets net.ipv4.tcp_migrate_req for its handover: closing one of two SO_REUSEPORT listeners
 * resets the connections in its accept queue unless the sysctl hands them to the other listener. In a
 * network namespace of the test, NMI's own HttpServer is stopped beside a successor 40 times while
 * clients connect: with the sysctl off some connections are reset (the effect exists here), after
 * NMI's `ensureTcpMigrateReq` none is.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertNetnsPrerequisites, createTopology, nodeCommand, type NetnsTopology } from '../../src/devenv/netns.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/reuseport-close.ts', import.meta.url));

interface Outcome {
  readonly migrate?: { readonly state: string; readonly reason?: string };
  readonly closes: number;
  readonly ok: number;
  readonly errors: Record<string, number>;
}

let topo: NetnsTopology | undefined;

beforeAll(async () => {
  await assertNetnsPrerequisites();
  topo = await createTopology({ pods: 0 });
}, 60_000);

afterAll(async () => {
  await topo?.cleanup();
});

async function closeCycles(ensure: boolean): Promise<Outcome> {
  if (topo === undefined) throw new Error('no topology');
  const [file, args] = nodeCommand(FIXTURE, ensure ? ['--ensure'] : []);
  const out = await topo.execOk(topo.node, file, args, { timeoutMs: 120_000 });
  return JSON.parse(out.trim().split('\n').at(-1) ?? '') as Outcome;
}

describe('NMI handover: closing a listener beside its successor', () => {
  it('resets waiting connections with net.ipv4.tcp_migrate_req=0, none once NMI has set it', async () => {
    if (topo === undefined) throw new Error('no topology');
    await topo.execOk(topo.node, 'sysctl', ['-qw', 'net.ipv4.tcp_migrate_req=0']);
    const off = await closeCycles(false);
    const on = await closeCycles(true);
    console.log(`reuseport close: sysctl off ok=${String(off.ok)} errors=${JSON.stringify(off.errors)}; after ensureTcpMigrateReq (${String(on.migrate?.state)}) ok=${String(on.ok)} errors=${JSON.stringify(on.errors)}`);
    // The control: without the sysctl the effect shows, so the second count means something.
    expect(Object.values(off.errors).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(on.migrate?.state).toBe('turned-on');
    expect((await topo.execOk(topo.node, 'sysctl', ['-n', 'net.ipv4.tcp_migrate_req'])).trim()).toBe('1');
    expect(on.errors).toEqual({});
    expect(on.ok).toBeGreaterThan(100);
  }, 300_000);
});
