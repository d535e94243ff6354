/**
 * Secrets in logs (issue 8; TARGETS.md: secrets or tokens in logs at any level — none). One world runs
 * MIC and NMI at klog `--v=5` (trace, the most verbose level) against the simulator and exercises every
 * credential path: managed-identity tokens (type 0), a client-secret service principal (type 1, with
 * auxiliary tenants too), a certificate one (type 2, PKCS#12 with a password), Secret rotation to a
 * wrong and back to the right secret, IMDS and Entra ID refusals (AADSTS), MIC authenticating to ARM
 * with the client secret of its azure.json, ARM refusing MIC (403), and the CLI (`doctor`,
 * `identity create`, which has no debug flag). Everything they printed is scanned for every secret the
 * suite created or received (client secrets, passwords, the PFX, keys, every token) and for credential
 * shapes (JWTs, PEM, DER base64, bearer headers, form secrets); every finding is a breach.
 * @module
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { rawRequest } from '../../src/kube/raw-client.ts';
import { createSelfSignedCertificate, toPkcs12 } from '../../src/lib/pki.ts';
import { repoRoot } from '../../src/devenv/binaries.ts';
import { IDENTITY_GROUP, SUBSCRIPTION, type MicWorld } from '../support/mic-world.ts';
import { startNmi, tokenRequest, type NmiProcess, type NmiResponse } from '../support/nmi-world.ts';
import { CountsBuilder, type ReliabilityScenario, type ScenarioContext, type SuiteCounts } from './counts.ts';
import { scanForSecrets } from './secret-scan.ts';
import { sleep, startWorldWithMic, until } from './world-with-mic.ts';

const ARM = 'https://management.azure.com/';
const VAULT = 'https://vault.azure.net';
const FORBIDDEN_GROUP = 'forbidden-identities';
/** Rounds of the token workload: ci one, full several (more refreshes, more log lines to scan). */
const ROUNDS = { ci: 1, full: 5 } as const;

/** Secrets created or received during the run, which must appear in no output. */
class Secrets {
  readonly values = new Set<string>();
  tokens = 0;
  add(...values: string[]): void {
    for (const value of values) if (value.length >= 8) this.values.add(value);
  }
  /** Every access token in an NMI answer (one object or upstream's array for auxiliary tenants). */
  addTokens(response: NmiResponse): void {
    const body = JSON.parse(response.text) as unknown;
    for (const entry of Array.isArray(body) ? body : [body]) {
      const token = (entry as Record<string, unknown> | null)?.['access_token'];
      if (typeof token === 'string') {
        this.add(token);
        this.tokens += 1;
      }
    }
  }
}

export const secretsScenario: ReliabilityScenario = {
  name: 'secrets-in-logs',
  description: 'MIC and NMI at --v=5 plus the CLI through every credential path; all output scanned for secrets and tokens',
  needsRoot: false,
  async run(context: ScenarioContext): Promise<SuiteCounts> {
    const counts = new CountsBuilder('secrets-in-logs', context.scale);
    const secrets = new Secrets();
    const { world, mic } = await startWorldWithMic({ scaleSetNodes: 1, vmNodes: 0, enforceRbac: true, lroDurationMs: { vm: 100, vmss: 200 } }, ['--v=5']);
    let nmi: NmiProcess | undefined;
    const cliOutputs: Record<string, string> = {};
    try {
      const azureJson = JSON.parse(readFileSync(world.azureJsonPath, 'utf8')) as { aadClientSecret?: string };
      secrets.add(azureJson.aadClientSecret ?? '');
      // The kubeconfig MIC, NMI and the CLI use holds a client key: its base64 and its PEM body.
      const keyData = /client-key-data:\s*"?([A-Za-z0-9+/=]+)/u.exec(readFileSync(world.plane.kubeconfigPath, 'utf8'))?.[1];
      if (keyData !== undefined) secrets.add(keyData, ...pemBodies(Buffer.from(keyData, 'base64').toString('utf8')));
      const node = world.scaleSetNodes[0] ?? '';
      nmi = await startNmi(world, node, ['--v=5', '--retry-attempts-for-created=8', '--retry-attempts-for-assigned=8', '--find-identity-retry-interval=2']);
      const op = operations(world, nmi, node, counts, secrets);
      const rounds = Number(process.env['SECRETS_ROUNDS'] ?? ROUNDS[context.scale]);
      for (let round = 0; round < rounds; round++) {
        context.log(`secrets-in-logs: round ${String(round + 1)} of ${String(rounds)}`);
        await op.all(round);
      }
      Object.assign(cliOutputs, await cliRuns(world, counts, secrets));
      // Stopped before scanning, so shutdown logs are scanned too.
      await nmi.stop();
      await mic.stop();
      return scan(counts, { mic: mic.output(), nmi: nmi.output(), ...cliOutputs }, secrets);
    } finally {
      await nmi?.stop();
      await world.stop();
    }
  },
};

function scan(counts: CountsBuilder, outputs: Readonly<Record<string, string>>, secrets: Secrets): SuiteCounts {
  // SECRETS_KEEP_OUTPUT=<dir> keeps what was scanned, to inspect a finding.
  const keep = process.env['SECRETS_KEEP_OUTPUT'];
  if (keep !== undefined && keep !== '') {
    mkdirSync(keep, { recursive: true });
    for (const [source, text] of Object.entries(outputs)) writeFileSync(path.join(keep, `${source.replaceAll(' ', '-')}.log`), text);
  }
  const known = [...secrets.values];
  // The scanner must see what it looks for: a line with a known secret and a token is found.
  const probe = scanForSecrets('self-test', `leak ${known[0] ?? 'x'.repeat(8)} and eyJhbGciOiJub25lIn0.eyJzdWIiOiJzZWxmdGVzdCJ9.`, known);
  counts.count('scanner_self_test', probe.length >= 2 ? 1 : 0);
  if (probe.length < 2) counts.breach('the scanner did not find a planted secret and token');
  for (const [source, text] of Object.entries(outputs)) {
    counts.count(`lines_${source.replaceAll(' ', '_')}`, text.split('\n').filter((line) => line !== '').length);
    for (const finding of scanForSecrets(source, text, known)) {
      counts.count(`findings_${finding.kind}`);
      counts.breach(`${finding.kind} in ${finding.source} output, line ${String(finding.line)}: ${finding.excerpt}`);
    }
  }
  counts.count('known_secrets', known.length);
  counts.count('tokens_collected', secrets.tokens);
  counts.count('trace_lines_nmi', (outputs['nmi'] ?? '').split('\n').filter((line) => line.includes('"level":"trace"') || line.includes('"level":"debug"')).length);
  counts.count('trace_lines_mic', (outputs['mic'] ?? '').split('\n').filter((line) => line.includes('"level":"trace"') || line.includes('"level":"debug"')).length);
  return counts.finish();
}

/** The credential operations against one world; each counts as an attempt, its expected outcome as a success. */
function operations(world: MicWorld, nmi: NmiProcess, node: string, counts: CountsBuilder, secrets: Secrets): { all(round: number): Promise<void> } {
  let nextIp = 1;
  const ip = (): string => `127.13.0.${String(nextIp++)}`;
  const expectStatus = async (what: string, status: number, ask: () => Promise<NmiResponse>, timeoutMs = 60_000): Promise<NmiResponse> => {
    counts.attempts += 1;
    let last: NmiResponse | undefined;
    try {
      last = await until(what, timeoutMs, async () => {
        const response = await ask();
        last = response;
        return response.status === status ? response : undefined;
      });
      counts.successes += 1;
    } catch {
      // A functional miss is counted (successes < attempts), not a breach: this suite judges the logs.
      counts.count('unexpected_outcomes');
      counts.count(`missed_${what.replaceAll(' ', '_')}`);
    }
    if (last !== undefined && last.status === 200) secrets.addTokens(last);
    counts.count(`op_${what.replaceAll(' ', '_')}`);
    return last ?? { status: 0, headers: {}, text: '', json: () => ({}) };
  };
  const namespace = async (name: string): Promise<string> => world.namespace(name);
  const secretObject = async (ns: string, name: string, data: Record<string, string>): Promise<void> => {
    await rawRequest(world.kc, { method: 'POST', path: `/api/v1/namespaces/${ns}/secrets`, body: { metadata: { name }, data } });
  };
  const b64 = (text: string): string => Buffer.from(text).toString('base64');

  return {
    async all(round: number): Promise<void> {
      // Selectors are unique per round: without namespaced mode a binding selects pods of every namespace.
      const ns = await namespace(`secrets-${String(round)}`);
      const suffix = `${String(round)}-${randomUUID().slice(0, 6)}`;

      // Type 0: MIC assigns through ARM (its client secret from azure.json), NMI asks IMDS.
      const managed = await world.azureIdentity(`mi-${suffix}`);
      await world.createIdentity(ns, 'managed', { type: 0, resourceID: managed.id, clientID: managed.clientId });
      await world.createBinding(ns, 'managed-binding', 'managed', `managed-${String(round)}`);
      const managedIp = ip();
      await world.createPod(ns, 'managed', node, `managed-${String(round)}`, { ip: managedIp });
      await expectStatus('type0 token', 200, () => tokenRequest(nmi, managedIp, { resource: ARM }), 120_000);
      await expectStatus('type0 token by client id', 200, () => tokenRequest(nmi, managedIp, { resource: VAULT, client_id: managed.clientId }));

      // Type 1 with a client secret, rotated to a wrong secret (AADSTS refusal) and back.
      const secret = `s1-${randomUUID()}`;
      const wrong = `wrong-${randomUUID()}`;
      secrets.add(secret, wrong);
      const principal = await world.admin.seedServicePrincipal({ displayName: `sp-${suffix}`, secret });
      await secretObject(ns, 'sp', { clientSecret: b64(secret) });
      await world.createIdentity(ns, 'sp', { type: 1, tenantID: world.sim.tenantId, clientID: principal.appId, clientPassword: { name: 'sp', namespace: ns }, adEndpoint: world.sim.entraUrl });
      await world.createBinding(ns, 'sp-binding', 'sp', `sp-${String(round)}`);
      const spIp = ip();
      await world.createPod(ns, 'sp', node, `sp-${String(round)}`, { ip: spIp });
      await expectStatus('type1 token', 200, () => tokenRequest(nmi, spIp, { resource: ARM }), 120_000);
      const rotate = (value: string): Promise<unknown> =>
        rawRequest(world.kc, { method: 'PATCH', path: `/api/v1/namespaces/${ns}/secrets/sp`, contentType: 'application/merge-patch+json', body: { data: { clientSecret: b64(value) } } });
      await rotate(wrong);
      await expectStatus('type1 wrong secret refused', 403, () => tokenRequest(nmi, spIp, { resource: ARM }));
      await rotate(secret);
      await expectStatus('type1 after rotation back', 200, () => tokenRequest(nmi, spIp, { resource: ARM }));

      // Type 1 with auxiliary tenants: an array of tokens.
      await world.createIdentity(ns, 'aux', { type: 1, tenantID: world.sim.tenantId, auxiliaryTenantIDs: ['contoso.onmicrosoft.com'], clientID: principal.appId, clientPassword: { name: 'sp', namespace: ns }, adEndpoint: world.sim.entraUrl });
      await world.createBinding(ns, 'aux-binding', 'aux', `aux-${String(round)}`);
      const auxIp = ip();
      await world.createPod(ns, 'aux', node, `aux-${String(round)}`, { ip: auxIp });
      await expectStatus('type1 auxiliary tenants', 200, () => tokenRequest(nmi, auxIp, { resource: ARM }), 120_000);

      // Type 2: PKCS#12 with a password.
      const certificate = createSelfSignedCertificate(`secrets cert ${suffix}`);
      const password = `pfx-${randomUUID()}`;
      const pfx = Buffer.from(toPkcs12(certificate, password)).toString('base64');
      secrets.add(password, pfx, b64(password), ...pemBodies(certificate.keyPem));
      const certPrincipal = await world.admin.seedServicePrincipal({ displayName: `cert-${suffix}`, certificatePem: certificate.certPem });
      await secretObject(ns, 'cert', { certificate: pfx, password: b64(password) });
      await world.createIdentity(ns, 'cert', { type: 2, tenantID: world.sim.tenantId, clientID: certPrincipal.appId, clientPassword: { name: 'cert', namespace: ns }, adEndpoint: world.sim.entraUrl });
      await world.createBinding(ns, 'cert-binding', 'cert', `cert-${String(round)}`);
      const certIp = ip();
      await world.createPod(ns, 'cert', node, `cert-${String(round)}`, { ip: certIp });
      await expectStatus('type2 token', 200, () => tokenRequest(nmi, certIp, { resource: VAULT }), 120_000);

      // Refusals: IMDS answers 400 once, Entra ID an AADSTS error (expired credential) once.
      await world.admin.addFault({ service: 'imds', path: 'oauth2/token', query: 'storage', times: 1, action: { kind: 'status', status: 400, code: 'invalid_request', message: 'Identity not found' } });
      await expectStatus('imds refusal', 403, () => tokenRequest(nmi, managedIp, { resource: `https://storage.azure.com/${suffix}` }), 10_000);
      await world.admin.addFault({ service: 'entra', path: 'token', times: 3, action: { kind: 'status', status: 401, code: 'invalid_client', message: 'AADSTS7000222: The provided client secret keys are expired.' } });
      await expectStatus('entra refusal', 403, () => tokenRequest(nmi, spIp, { resource: `https://storage.azure.com/${suffix}` }), 10_000);
      await world.admin.clearFaults();

      // ARM refuses MIC (no role on this group): the identity stays unassigned, MIC logs the 403.
      await world.admin.seedResourceGroup({ subscriptionId: SUBSCRIPTION, resourceGroup: FORBIDDEN_GROUP }).catch(() => undefined);
      const forbidden = await world.admin.seedIdentity({ subscriptionId: SUBSCRIPTION, resourceGroup: FORBIDDEN_GROUP, name: `forbidden-${suffix}` });
      await world.createIdentity(ns, 'forbidden', { type: 0, resourceID: forbidden.id, clientID: forbidden.clientId });
      await world.createBinding(ns, 'forbidden-binding', 'forbidden', `forbidden-${String(round)}`);
      await world.createPod(ns, 'forbidden', node, `forbidden-${String(round)}`, { ip: ip() });
      counts.attempts += 1;
      const refused = await until('ARM refusing MIC', 60_000, async () => ((await world.assignedFor(ns, 'forbidden')).length > 0 ? true : undefined))
        .then(async () => {
          // Give the retry loop (and its logs) a moment; without a role the identity must stay unassigned.
          await sleep(3_000);
          return (await world.assignedFor(ns, 'forbidden')).every((entry) => entry.status?.status !== 'Assigned');
        })
        .catch(() => false);
      if (refused) counts.successes += 1;
      counts.count('op_arm_forbidden');
    },
  };
}

/** The base64 body of each PEM block (what would leak if a key were logged without its armour). */
function pemBodies(pem: string): string[] {
  return [...pem.matchAll(/-----BEGIN [^-]+-----([\s\S]*?)-----END/gu)].map((match) => (match[1] ?? '').replace(/\s+/gu, ''));
}

/** `pod-identity doctor` and `pod-identity identity create` (neither has a debug flag): their stdout and stderr. */
async function cliRuns(world: MicWorld, counts: CountsBuilder, secrets: Secrets): Promise<Record<string, string>> {
  const operatorSecret = `op-${randomUUID()}`;
  secrets.add(operatorSecret);
  const operator = await world.admin.seedServicePrincipal({ displayName: 'operator', secret: operatorSecret });
  await world.admin.seedRoleAssignment({ scope: `/subscriptions/${SUBSCRIPTION}`, role: 'Owner', principalId: operator.objectId });
  const env = { AZURE_CLIENT_ID: operator.appId, AZURE_CLIENT_SECRET: operatorSecret, AZURE_TENANT_ID: world.sim.tenantId };
  const common = [`--kubeconfig=${world.plane.kubeconfigPath}`, `--cloudconfig=${world.azureJsonPath}`];
  const outputs: Record<string, string> = {};
  const run = async (name: string, args: readonly string[]): Promise<void> => {
    counts.attempts += 1;
    const result = await cli(world, args, env);
    outputs[name] = `${result.stdout}\n${result.stderr}`;
    counts.count(`op_cli_${name.replaceAll(' ', '_')}`);
    // doctor exits 1 when it finds a problem (this world has no NMI pods): it ran to its report.
    if (result.code === 0 || (name.startsWith('doctor') && result.code === 1)) counts.successes += 1;
    counts.count(`cli_${name.replaceAll(' ', '_')}_exit_${String(result.code)}`);
  };
  await run('doctor', ['doctor', 'managed', '-n', 'secrets-0', ...common]);
  await run('doctor json', ['doctor', 'sp', '-n', 'secrets-0', '-o', 'json', ...common]);
  await run('identity create', ['identity', 'create', '--name', 'cli-secrets', '--resource-group', IDENTITY_GROUP, '--namespace', 'secrets-0', '--selector', 'cli', ...common]);
  return outputs;
}

function cli(world: MicWorld, args: readonly string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'src/cli/main.ts'), ...args], {
      env: { PATH: process.env['PATH'] ?? '', HOME: world.dir, NODE_NO_WARNINGS: '1', AZURE_TOKEN_CREDENTIALS: 'EnvironmentCredential', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
