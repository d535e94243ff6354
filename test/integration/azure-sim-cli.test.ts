/**
 * `pod-identity azure-sim` as a real child process on Node 24's type stripping: the ready line, the
 * admin API, the state file (load, save on exit, refusal of a malformed one), clean stop on signals.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { createCertificateAuthority } from '../../src/lib/pki.ts';
import { SimAdminClient } from '../../src/sim/client.ts';
import type { SimStateData } from '../../src/sim/state/model.ts';
import { httpsGet } from '../../src/devenv/https.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MAIN = path.join(repoRoot, 'src/cli/main.ts');

interface ReadyLine {
  arm: string;
  entra: string;
  admin: string;
  tenantId: string;
  caFile: string;
  caPem: string;
  imds: Record<string, string>;
}

interface Run {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the exit code (or the signal name if killed). */
  readonly exited: Promise<number | string>;
}

const running = new Set<ChildProcess>();

function startCli(args: readonly string[]): Run {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_NO_WARNINGS: '1' } });
  running.add(child);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** The first stdout line, parsed; fails with the stderr text if the process exits first. */
async function readyLine(run: Run, timeoutMs = 30_000): Promise<ReadyLine> {
  const deadline = Date.now() + timeoutMs;
  const status = { exited: false };
  void run.exited.then(() => (status.exited = true));
  while (!run.stdout().includes('\n')) {
    if (status.exited) throw new Error(`azure-sim exited before it was ready:\n${run.stderr()}`);
    if (Date.now() > deadline) throw new Error(`azure-sim not ready within ${timeoutMs} ms:\n${run.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return JSON.parse(run.stdout().split('\n')[0] ?? '') as ReadyLine;
}

function withinMs<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => { reject(new Error(`${what} took more than ${ms} ms`)); }, ms))]);
}

describe('pod-identity azure-sim', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'azure-sim-cli-test-'));
  });

  afterEach(() => {
    for (const child of running) child.kill('SIGKILL');
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('starts from a state file, prints one ready line, serves the admin API, and on SIGTERM exits 0 saving the state', async () => {
    const subscriptionId = randomUUID();
    const tenantId = randomUUID();
    const stateFile = path.join(dir, 'state.yaml');
    await writeFile(
      stateFile,
      YAML.stringify({
        tenantId,
        identities: [{ subscriptionId, resourceGroup: 'rg-ids', name: 'from-file', clientId: '11111111-2222-4333-8444-555555555555' }],
        virtualMachines: [{ subscriptionId, resourceGroup: 'rg-nodes', name: 'node-x', identity: { userAssignedIdentities: [`/subscriptions/${subscriptionId}/resourceGroups/rg-ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/from-file`] } }],
      }),
    );
    const run = startCli(['azure-sim', '--state', stateFile, '--save-state', '--imds', 'node-x', '--lro-vm-ms', '50', '--log-level', 'debug']);
    const ready = await readyLine(run);

    expect(Object.keys(ready).sort()).toEqual(['admin', 'arm', 'caFile', 'caPem', 'entra', 'imds', 'tenantId']);
    expect(ready.arm).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(ready.entra).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(ready.admin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(ready.imds['node-x']).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(ready.tenantId).toBe(tenantId);
    expect(await readFile(ready.caFile, 'utf8')).toBe(ready.caPem);

    const admin = new SimAdminClient(ready.admin);
    expect(await admin.healthz()).toEqual({ ok: true });
    const state = await admin.getState();
    expect(state.identities.map((identity) => identity.clientId)).toEqual(['11111111-2222-4333-8444-555555555555']);
    expect(state.virtualMachines.map((vm) => vm.name)).toEqual(['node-x']);

    // The printed CA is the one the HTTPS servers use.
    expect((await httpsGet(`${ready.entra}/${tenantId}/v2.0/.well-known/openid-configuration`, { caPem: ready.caPem })).status).toBe(200);
    const token = await fetch(`${ready.imds['node-x'] ?? ''}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/`, { headers: { Metadata: 'true' } });
    expect(token.status).toBe(200);
    const { access_token: accessToken } = (await token.json()) as { access_token: string };

    const added = await admin.seedIdentity({ subscriptionId, resourceGroup: 'rg-ids', name: 'added-at-runtime' });
    run.child.kill('SIGTERM');
    expect(await withinMs(run.exited, 5_000, 'stopping on SIGTERM')).toBe(0);

    const saved = YAML.parse(await readFile(stateFile, 'utf8')) as SimStateData;
    expect(saved.tenantId).toBe(tenantId);
    expect(saved.identities.map((identity) => identity.id).sort()).toEqual([added.id, state.identities[0]?.id].sort());
    // The temporary CA file is removed; stdout held only the ready line; stderr is pino JSON.
    expect(existsSync(ready.caFile)).toBe(false);
    expect(run.stdout().trim().split('\n')).toHaveLength(1);
    const logs = run.stderr().trim().split('\n').map((line) => JSON.parse(line) as { msg?: string; level: number });
    expect(logs.map((line) => line.msg)).toEqual(expect.arrayContaining(['azure simulator ready', 'stopping', 'state saved']));
    // --log-level debug logs every request, redacted: the token handed out never reaches the log.
    expect(logs.some((line) => (line as { request?: { service?: string } }).request?.service === 'imds:node-x')).toBe(true);
    expect(run.stderr()).not.toContain(accessToken);
  });

  it('stops cleanly on SIGINT too, writes the CA where --ca-out says and takes --lro-retry-after per kind', async () => {
    const caOut = path.join(dir, 'ca-out.pem');
    const run = startCli(['azure-sim', '--ca-out', caOut, '--lro-retry-after', '3', '--lro-retry-after', 'vmDelete=5']);
    const ready = await readyLine(run);
    expect(ready.caFile).toBe(caOut);
    // Every kind first, then one kind: later ones win.
    expect((await new SimAdminClient(ready.admin).options()).lroRetryAfterSeconds).toEqual({ vmUpdate: 3, vmssUpdate: 3, vmDelete: 5, vmssDelete: 3 });
    expect(ready.imds).toEqual({});
    expect(await readFile(caOut, 'utf8')).toBe(ready.caPem);
    run.child.kill('SIGINT');
    expect(await withinMs(run.exited, 5_000, 'stopping on SIGINT')).toBe(0);
    expect(existsSync(caOut)).toBe(true);
  });

  it('trusts the CAs of every --oidc-ca-file for OIDC issuers, in order, and refuses a file without a certificate', async () => {
    const pems = [createCertificateAuthority('issuer CA one').certPem, createCertificateAuthority('issuer CA two').certPem];
    const files = await Promise.all(pems.map(async (pem, index) => {
      const file = path.join(dir, `issuer-ca-${index}.pem`);
      await writeFile(file, pem);
      return file;
    }));
    const run = startCli(['azure-sim', '--oidc-ca-file', files[0] ?? '', '--oidc-ca-file', files[1] ?? '']);
    const ready = await readyLine(run);
    expect((await new SimAdminClient(ready.admin).options()).oidcCaPems.map((pem) => pem.trim())).toEqual(pems.map((pem) => pem.trim()));
    run.child.kill('SIGTERM');
    expect(await withinMs(run.exited, 5_000, 'stopping on SIGTERM')).toBe(0);

    const notPem = path.join(dir, 'not-a-ca.pem');
    await writeFile(notPem, 'hello');
    const refused = startCli(['azure-sim', '--oidc-ca-file', notPem]);
    expect(await withinMs(refused.exited, 10_000, 'refusing a file without a certificate')).toBe(2);
    expect(refused.stdout()).toBe('');
    expect(refused.stderr()).toContain(`--oidc-ca-file ${notPem} holds no PEM certificate`);
    const missing = startCli(['azure-sim', '--oidc-ca-file', path.join(dir, 'missing.pem')]);
    expect(await withinMs(missing.exited, 10_000, 'refusing a missing file')).toBe(2);
    expect(missing.stderr()).toContain('missing.pem cannot be read');
  });

  it('refuses a malformed state file with exit 2 and a clear message, leaving the file alone', async () => {
    const stateFile = path.join(dir, 'broken.json');
    const broken = '{"identities": [{"name": "x"},';
    await writeFile(stateFile, broken);
    const run = startCli(['azure-sim', '--state', stateFile, '--save-state']);
    expect(await withinMs(run.exited, 10_000, 'refusing a malformed state file')).toBe(2);
    expect(run.stdout()).toBe('');
    expect(run.stderr()).toContain(`state file ${stateFile} is not valid JSON`);
    expect(await readFile(stateFile, 'utf8')).toBe(broken);
  });

  it('refuses a state file with invalid content, listing the problems', async () => {
    const stateFile = path.join(dir, 'invalid.json');
    await writeFile(stateFile, JSON.stringify({ identities: [{ subscriptionId: 's', resourceGroup: 'rg', name: 'x', clientId: 'not-a-guid' }], scaleSets: 'many' }));
    const run = startCli(['azure-sim', '--state', stateFile]);
    expect(await withinMs(run.exited, 10_000, 'refusing invalid state')).toBe(2);
    expect(run.stderr()).toContain('identities[0].clientId: "not-a-guid" is not a GUID');
    expect(run.stderr()).toContain('scaleSets: must be an array');
  });

  it('exits 2 on bad arguments and 0 on --help', async () => {
    const bad = startCli(['azure-sim', '--arm-port', 'eighty']);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toContain('--arm-port must be an integer');
    const retryAfter = startCli(['azure-sim', '--lro-retry-after', '0', '--lro-retry-after', 'vmPatch=2']);
    expect(await retryAfter.exited).toBe(2);
    expect(retryAfter.stderr()).toContain('--lro-retry-after seconds must be an integer from 1 to 3600 (got "0")');
    expect(retryAfter.stderr()).toContain('--lro-retry-after "vmPatch=2": unknown kind "vmPatch" (known: vmUpdate, vmssUpdate, vmDelete, vmssDelete)');
    const unknown = startCli(['make-coffee']);
    expect(await unknown.exited).toBe(2);
    expect(unknown.stderr()).toContain('unknown command "make-coffee"');
    const help = startCli(['azure-sim', '--help']);
    expect(await help.exited).toBe(0);
    expect(help.stdout()).toContain('Usage: pod-identity azure-sim');
  });
});
