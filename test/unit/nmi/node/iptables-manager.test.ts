import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../support/manual-clock.ts';
import { ConntrackError, execConntrack, execConntrackReversePickups } from '../../../../src/nmi/node/iptables/conntrack.ts';
import { execIptables, IptablesError, type IptablesRunner } from '../../../../src/nmi/node/iptables/iptables.ts';
import { cleanupIptables, IptablesManager, type IptablesManagerOptions } from '../../../../src/nmi/node/iptables/manager.ts';
import { expectedChainRules, expectedGuardRules, type IptablesCommand, type IptablesConfig } from '../../../../src/nmi/node/iptables/rules.ts';

const config: IptablesConfig = { chain: 'aad-metadata', metadataIp: '169.254.169.254', metadataPort: 80, targetIp: '10.244.1.1', targetPort: 2579 };
const logger = pino({ level: 'silent' });

/** An in-memory nat table that understands the commands the planner emits, applied all-or-nothing. */
class FakeNat implements IptablesRunner {
  chains = new Map<string, string[]>([['PREROUTING', ['-A PREROUTING -j KUBE-SERVICES']]]);
  applied: IptablesCommand[][] = [];
  /** Errors thrown by the next syncs' reads (one per sync), and by the next applies. */
  failures: Error[] = [];
  applyFailures: Error[] = [];

  listChain(chain: string): Promise<string | undefined> {
    const failure = chain === 'PREROUTING' ? undefined : this.failures.shift();
    if (failure !== undefined) return Promise.reject(failure);
    const rules = this.chains.get(chain);
    if (rules === undefined) return Promise.resolve(undefined);
    const head = chain === 'PREROUTING' ? '-P PREROUTING ACCEPT' : `-N ${chain}`;
    return Promise.resolve([head, ...rules].join('\n') + '\n');
  }

  apply(commands: readonly IptablesCommand[]): Promise<void> {
    if (commands.length === 0) return Promise.resolve();
    const failure = this.applyFailures.shift();
    if (failure !== undefined) return Promise.reject(failure);
    const next = new Map([...this.chains].map(([name, rules]) => [name, [...rules]]));
    for (const [op, chain, ...rest] of commands) {
      const rules = next.get(chain ?? '');
      if (op === '-N') next.set(chain!, []);
      else if (rules === undefined) return Promise.reject(new Error(`no chain ${chain}`));
      else if (op === '-F') rules.length = 0;
      else if (op === '-X') next.delete(chain!);
      else if (op === '-A') rules.push(`-A ${chain} ${rest.join(' ')}`);
      else if (op === '-I') rules.splice(Number(rest[0]) - 1, 0, `-A ${chain} ${rest.slice(1).join(' ')}`);
      else if (op === '-D') {
        const index = rules.indexOf(`-A ${chain} ${rest.join(' ')}`);
        if (index < 0) return Promise.reject(new Error('Bad rule'));
        rules.splice(index, 1);
      }
    }
    this.chains = next;
    this.applied.push([...commands]);
    return Promise.resolve();
  }

  installedCorrectly(): boolean {
    const chain = this.chains.get('aad-metadata');
    const prerouting = this.chains.get('PREROUTING') ?? [];
    return (
      chain !== undefined &&
      [`-N aad-metadata`, ...chain].join('\n') === expectedChainRules(config).join('\n') &&
      prerouting[0] === '-A PREROUTING -j aad-metadata' &&
      prerouting.filter((rule) => rule === '-A PREROUTING -j aad-metadata').length === 1
    );
  }
}

function setup(overrides: Partial<IptablesManagerOptions> = {}, nat = new FakeNat()) {
  const clock = new ManualClock();
  const events: string[] = [];
  const conntrackCalls: string[] = [];
  const manager = new IptablesManager({
    config,
    runner: nat,
    logger,
    clock,
    intervalMs: 5_000,
    backoff: { baseMs: 100, maxMs: 1_000, jitter: 0 },
    conntrack: (ip, port) => {
      conntrackCalls.push(`${ip}:${port}`);
      return Promise.resolve(1);
    },
    onSynced: () => events.push('synced'),
    onRestored: (reason) => events.push(`restored: ${reason}`),
    onError: (error) => events.push(`error: ${error instanceof Error ? error.message : String(error)}`),
    ...overrides,
  });
  const controller = new AbortController();
  const done = manager.run(controller.signal);
  return { nat, clock, events, conntrackCalls, manager, controller, done };
}

const lockHeld = (): IptablesError =>
  new IptablesError({ argv: ['iptables', '-S'], exitCode: 4, stderr: 'Another app is currently holding the xtables lock.' });

describe('IptablesManager', () => {
  it('installs at once, flushes conntrack once, then re-checks every interval without changes', async () => {
    const { nat, clock, events, conntrackCalls, controller, done } = setup();
    await clock.advance(0);
    expect(nat.installedCorrectly()).toBe(true);
    expect(events).toEqual(['synced']);
    expect(conntrackCalls).toEqual(['169.254.169.254:80']);
    await clock.advance(15_000);
    expect(events).toEqual(['synced', 'synced', 'synced', 'synced']);
    expect(nat.applied).toHaveLength(1);
    expect(conntrackCalls).toHaveLength(1);
    controller.abort();
    await done;
  });

  it('restores drift at the next check and reports it', async () => {
    const { nat, clock, events, conntrackCalls, controller, done } = setup();
    await clock.advance(0);
    nat.chains.set('aad-metadata', []);
    nat.chains.get('PREROUTING')?.splice(0, 1); // jump deleted
    await clock.advance(4_999);
    expect(nat.installedCorrectly()).toBe(false);
    await clock.advance(1);
    expect(nat.installedCorrectly()).toBe(true);
    expect(events).toEqual([
      'synced',
      'restored: chain aad-metadata content differs (0 rules, expected 2); jump to aad-metadata missing from PREROUTING',
      'synced',
    ]);
    // Flows opened while the rule was missing are cut so they get re-evaluated.
    expect(conntrackCalls).toHaveLength(2);
    controller.abort();
    await done;
  });

  it('moves the jump back to first and removes duplicates', async () => {
    const { nat, clock, events, controller, done } = setup();
    await clock.advance(0);
    nat.chains.get('PREROUTING')?.unshift('-A PREROUTING -s 192.0.2.1/32 -j ACCEPT');
    nat.chains.get('PREROUTING')?.push('-A PREROUTING -j aad-metadata');
    await clock.advance(5_000);
    expect(nat.installedCorrectly()).toBe(true);
    expect(nat.chains.get('PREROUTING')).toEqual(['-A PREROUTING -j aad-metadata', '-A PREROUTING -s 192.0.2.1/32 -j ACCEPT', '-A PREROUTING -j KUBE-SERVICES']);
    expect(events[1]).toBe('restored: jump to aad-metadata is rule 2 of PREROUTING, not 1; 2 jumps to aad-metadata in PREROUTING');
    controller.abort();
    await done;
  });

  it('retries failures with backoff and never gives up', async () => {
    const failing = new FakeNat();
    failing.failures.push(lockHeld(), lockHeld());
    failing.applyFailures.push(new Error('something else'));
    const { nat, clock, events, controller, done } = setup({}, failing);
    await clock.advance(0);
    expect(events).toEqual([expect.stringMatching(/^error: .*xtables lock/)]);
    expect(nat.installedCorrectly()).toBe(false);
    await clock.advance(100); // 1st retry after 100 ms
    expect(events).toHaveLength(2);
    await clock.advance(199);
    expect(events).toHaveLength(2);
    await clock.advance(1); // 2nd retry after 200 ms
    expect(events[2]).toBe('error: something else');
    await clock.advance(400);
    expect(events[3]).toBe('synced');
    expect(nat.installedCorrectly()).toBe(true);
    // A later failure starts again from the base delay.
    nat.failures.push(lockHeld());
    await clock.advance(5_000);
    expect(events[4]).toMatch(/^error:/);
    await clock.advance(100);
    expect(events[5]).toBe('synced');
    controller.abort();
    await done;
  });

  it('retries a failed conntrack flush without reapplying rules', async () => {
    let calls = 0;
    const { nat, clock, events, controller, done } = setup({
      conntrack: () => (++calls === 1 ? Promise.reject(new ConntrackError(['conntrack'], 2, 'boom')) : Promise.resolve(0)),
    });
    await clock.advance(0);
    expect(events).toEqual([expect.stringMatching(/^error: conntrack exited 2/)]);
    await clock.advance(100);
    expect(events[1]).toBe('synced');
    expect(calls).toBe(2);
    expect(nat.applied).toHaveLength(1);
    controller.abort();
    await done;
  });

  it('does not flush conntrack when told not to, nor when the rules were already there', async () => {
    const first = setup({ flushConntrack: false, conntrack: undefined });
    await first.clock.advance(0);
    expect(first.nat.installedCorrectly()).toBe(true);
    first.controller.abort();
    await first.done;

    const second = setup({}, first.nat);
    first.nat.applied = [];
    await second.clock.advance(0);
    expect(second.conntrackCalls).toEqual([]);
    expect(second.nat.applied).toEqual([]);
    second.controller.abort();
    await second.done;
  });

  it('is fail-closed: stopping leaves every rule in place', async () => {
    const { nat, clock, controller, done } = setup();
    await clock.advance(0);
    controller.abort();
    await done;
    expect(nat.installedCorrectly()).toBe(true);
    expect(nat.applied).toHaveLength(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('stops during a backoff wait too', async () => {
    const failing = new FakeNat();
    failing.failures.push(lockHeld());
    const { clock, events, controller, done } = setup({}, failing);
    await clock.advance(0);
    expect(events).toHaveLength(1);
    controller.abort();
    await done;
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects bad configuration at construction', () => {
    expect(() => new IptablesManager({ config: { ...config, targetIp: 'nmi' }, runner: new FakeNat(), logger, flushConntrack: false })).toThrow(/IPv4/);
    expect(() => new IptablesManager({ config, runner: new FakeNat(), logger })).toThrow(/conntrack flusher/);
    expect(() => new IptablesManager({ config, runner: new FakeNat(), logger, flushConntrack: false, intervalMs: 0 })).toThrow(RangeError);
  });
});

describe('cleanupIptables', () => {
  it('removes jumps and chain in one transaction, and is a no-op when nothing is installed', async () => {
    const nat = new FakeNat();
    const manager = new IptablesManager({ config, runner: nat, logger, flushConntrack: false });
    await manager.syncOnce();
    nat.chains.get('PREROUTING')?.push('-A PREROUTING -j aad-metadata');
    const commands = await cleanupIptables(config, nat, logger);
    expect(commands.map((c) => c.join(' '))).toEqual(['-D PREROUTING -j aad-metadata', '-D PREROUTING -j aad-metadata', '-F aad-metadata', '-X aad-metadata']);
    expect(nat.chains.get('aad-metadata')).toBeUndefined();
    expect(nat.chains.get('PREROUTING')).toEqual(['-A PREROUTING -j KUBE-SERVICES']);
    expect(await cleanupIptables(config, nat)).toEqual([]);
    expect(nat.applied).toHaveLength(2);
  });
});

describe('IptablesManager with the filter-table guard', () => {
  const guarded: IptablesConfig = { ...config, guardChain: 'aad-metadata-guard' };

  /** The nat fake for nat, a second one (INPUT/FORWARD) for filter. */
  function tables(): { nat: FakeNat; filter: FakeNat; runner: IptablesRunner } {
    const nat = new FakeNat();
    const filter = new FakeNat();
    filter.chains = new Map([['INPUT', []], ['FORWARD', ['-A FORWARD -j KUBE-FORWARD']]]);
    const pick = (table: string | undefined): FakeNat => (table === 'filter' ? filter : nat);
    return { nat, filter, runner: { listChain: (chain, table) => pick(table).listChain(chain), apply: (commands, table) => pick(table).apply(commands) } };
  }

  it('installs the redirect first, then the guard; restores a deleted guard jump; cleanup removes both', async () => {
    const { nat, filter, runner } = tables();
    const { clock, events, controller, done } = setup({ config: guarded, runner }, nat);
    await clock.advance(0);
    expect(nat.installedCorrectly()).toBe(true);
    expect(filter.chains.get('aad-metadata-guard')).toEqual(expectedGuardRules({ ...guarded, guardChain: 'aad-metadata-guard' }).slice(1));
    expect(filter.chains.get('INPUT')).toEqual(['-A INPUT -j aad-metadata-guard']);
    expect(filter.chains.get('FORWARD')).toEqual(['-A FORWARD -j aad-metadata-guard', '-A FORWARD -j KUBE-FORWARD']);
    expect(nat.applied).toHaveLength(1);
    expect(filter.applied).toHaveLength(1);

    filter.chains.set('FORWARD', ['-A FORWARD -j KUBE-FORWARD']);
    await clock.advance(5_000);
    expect(events.at(-2)).toBe('restored: jump to aad-metadata-guard missing from FORWARD');
    expect(filter.chains.get('FORWARD')?.[0]).toBe('-A FORWARD -j aad-metadata-guard');
    controller.abort();
    await done;

    const removed = await cleanupIptables(guarded, runner);
    expect(removed.map((command) => command.join(' '))).toContain('-X aad-metadata-guard');
    expect(filter.chains.has('aad-metadata-guard')).toBe(false);
    expect(filter.chains.get('FORWARD')).toEqual(['-A FORWARD -j KUBE-FORWARD']);
    expect(nat.chains.has('aad-metadata')).toBe(false);
  });
});

describe('real executors with a fake exec', () => {
  it('lists, treats a missing chain as undefined, and applies through iptables-restore', async () => {
    const calls: string[] = [];
    const runner = execIptables({
      exec: (file, args, input) => {
        calls.push([file, ...args].join(' ') + (input === undefined ? '' : ` <<${input}`));
        if (args.includes('missing')) return Promise.resolve({ code: 1, stdout: '', stderr: 'iptables: No chain/target/match by that name.\n' });
        if (args.includes('broken')) return Promise.resolve({ code: 4, stdout: '', stderr: 'Another app is currently holding the xtables lock.' });
        return Promise.resolve({ code: 0, stdout: '-N x\n', stderr: '' });
      },
    });
    expect(await runner.listChain('x')).toBe('-N x\n');
    expect(await runner.listChain('missing')).toBeUndefined();
    const error = await runner.listChain('broken').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IptablesError);
    expect((error as IptablesError).transient).toBe(true);
    expect((error as IptablesError).argv).toEqual(['iptables', '-w', '5', '-t', 'nat', '-S', 'broken']);
    await runner.apply([['-N', 'x']]);
    await runner.apply([]);
    expect(calls).toEqual([
      'iptables -w 5 -t nat -S x',
      'iptables -w 5 -t nat -S missing',
      'iptables -w 5 -t nat -S broken',
      'iptables-restore -w 5 --noflush <<*nat\n-N x\nCOMMIT\n',
    ]);
  });

  it('deletes flows picked up from IMDS’s side after every check; a failure there is only logged', async () => {
    const sweeps: string[] = [];
    let calls = 0;
    const { clock, events, controller, done } = setup({
      reversePickups: (ip, port) => {
        sweeps.push(`${ip}:${port}`);
        return ++calls === 2 ? Promise.reject(new ConntrackError(['conntrack'], 2, 'boom')) : Promise.resolve(0);
      },
    });
    await clock.advance(0);
    await clock.advance(10_000);
    expect(sweeps).toEqual(['169.254.169.254:80', '169.254.169.254:80', '169.254.169.254:80']);
    expect(events).toEqual(['synced', 'synced', 'synced']);
    controller.abort();
    await done;
    let args: readonly string[] = [];
    await execConntrackReversePickups({ exec: (_file, argv) => { args = argv; return Promise.resolve({ code: 1, stdout: '', stderr: '0 flow entries have been deleted.' }); } })('169.254.169.254', 80);
    expect(args).toEqual(['-D', '-p', 'tcp', '--orig-src', '169.254.169.254', '--sport', '80']);
  });

  it('conntrack: "0 flow entries" with exit 1 is success, other failures are errors', async () => {
    const flush = (code: number, stderr: string) =>
      execConntrack({ exec: () => Promise.resolve({ code, stdout: '', stderr }) })('169.254.169.254', 80);
    expect(await flush(1, 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n')).toBe(0);
    expect(await flush(0, 'conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted.\n')).toBe(3);
    await expect(flush(1, 'conntrack v1.4.7 (conntrack-tools): Operation failed: invalid parameters')).rejects.toBeInstanceOf(ConntrackError);
    // Only flows IMDS itself answers: one DNATed to an NMI (ours or upstream's) is kept.
    let args: readonly string[] = [];
    await execConntrack({ exec: (_file, argv) => { args = argv; return Promise.resolve({ code: 1, stdout: '', stderr: '0 flow entries have been deleted.' }); } })('169.254.169.254', 80);
    expect(args).toEqual(['-D', '-p', 'tcp', '--orig-dst', '169.254.169.254', '--dport', '80', '--reply-src', '169.254.169.254']);
  });
});

describe('migration chains', () => {
  const upstreamDnat = '-A aad-metadata ! -s 127.0.0.1/32 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 127.0.0.1:2579';

  it('beside upstream’s NMI: our chain goes first and upstream’s aad-metadata is left alone, so its removal changes nothing for us', async () => {
    const nat = new FakeNat();
    nat.chains.set('aad-metadata', [upstreamDnat, '-A aad-metadata -j RETURN']);
    nat.chains.set('PREROUTING', ['-A PREROUTING -j aad-metadata', '-A PREROUTING -j KUBE-SERVICES']);
    const ours = { ...config, chain: 'pod-identity-metadata' };
    const manager = new IptablesManager({ config: ours, runner: nat, logger, flushConntrack: false });
    await manager.syncOnce();
    expect(nat.chains.get('PREROUTING')).toEqual(['-A PREROUTING -j pod-identity-metadata', '-A PREROUTING -j aad-metadata', '-A PREROUTING -j KUBE-SERVICES']);
    expect(nat.chains.get('aad-metadata')).toEqual([upstreamDnat, '-A aad-metadata -j RETURN']);
    // Upstream's NMI stops: it deletes its jump, flushes and deletes its chain.
    await nat.apply([['-D', 'PREROUTING', '-j', 'aad-metadata'], ['-F', 'aad-metadata'], ['-X', 'aad-metadata']]);
    const after = await manager.syncOnce();
    expect(after.commands).toEqual([]);
    expect(nat.chains.get('PREROUTING')?.[0]).toBe('-A PREROUTING -j pod-identity-metadata');
  });

  it('back on aad-metadata: the retired migration chain and its jump are removed once ours is first', async () => {
    const nat = new FakeNat();
    nat.chains.set('pod-identity-metadata', ['-A pod-identity-metadata ! -s 127.0.0.1/32 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.1:2580', '-A pod-identity-metadata -j RETURN']);
    nat.chains.set('PREROUTING', ['-A PREROUTING -j pod-identity-metadata', '-A PREROUTING -j KUBE-SERVICES']);
    const manager = new IptablesManager({ config: { ...config, retiredChains: ['pod-identity-metadata'] }, runner: nat, logger, flushConntrack: false });
    const result = await manager.syncOnce();
    expect(result.reasons).toContain('retired chain pod-identity-metadata removed');
    expect(nat.installedCorrectly()).toBe(true);
    expect(nat.chains.has('pod-identity-metadata')).toBe(false);
    expect(nat.chains.get('PREROUTING')).toEqual(['-A PREROUTING -j aad-metadata', '-A PREROUTING -j KUBE-SERVICES']);
    // Ours was inserted before the retired one was removed, in separate transactions: never no redirect.
    const order = nat.applied.map((commands) => commands.map((c) => c.join(' ')).join('; '));
    expect(order[0]).toContain('-I PREROUTING 1 -j aad-metadata');
    expect(order[1]).toContain('-X pod-identity-metadata');
    expect((await manager.syncOnce()).commands).toEqual([]);
  });

  it('uninstall removes a retired chain too', async () => {
    const nat = new FakeNat();
    nat.chains.set('pod-identity-metadata', ['-A pod-identity-metadata -j RETURN']);
    nat.chains.set('PREROUTING', ['-A PREROUTING -j pod-identity-metadata']);
    await cleanupIptables({ ...config, retiredChains: ['pod-identity-metadata'] }, nat);
    expect([...nat.chains.keys()]).toEqual(['PREROUTING']);
    expect(nat.chains.get('PREROUTING')).toEqual([]);
  });

  it('beside another redirect at start: ours goes in only once this NMI serves; nothing to wait for on a bare node', async () => {
    const nat = new FakeNat();
    nat.chains.set('aad-metadata', [upstreamDnat, '-A aad-metadata -j RETURN']);
    nat.chains.set('PREROUTING', ['-A PREROUTING -j aad-metadata', '-A PREROUTING -j KUBE-SERVICES']);
    nat.chains.set('KUBE-SERVICES', ['-A KUBE-SERVICES -d 10.0.0.1/32 -p tcp -m tcp --dport 443 -j KUBE-SVC-X']);
    const serving = Promise.withResolvers<undefined>();
    const ours = { ...config, chain: 'pod-identity-metadata' };
    const { clock, events, controller, done, manager } = setup({ config: ours, untilServing: () => serving.promise }, nat);
    expect(await manager.otherRedirects()).toEqual(['aad-metadata']);
    await clock.advance(10_000);
    // Not serving yet: upstream's redirect alone, untouched.
    expect(nat.applied).toEqual([]);
    expect(events).toEqual([]);
    serving.resolve(undefined);
    await clock.advance(0);
    expect(nat.chains.get('PREROUTING')).toEqual(['-A PREROUTING -j pod-identity-metadata', '-A PREROUTING -j aad-metadata', '-A PREROUTING -j KUBE-SERVICES']);
    expect(events).toEqual(['synced']);
    controller.abort();
    await done;

    // A bare node (kube-proxy's jump only) or our own chain left by the NMI before: installed at once, fail-closed.
    const never = new Promise<never>(() => undefined);
    const bare = setup({ untilServing: () => never });
    await bare.clock.advance(0);
    expect(bare.nat.installedCorrectly()).toBe(true);
    bare.controller.abort();
    await bare.done;
  });

  it('stops while waiting to serve without touching the rules', async () => {
    const nat = new FakeNat();
    nat.chains.set('aad-metadata', [upstreamDnat, '-A aad-metadata -j RETURN']);
    nat.chains.set('PREROUTING', ['-A PREROUTING -j aad-metadata']);
    const { controller, done, events } = setup({ config: { ...config, chain: 'pod-identity-metadata' }, untilServing: () => new Promise<never>(() => undefined) }, nat);
    await Promise.resolve();
    controller.abort();
    await done;
    expect(nat.applied).toEqual([]);
    expect(events).toEqual([]);
  });

  it('refuses a chain that is both used and retired', () => {
    expect(() => new IptablesManager({ config: { ...config, retiredChains: ['aad-metadata'] }, runner: new FakeNat(), logger, flushConntrack: false })).toThrow(/both used and retired/);
  });
});
