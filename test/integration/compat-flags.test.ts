/**
 * Upstream flags that used to be accepted and ignored, now applied (issue 14):
 *
 * - klog's `--logtostderr=false` with `--log_file` / `--log_dir`, `--stderrthreshold`,
 *   `--alsologtostderr` and `--log_file_max_size`: the logger writes the file (real files), and a file
 *   that cannot be opened stops MIC and NMI at start with exit code 2 and a message;
 * - `--enableProfile`: the profile listener on loopback serves a CPU profile and a heap profile that
 *   parse, one CPU profile at a time, and waits out a busy port without stopping the process;
 * - the real MIC and NMI processes with these flags (and NMI's `--metrics-operation-type=path`)
 *   against a real API server and the Azure simulator.
 */
import { spawn } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/lib/clock.ts';
import type { LogOutput } from '../../src/lib/klog-flags.ts';
import { LogFileError, openLogFile } from '../../src/lib/log-file.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { profileServer } from '../../src/lib/profile-app.ts';
import { repoRoot } from '../../src/devenv/binaries.ts';
import { freePorts } from '../../src/devenv/ports.ts';
import { useMicWorld } from '../support/mic-suite.ts';
import { nmiRequest, startNmi } from '../support/nmi-world.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'pod-identity-compat-flags-'));
const [micProfilePort] = (await freePorts(1)) as [number];
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

function fileOutput(target: Extract<LogOutput, { kind: 'file' }>['target'], extra: Partial<Extract<LogOutput, { kind: 'file' }>> = {}): LogOutput {
  return { kind: 'file', target, maxBytes: 0, stderrThreshold: 'ERROR', alsoToStderr: false, ...extra };
}

function captured(): { destination: { write(chunk: string): void }; lines: string[] } {
  const out: string[] = [];
  return { destination: { write: (chunk) => { out.push(...lines(chunk)); } }, lines: out };
}

describe('--logtostderr=false: the log file', () => {
  it('gets every record; stderr only those at --stderrthreshold and above, plus where the rest went', () => {
    const file = path.join(dir, 'threshold.log');
    const stderr = captured();
    const logger = createLogger({ format: 'json', level: 'debug', component: 'mic', destination: stderr.destination, output: fileOutput({ kind: 'file', path: file }, { stderrThreshold: 'WARNING' }) });
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error({ token: 'not-for-logs' }, 'e');
    const written = lines(readFileSync(file, 'utf8')).map((line) => JSON.parse(line) as { msg: string; level: string; token?: string });
    expect(written.map((record) => record.msg)).toEqual(['d', 'i', 'w', 'e']);
    expect(written[3]?.token).toBe('[REDACTED]');
    const onStderr = stderr.lines.map((line) => JSON.parse(line) as { msg: string; file?: string });
    expect(onStderr.map((record) => record.msg)).toEqual([expect.stringContaining('logging to a file (--logtostderr=false)'), 'w', 'e']);
    expect(onStderr[0]?.file).toBe(file);
  });

  it('--alsologtostderr copies every record; the text format applies to both', () => {
    const file = path.join(dir, 'also.log');
    const stderr = captured();
    const logger = createLogger({ format: 'text', level: 'info', component: 'nmi', destination: stderr.destination, output: fileOutput({ kind: 'file', path: file }, { alsoToStderr: true }) });
    logger.info({ pod: 'a' }, 'hello');
    expect(lines(readFileSync(file, 'utf8'))).toEqual([expect.stringMatching(/ INFO {2}nmi: hello pod=a$/)]);
    expect(stderr.lines.at(-1)).toMatch(/ INFO {2}nmi: hello pod=a$/);
  });

  it('appends to an existing --log_file, and starts it over beyond --log_file_max_size (as klog truncates it)', () => {
    const file = path.join(dir, 'limited.log');
    const first = openLogFile({ target: { kind: 'file', path: file }, maxBytes: 2_000 });
    first.write('kept from before\n');
    first.close();
    const log = openLogFile({ target: { kind: 'file', path: file }, maxBytes: 2_000 });
    expect(readFileSync(file, 'utf8')).toBe('kept from before\n');
    for (let index = 0; index < 100; index++) log.write(`${`record ${String(index)} `.padEnd(99, '.')}\n`);
    log.close();
    const text = readFileSync(file, 'utf8');
    expect(statSync(file).size).toBeLessThanOrEqual(2_000);
    expect(text).not.toContain('kept from before');
    expect(text).toContain('record 99 ');
    // Every record whole: truncation happens between records.
    for (const line of lines(text)) expect(line).toMatch(/^record \d+ \.+$/);
  });

  it('--log_dir: klog-named files with the <program>.INFO symlink on the newest; beyond the limit a new file, nothing lost', () => {
    const logDir = mkdtempSync(path.join(dir, 'logdir-'));
    let second = 0;
    const log = openLogFile({ target: { kind: 'dir', dir: logDir, program: 'nmi' }, maxBytes: 1_000, now: () => new Date(2026, 0, 1, 0, 0, second++) });
    for (let index = 0; index < 30; index++) log.write(`${`record ${String(index)} `.padEnd(99, '.')}\n`);
    log.close();
    const files = readdirSync(logDir).filter((name) => name !== 'nmi.INFO').sort();
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const name of files) {
      expect(name).toMatch(new RegExp(`^nmi\\.[^.]+\\.[^.]+\\.log\\.INFO\\.20260101-0000\\d\\d\\.${String(process.pid)}$`));
      expect(statSync(path.join(logDir, name)).size).toBeLessThanOrEqual(1_000);
    }
    expect(lstatSync(path.join(logDir, 'nmi.INFO')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(path.join(logDir, 'nmi.INFO'))).toBe(path.basename(log.path));
    const all = files.flatMap((name) => lines(readFileSync(path.join(logDir, name), 'utf8')));
    expect(all.map((line) => Number(/^record (\d+)/.exec(line)?.[1]))).toEqual(Array.from({ length: 30 }, (_, index) => index));
  });

  it('buffered (NMI): written within 200 ms, and at once on flush', async () => {
    const file = path.join(dir, 'buffered.log');
    const log = openLogFile({ target: { kind: 'file', path: file }, maxBytes: 0, buffered: true });
    log.write('one\n');
    await vi.waitFor(() => { expect(readFileSync(file, 'utf8')).toBe('one\n'); }, { timeout: 2_000, interval: 50 });
    log.write('two\n');
    log.flushSync();
    expect(readFileSync(file, 'utf8')).toBe('one\ntwo\n');
    log.close();
  });

  it('a file that cannot be opened is an error naming it and the reason', () => {
    expect(() => openLogFile({ target: { kind: 'file', path: path.join(dir, 'missing', 'x.log') }, maxBytes: 0 })).toThrow(LogFileError);
    expect(() => createLogger({ format: 'json', level: 'info', component: 'mic', output: fileOutput({ kind: 'dir', dir: path.join(dir, 'missing'), program: 'mic' }) })).toThrow(
      new RegExp(`cannot open the log file ${path.join(dir, 'missing')}/mic\\..*: ENOENT`),
    );
  });

  it.each([
    ['mic', ['src/mic/main.ts'], { MIC_POD_NAMESPACE: 'kube-system' }],
    ['nmi', ['src/nmi/main.ts', '--node=n1', '--ipt-dnat-address=127.0.0.1'], {}],
  ] as const)('%s stops at start with exit code 2 when the log file cannot be opened', async (name, args, env) => {
    const file = path.join(dir, 'no-such-dir', `${name}.log`);
    const child = spawn(process.execPath, [path.join(repoRoot, args[0]), ...args.slice(1), '--logtostderr=false', `--log_file=${file}`], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, stderr).toBe(2);
    expect(stderr).toBe(`${name}: cannot open the log file ${file} (--logtostderr=false): ENOENT\n`);
  }, 30_000);
});

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string } }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface HeapProfile {
  head: { callFrame: { functionName: string }; selfSize: number; children: unknown[] };
  samples: { size: number }[];
}

/** Checks what a .cpuprofile holds: a call tree, samples, and the duration asked for. */
function expectCpuProfile(text: string, seconds: number): void {
  const profile = JSON.parse(text) as CpuProfile;
  expect(profile.nodes.length).toBeGreaterThan(1);
  expect(profile.nodes[0]?.callFrame.functionName).toBe('(root)');
  expect(profile.samples.length).toBe(profile.timeDeltas.length);
  expect(profile.samples.length).toBeGreaterThan(0);
  const ids = new Set(profile.nodes.map((node) => node.id));
  for (const sample of profile.samples) expect(ids.has(sample)).toBe(true);
  expect(profile.endTime - profile.startTime).toBeGreaterThanOrEqual(seconds * 1e6 * 0.9);
  expect(profile.endTime - profile.startTime).toBeLessThan((seconds + 5) * 1e6);
}

function expectHeapProfile(text: string): void {
  const profile = JSON.parse(text) as HeapProfile;
  expect(profile.head.callFrame.functionName).toBe('(root)');
  expect(Array.isArray(profile.head.children)).toBe(true);
  expect(Array.isArray(profile.samples)).toBe(true);
}

/** Whether anything accepts a TCP connection at host:port. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => { resolve(false); });
  });
}

describe('--enableProfile: the profile listener', () => {
  it('serves a CPU profile of the seconds asked for and a heap profile, one CPU profile at a time, on 127.0.0.1 only', async () => {
    const [port] = (await freePorts(1)) as [number];
    const stop = new AbortController();
    const urls: string[] = [];
    const running = profileServer({ program: 'test', port, logger: pino({ level: 'silent' }), clock: systemClock, onListening: (url) => urls.push(url) }).run(stop.signal);
    try {
      await vi.waitFor(() => { expect(urls).toEqual([`http://127.0.0.1:${String(port)}`]); }, { timeout: 5_000, interval: 20 });
      const base = `http://127.0.0.1:${String(port)}/debug/pprof`;
      expect(await (await fetch(`${base}/`)).text()).toContain('/debug/pprof/profile?seconds=N');
      const cpu = fetch(`${base}/profile?seconds=1`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const busy = await fetch(`${base}/profile?seconds=1`);
      expect(busy.status).toBe(409);
      expect(await busy.json()).toMatchObject({ error: 'profile_in_progress' });
      const response = await cpu;
      expect(response.status).toBe(200);
      expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="test-.*\.cpuprofile"$/);
      expectCpuProfile(await response.text(), 1);
      const heap = await fetch(`${base}/heap`);
      expect(heap.headers.get('content-disposition')).toMatch(/\.heapprofile"$/);
      expectHeapProfile(await heap.text());
      const bad = await fetch(`${base}/profile?seconds=600`);
      expect(bad.status).toBe(400);
      expect(await bad.json()).toEqual({ error: 'invalid_request', error_description: 'seconds must be an integer from 1 to 120' });
      expect(await accepts('127.0.0.2', port)).toBe(false);
    } finally {
      stop.abort();
      await running;
    }
    expect(await accepts('127.0.0.1', port)).toBe(false);
  }, 30_000);

  it('waits out a busy port (logged once), then serves; the process is never stopped for it', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const errors: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => { if (line.includes('"level":50')) errors.push(line); } });
    const stop = new AbortController();
    const urls: string[] = [];
    const running = profileServer({ program: 'test', port, logger, clock: systemClock, retryMs: 200, onListening: (url) => urls.push(url) }).run(stop.signal);
    try {
      await vi.waitFor(() => { expect(errors.length).toBe(1); }, { timeout: 5_000, interval: 20 });
      expect(errors[0]).toContain('profile server cannot listen (--enableProfile); retrying');
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(errors.length).toBe(1);
      await new Promise<void>((resolve) => blocker.close(() => { resolve(); }));
      await vi.waitFor(() => { expect(urls.length).toBe(1); }, { timeout: 5_000, interval: 20 });
      expectHeapProfile(await (await fetch(`http://127.0.0.1:${String(port)}/debug/pprof/heap`)).text());
    } finally {
      stop.abort();
      await running;
    }
  }, 30_000);
});

describe('MIC and NMI with the flags, against a real API server and the Azure simulator', () => {
  const micLog = path.join(dir, 'mic.log');
  const nmiLogDir = mkdtempSync(path.join(dir, 'nmi-logs-'));
  const suite = useMicWorld({
    scaleSetNodes: 1,
    vmNodes: 0,
    micArgs: ['--enableProfile', `--profile-port=${String(micProfilePort)}`, '--logtostderr=false', `--log_file=${micLog}`],
  });

  it('MIC logs to --log_file (stderr only says where) and serves a CPU profile on --profile-port', async () => {
    const records = lines(readFileSync(micLog, 'utf8')).map((line) => JSON.parse(line) as { msg: string; component: string });
    expect(records.map((record) => record.msg)).toContain('MIC starting');
    expect(records.every((record) => record.component === 'mic')).toBe(true);
    const onStderr = lines(suite.mic().output()).map((line) => JSON.parse(line) as { msg: string; level: string });
    expect(onStderr[0]?.msg).toContain('logging to a file (--logtostderr=false)');
    expect(onStderr.slice(1).every((record) => record.level === 'error' || record.level === 'fatal')).toBe(true);
    const response = await fetch(`http://127.0.0.1:${String(micProfilePort)}/debug/pprof/profile?seconds=1`);
    expect(response.status).toBe(200);
    expectCpuProfile(await response.text(), 1);
  });

  it('NMI logs to a klog-named file in --log_dir, serves profiles, and labels operations with upstream’s URL paths', async () => {
    const [profilePort] = (await freePorts(1)) as [number];
    const nmi = await startNmi(suite.world(), suite.world().scaleSetNodes[0] ?? '', [
      '--enableProfile',
      `--profile-port=${String(profilePort)}`,
      '--logtostderr=false',
      `--log_dir=${nmiLogDir}`,
      '--metrics-operation-type=path',
    ]);
    try {
      await nmiRequest(nmi, { from: '127.0.0.1', path: '/metadata/identity/oauth2/token?resource=https%3A%2F%2Fvault.azure.net&api-version=2018-02-01', headers: { Metadata: 'true' } });
      await nmiRequest(nmi, { from: '127.0.0.1', path: '/metadata/instance?api-version=2021-02-01', headers: { Metadata: 'true' } });
      const metrics = await (await fetch(`http://127.0.0.1:${String(nmi.metricsPort)}/metrics`)).text();
      expect(metrics).toMatch(/aadpodidentity_nmi_operations_duration_seconds_count\{operation_type="\/metadata\/identity\/oauth2\/token",status_code="\d+",namespace="",resource="https:\/\/vault.azure.net"\} 1/);
      expect(metrics).toMatch(/aadpodidentity_nmi_operations_duration_seconds_count\{operation_type="\/metadata\/instance",/);
      expect(metrics).toContain('# HELP aadpodidentity_nmi_operations_duration_seconds Duration in seconds for nmi operations');
      expectHeapProfile(await (await fetch(`http://127.0.0.1:${String(profilePort)}/debug/pprof/heap`)).text());
      const link = path.join(nmiLogDir, 'nmi.INFO');
      expect(readlinkSync(link)).toMatch(/^nmi\.[^.]+\.[^.]+\.log\.INFO\.\d{8}-\d{6}\.\d+$/);
      await vi.waitFor(() => {
        expect(lines(readFileSync(link, 'utf8')).map((line) => (JSON.parse(line) as { msg: string }).msg)).toContain('NMI starting');
      }, { timeout: 5_000, interval: 100 });
      expect(lines(nmi.output()).map((line) => (JSON.parse(line) as { msg: string }).msg)).not.toContain('NMI starting');
    } finally {
      expect(await nmi.stop()).toBe(0);
    }
  }, 60_000);
});
