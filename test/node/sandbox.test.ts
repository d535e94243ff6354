/**
 * `pod-identity sandbox --once --json` as root on a machine that can run a real node (the CLI as a
 * user runs it, a child process): it chooses the real node, installs the chart with helm, shows the
 * allowed pod's token for demo-identity and the other pod refused, and leaves nothing behind (no `pi-`
 * namespace, no node cgroup, the root namespace's nat table and links as before).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/devenv/binaries.ts';
import { runOk } from '../../src/devenv/exec.ts';
import { rootNamespaceSnapshot } from '../../src/devenv/netns.ts';
import { nodeCgroupRoots } from '../../src/devenv/node/cgroups.ts';
import { worldImages } from '../../src/devenv/node/world.ts';

const piNamespaces = async (): Promise<string[]> =>
  (await runOk('ip', ['netns', 'list'])).split('\n').map((line) => line.split(' ')[0] ?? '').filter((name) => name.startsWith('pi-')).sort();

describe('pod-identity sandbox on a real node', () => {
  it('--once --json as root: a kubelet node, the chart from the images, one token, one refusal, a federated token, nothing left behind', async () => {
    worldImages({ required: true });
    const before = { ...(await rootNamespaceSnapshot()), namespaces: await piNamespaces(), cgroups: await nodeCgroupRoots() };
    const child = spawn(process.execPath, [path.join(repoRoot, 'src/cli/main.ts'), 'sandbox', '--once', '--json'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => { resolve(exitCode); }));
    const summary = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
      ok?: boolean; mode?: string; state?: string;
      allowed?: { status?: number; token?: boolean; claims?: { appid?: string } };
      denied?: { status?: number; token?: boolean };
      federated?: { status?: number; token?: boolean; claims?: { appid?: string }; subject?: string; trace?: { entraExchanges?: number; armWrites?: number; imdsRequests?: number; onNode?: boolean } };
    };
    expect(summary.mode, stderr).toBe('real-node');
    expect(code, stderr).toBe(0);
    expect(summary).toMatchObject({ ok: true, state: 'done', allowed: { status: 200, token: true }, denied: { status: 404, token: false } });
    // The example identity's client ID (examples/sandbox/identity.yaml).
    expect(summary.allowed?.claims?.appid).toBe('dddddddd-0000-4000-8000-000000000001');
    // The federated example (examples/sandbox/federated.yaml): NMI's kubelet-projected token exchanged at Entra ID, nothing written to the node.
    expect(summary.federated).toMatchObject({ status: 200, token: true, claims: { appid: 'dddddddd-0000-4000-8000-000000000002' }, subject: 'system:serviceaccount:pod-identity:pod-identity-nmi' });
    expect(summary.federated?.trace).toEqual({ entraExchanges: 1, armWrites: 0, imdsRequests: 0, onNode: false });
    expect(stderr).toContain('kubectl get pods -A');
    expect(stderr).toMatch(/pod-identity-nmi-\w+ +1\/1 +Running/);
    expect(stderr).toMatch(/pod-identity-mic-\w+-\w+ +1\/1 +Running/);
    const after = { ...(await rootNamespaceSnapshot()), namespaces: await piNamespaces(), cgroups: await nodeCgroupRoots() };
    expect(after).toEqual(before);
  }, 600_000);
});
