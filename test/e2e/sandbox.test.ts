/**
 * `pod-identity sandbox` as a user runs it (a child process of the real CLI): with `--namespaces --once
 * --json` as root (pods in network namespaces, NMI with iptables in a node namespace; the real-node
 * sandbox is test/node/sandbox.test.ts) and rootless, and stopped by
 * SIGINT while it is up. Each run must show the allowed pod getting a token for demo-identity, the
 * other refused and the third getting the federated identity's token (Entra ID only: no ARM write, no
 * IMDS request, nothing on the scale set), and leave nothing behind: no new `pi-` namespace, no process from the run, the root
 * namespace's nat table and links as before, no files.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/devenv/binaries.ts';
import { runOk } from '../../src/devenv/exec.ts';
import { assertNetnsPrerequisites, rootNamespaceSnapshot, type RootNamespaceSnapshot } from '../../src/devenv/netns.ts';
import type { SandboxSummary } from '../../src/cli/sandbox/phases/report.ts';

const MAIN = path.join(repoRoot, 'src/cli/main.ts');

interface Outcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly summary: SandboxSummary;
}

/** Read-only view of the root namespace (as test/e2e/nmi.test.ts). */
async function rootSnapshot(): Promise<RootNamespaceSnapshot & { piNamespaces: string[] }> {
  return { ...(await rootNamespaceSnapshot()), piNamespaces: await piNamespaces() };
}

async function piNamespaces(): Promise<string[]> {
  return (await runOk('ip', ['netns', 'list']))
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith('pi-'))
    .sort();
}

/** Processes whose command line mentions any of `needles` (our sandbox's dirs). */
function processesMentioning(needles: readonly string[]): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    if (Number(pid) === process.pid) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (needles.some((needle) => needle !== '' && cmdline.includes(needle))) found.push(`${pid}: ${cmdline}`);
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Runs the CLI; `onLine` sees each stdout line and may return a signal to send. */
function sandbox(args: readonly string[], onLine?: (line: string) => NodeJS.Signals | undefined): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, 'sandbox', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const signal = onLine?.(line);
        if (signal !== undefined) child.kill(signal);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (process.env['SANDBOX_TEST_LOGS'] === '1') console.log(`--- sandbox ${args.join(' ')}\n${stderr}${stdout}`);
      const last = stdout.trim().split('\n').filter((line) => line.startsWith('{')).at(-1);
      if (last === undefined) {
        reject(new Error(`sandbox printed no JSON line (exit ${String(code)}, signal ${String(signal)}):\n${stderr}\n${stdout}`));
        return;
      }
      resolve({ code, signal, stdout, stderr, summary: JSON.parse(last) as SandboxSummary });
    });
  });
}

function expectDemo(outcome: Outcome): void {
  const { summary } = outcome;
  expect(summary.ok, outcome.stderr).toBe(true);
  expect(summary.identity?.name).toBe('demo-identity');
  expect(summary.allowed?.status).toBe(200);
  expect(summary.allowed?.token).toBe(true);
  expect(summary.allowed?.claims?.appid).toBe(summary.identity?.clientId);
  expect(summary.allowed?.claims?.xms_mirid?.toLowerCase()).toBe(summary.identity?.resourceId.toLowerCase());
  expect(summary.allowed?.claims?.xms_mirid).toMatch(/\/userAssignedIdentities\/demo-identity$/i);
  expect(String(summary.allowed?.claims?.aud).replace(/\/$/, '')).toBe('https://management.azure.com');
  expect(summary.denied?.token).toBe(false);
  expect(summary.denied?.status).not.toBe(200);
  expect(summary.denied?.error).toBeTruthy();
  // The federated identity (type 3) beside it: its own claims, from Entra ID alone.
  expect(summary.federatedIdentity?.name).toBe('demo-federated-identity');
  expect(summary.federatedIdentity?.subject).toBe('system:serviceaccount:kube-system:pod-identity-nmi');
  expect(summary.federatedIdentity?.issuer).toBe(summary.apiServer);
  expect(summary.federated?.status).toBe(200);
  expect(summary.federated?.claims?.appid).toBe(summary.federatedIdentity?.clientId);
  expect(summary.federated?.claims?.appid).not.toBe(summary.identity?.clientId);
  expect(summary.federated?.claims?.tid).toBe(summary.federatedIdentity?.tenantId);
  expect(summary.federated?.claims?.xms_mirid?.toLowerCase()).toBe(summary.federatedIdentity?.resourceId.toLowerCase());
  expect(summary.federated?.trace).toEqual({ entraExchanges: 1, armWrites: 0, imdsRequests: 0, onNode: false });
  expect(outcome.stdout + outcome.stderr).toContain('0 ARM writes for it');
  // The token itself is never printed.
  expect(outcome.stdout + outcome.stderr).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/);
}

async function expectNothingLeft(outcome: Outcome, before: Awaited<ReturnType<typeof rootSnapshot>>): Promise<void> {
  const { summary } = outcome;
  const dirs = [summary.dir ?? '', summary.controlPlaneDir ?? ''];
  expect(dirs.every((dir) => dir !== '')).toBe(true);
  for (const dir of dirs) expect(existsSync(dir), dir).toBe(false);
  expect(processesMentioning(dirs)).toEqual([]);
  expect(alive(summary.pids?.mic ?? 0)).toBe(false);
  expect(alive(summary.pids?.nmi ?? 0)).toBe(false);
  const after = await rootSnapshot();
  for (const ns of summary.namespaces ?? []) expect(after.piNamespaces).not.toContain(ns);
  expect(after.piNamespaces).toEqual(before.piNamespaces);
  expect(after.nat).toBe(before.nat);
  expect(after.links).toEqual(before.links);
}

describe('pod-identity sandbox', () => {
  it('--namespaces --once --json as root: pods in namespaces, one token, one refusal, nothing left behind', async () => {
    await assertNetnsPrerequisites();
    const before = await rootSnapshot();
    const outcome = await sandbox(['--namespaces', '--once', '--json']);
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(outcome.summary.mode).toBe('netns');
    expect(outcome.summary.state).toBe('done');
    expect(outcome.summary.namespaces).toHaveLength(4);
    expect(outcome.summary.allowed?.netns).toMatch(/^pi-[0-9a-f]{6}-pod0$/);
    expectDemo(outcome);
    await expectNothingLeft(outcome, before);
  }, 240_000);

  it('--rootless --once --json: pods on 127.x addresses, the same demo', async () => {
    const before = await rootSnapshot();
    const outcome = await sandbox(['--rootless', '--once', '--json']);
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(outcome.summary.mode).toBe('rootless');
    expect(outcome.summary.namespaces).toEqual([]);
    expect(outcome.summary.allowed?.ip).toMatch(/^127\./);
    expectDemo(outcome);
    await expectNothingLeft(outcome, before);
  }, 240_000);

  it('SIGINT while it is up stops everything and exits 0', async () => {
    await assertNetnsPrerequisites();
    const before = await rootSnapshot();
    let sent = false;
    const outcome = await sandbox(['--namespaces', '--json'], (line) => {
      if (sent || !line.startsWith('{')) return undefined;
      sent = true;
      const summary = JSON.parse(line) as SandboxSummary;
      return summary.state === 'ready' ? 'SIGINT' : undefined;
    });
    expect(sent).toBe(true);
    expect(outcome.summary.state, outcome.stderr).toBe('ready');
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(outcome.stderr).toContain('SIGINT: stopping');
    expectDemo(outcome);
    await expectNothingLeft(outcome, before);
  }, 240_000);
});
