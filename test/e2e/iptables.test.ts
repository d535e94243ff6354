/**
 * NMI's iptables interception for real, in network namespaces (src/devenv/netns.ts): the manager runs
 * as a child process in the node namespace, pods connect to 169.254.169.254:80 from their own
 * namespaces, and TCP recorders stand in for NMI (at the DNAT target) and for the node's IMDS.
 */
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedChainRules, jumpPositions, type IptablesConfig } from '../../src/nmi/node/iptables/rules.ts';
import { runOk } from '../../src/devenv/exec.ts';
import { assertNetnsPrerequisites, createTopology, IMDS_IP, nodeCommand, waitForLogLine, type NetnsTopology, type PodNamespace, rootNamespaceSnapshot } from '../../src/devenv/netns.ts';
import type { ManagedProcess } from '../../src/devenv/process.ts';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const MANAGER = fixture('iptables-manager.ts');
const RECORDER = fixture('tcp-recorder.ts');
const PROBE = fixture('tcp-probe.ts');
const NMI_PORT = 2579;
const INTERVAL_MS = 2_000;

interface ProbeResult {
  readonly ok: boolean;
  readonly data?: string;
  readonly code?: string;
}

/** Polls `check` every 50 ms until it holds; returns the elapsed milliseconds (bounded). */
async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<number> {
  const started = performance.now();
  for (let attempt = 0; attempt < 1_000; attempt++) {
    if (await check()) return Math.round(performance.now() - started);
    if (performance.now() - started > timeoutMs) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

describe('NMI iptables interception in network namespaces', () => {
  let topo: NetnsTopology | undefined;
  let before: Awaited<ReturnType<typeof rootNamespaceSnapshot>>;
  let config: IptablesConfig;
  let nmi: ManagedProcess;
  let imds: ManagedProcess;
  let manager: ManagedProcess;

  const t = (): NetnsTopology => {
    if (topo === undefined) throw new Error('topology not created');
    return topo;
  };
  const pod = (i: number): PodNamespace => t().pods[i]!;
  const inNode = (file: string, args: readonly string[]): Promise<string> => t().execOk(t().node, file, args, { timeoutMs: 20_000 });
  const chainListing = async (): Promise<string | undefined> => {
    const result = await t().exec(t().node, 'iptables', ['-w', '5', '-t', 'nat', '-S', config.chain]);
    return result.code === 0 ? result.stdout : undefined;
  };
  const prerouting = (): Promise<string> => inNode('iptables', ['-w', '5', '-t', 'nat', '-S', 'PREROUTING']);
  const installed = async (): Promise<boolean> =>
    (await chainListing()) === expectedChainRules(config).join('\n') + '\n' && jumpPositions(config, await prerouting()).join() === '1';
  const probe = async (from: PodNamespace): Promise<ProbeResult> => {
    const [file, args] = nodeCommand(PROBE, ['--connect', `${IMDS_IP}:80`, '--timeout-ms', '3000']);
    return JSON.parse((await t().execOk(from.name, file, args, { timeoutMs: 20_000 })).trim()) as ProbeResult;
  };
  const connections = async (proc: ManagedProcess): Promise<string[]> => {
    const { readFile } = await import('node:fs/promises');
    return (await readFile(proc.logPath, 'utf8'))
      .split('\n')
      .filter((line) => line.includes('"event":"connection"'))
      .map((line) => (JSON.parse(line) as { remoteAddress: string }).remoteAddress);
  };
  const startManager = async (): Promise<ManagedProcess> => {
    const [file, args] = nodeCommand(MANAGER, ['--target-ip', config.targetIp, '--target-port', String(NMI_PORT), '--interval-ms', String(INTERVAL_MS)]);
    const proc = await t().start(t().node, 'iptables-manager', file, args);
    await waitForLogLine(proc, (line) => line.includes('"event":"synced"'), 30_000);
    return proc;
  };
  const startRecorder = async (name: string, listen: string): Promise<ManagedProcess> => {
    const [file, args] = nodeCommand(RECORDER, ['--listen', listen, '--name', name]);
    const proc = await t().start(t().node, name, file, args);
    await waitForLogLine(proc, (line) => line.includes('"event":"listening"'));
    return proc;
  };

  beforeAll(async () => {
    await assertNetnsPrerequisites();
    before = await rootNamespaceSnapshot();
    topo = await createTopology({ pods: 2 });
    // DNAT target: the node side of pod0's veth, not 127.0.0.1 (which would need route_localnet).
    config = { chain: 'aad-metadata', metadataIp: IMDS_IP, metadataPort: 80, targetIp: pod(0).gateway, targetPort: NMI_PORT };
    nmi = await startRecorder('nmi', `${config.targetIp}:${NMI_PORT}`);
    imds = await startRecorder('imds', `${IMDS_IP}:80`);
  });

  afterAll(async () => {
    await topo?.cleanup();
  });

  it('without NMI a pod reaches the node IMDS directly (the exposure being fixed)', async () => {
    expect(await probe(pod(0))).toMatchObject({ ok: true, data: 'hello from imds\n' });
    expect(await connections(imds)).toEqual([pod(0).ip]);
  });

  it('installs exactly the upstream rule text, with the jump first in PREROUTING', async () => {
    manager = await startManager();
    expect(await chainListing()).toBe(
      '-N aad-metadata\n' +
        `-A aad-metadata ! -s 127.0.0.1/32 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination ${pod(0).gateway}:2579\n` +
        '-A aad-metadata -j RETURN\n',
    );
    expect(jumpPositions(config, await prerouting())).toEqual([1]);
    await waitForLogLine(manager, (line) => line.includes('iptables redirection installed'));
  });

  it('DNATs pod connections to 169.254.169.254:80 to the NMI address, keeping the pod source IP', async () => {
    for (const p of [pod(0), pod(1)]) expect(await probe(p)).toMatchObject({ ok: true, data: 'hello from nmi\n' });
    expect(await connections(nmi)).toEqual([pod(0).ip, pod(1).ip]);
    expect(await connections(imds)).toEqual([pod(0).ip]); // only the one from before NMI
  });

  it('restores a flushed chain, a deleted jump and a jump pushed down within 5 s', async () => {
    const tamperings: [string, string[][]][] = [
      ['chain flushed', [['-t', 'nat', '-F', 'aad-metadata']]],
      ['jump deleted', [['-t', 'nat', '-D', 'PREROUTING', '-j', 'aad-metadata']]],
      ['rule inserted before the jump', [['-t', 'nat', '-I', 'PREROUTING', '1', '-s', '192.0.2.1/32', '-j', 'RETURN']]],
      ['duplicate jump appended', [['-t', 'nat', '-A', 'PREROUTING', '-j', 'aad-metadata']]],
    ];
    for (const [what, commands] of tamperings) {
      for (const command of commands) await inNode('iptables', ['-w', '5', ...command]);
      expect(await installed()).toBe(false);
      const restoreMs = await waitUntil(`restore after ${what}`, installed, 10_000);
      console.log(`iptables e2e: ${what}: restored in ${restoreMs} ms (interval ${INTERVAL_MS} ms)`);
      expect(restoreMs).toBeLessThan(5_000);
    }
    // The foreign rule stays; only our jump moved above it.
    expect(await prerouting()).toContain('-A PREROUTING -s 192.0.2.1/32 -j RETURN');
    const restored = await waitForLogLine(manager, (line) => line.includes('"event":"restored"'));
    expect(restored).toContain('content differs');
    expect(await probe(pod(1))).toMatchObject({ ok: true, data: 'hello from nmi\n' });
  });

  it('is fail-closed: after SIGTERM or SIGKILL the rules stay and pods get connection refused, never IMDS', async () => {
    await manager.stop(10_000);
    expect(manager.exit()).toEqual({ code: 0, signal: null });
    await waitForLogLine(manager, (line) => line.includes('rules left in place'));
    expect(await installed()).toBe(true);

    manager = await startManager();
    await waitForLogLine(manager, (line) => line.includes('already in place'));
    manager.killSync();
    expect((await manager.exited).signal).toBe('SIGKILL');
    expect(await installed()).toBe(true);

    const imdsBefore = (await connections(imds)).length;
    await nmi.stop(5_000); // NMI itself down too
    for (const p of [pod(0), pod(1)]) expect(await probe(p)).toEqual({ ok: false, code: 'ECONNREFUSED' });
    expect((await connections(imds)).length).toBe(imdsBefore);
  });

  it('cleanupIptables removes the jump and the chain', async () => {
    const [file, args] = nodeCommand(MANAGER, ['--cleanup', '--target-ip', config.targetIp]);
    const out = await inNode(file, args);
    expect(out).toContain('"event":"cleaned"');
    expect(await chainListing()).toBeUndefined();
    expect(await prerouting()).not.toContain('aad-metadata');
    // With the interception gone the pod reaches the stand-in IMDS again, so the zero count above meant something.
    expect(await probe(pod(1))).toMatchObject({ ok: true, data: 'hello from imds\n' });
  });

  it('exposes a root-namespace loopback service inside a namespace through a unix socket', async () => {
    const server: Server = createServer((socket) => socket.end('hello from root\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const address = server.address();
      const port = address !== null && typeof address === 'object' ? address.port : 0;
      const inNodeNs = await t().expose(t().node, { listenHost: '127.0.0.1', listenPort: port, target: { host: '127.0.0.1', port } });
      const inPod = await t().expose(pod(0).name, { listenHost: '127.0.0.1', listenPort: port, target: { host: '127.0.0.1', port } });
      for (const ns of [t().node, pod(0).name]) {
        const [file, args] = nodeCommand(PROBE, ['--connect', `127.0.0.1:${port}`]);
        expect(JSON.parse(await t().execOk(ns, file, args))).toMatchObject({ ok: true, data: 'hello from root\n' });
      }
      await inNodeNs.close();
      await inPod.close();
    } finally {
      server.close();
    }
  });

  it('leaves nothing behind in the root namespace', async () => {
    const runId = t().runId;
    await t().cleanup();
    expect(await runOk('ip', ['netns', 'list'])).not.toContain(runId);
    expect(await rootNamespaceSnapshot()).toEqual(before);
  });
});
