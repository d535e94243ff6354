/**
 * NMI under faults of what it depends on (TARGETS.md: "API server restart / watch expiry (410 Gone):
 * MIC and NMI recover without restarting"; the MIC side is the mic-faults suite). One NMI (rootless,
 * on loopback, `--v=4`) reaches the API server through a pass-through proxy that can cut its
 * connections, with etcd compacting every second so resumed watches meet 410 Gone; MIC runs beside it.
 *
 * Phases, each followed by "the faults stop; how long until NMI is right again":
 * - watch expiry: NMI's API connections cut and refused while a bound pod is deleted and two new
 *   pods (bound, unbound) are created; recovered when the new bound pod gets its token, the unbound
 *   one is refused and the deleted pod's address is refused.
 * - API server restart: the kube-apiserver restarted while a new bound pod is created.
 * - token-source faults: the node's IMDS (managed identity) and Entra ID (service principal) answer
 *   429 with Retry-After, then 500s, then hang, for a resource never asked before; NMI must answer
 *   IMDS-shaped errors (never a wrong token), never call inside a Retry-After window, and serve the
 *   token once the source is healthy.
 *
 * Breaches: a token naming an identity the caller is not bound to, a token to a deleted pod's address
 * after recovery, an error body that is not JSON, an IMDS call inside a Retry-After window, NMI
 * exiting, a phase that does not recover, a secret in NMI's or MIC's output.
 * @module
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { pidWithArgument } from '../../src/devenv/process.ts';
import { rawRequest } from '../../src/kube/raw-client.ts';
import type { RequestLogEntry } from '../../src/sim/http/request-log.ts';
import type { MicWorld } from '../support/mic-world.ts';
import { startNmi, tokenRequest, type NmiProcess, type NmiResponse } from '../support/nmi-world.ts';
import { CountsBuilder, type ReliabilityScenario, type ScenarioContext } from './counts.ts';
import { startApiProxy, type ApiProxy } from './mic-faults/api-proxy.ts';
import { secretBreaches } from './secret-scan.ts';
import { startWorldWithMic } from './world-with-mic.ts';

const RESOURCE = 'https://management.azure.com/';
const RETRY_AFTER_SECONDS = 2;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Sizes {
  readonly cycles: number;
  readonly blackoutMs: number;
  readonly recoverTimeoutMs: number;
}

// Recovery may take a minute by design: after Entra ID answers 5xx to every retry, MSAL (inside
// @azure/identity) throttles that same token request for 60 s (its server-protection rule).
const SIZES: Record<ScenarioContext['scale'], Sizes> = {
  ci: { cycles: 1, blackoutMs: 4_000, recoverTimeoutMs: 90_000 },
  full: { cycles: 3, blackoutMs: 10_000, recoverTimeoutMs: 120_000 },
};

interface Bound {
  readonly label: string;
  readonly clientId: string;
}

/** Everything a phase needs. */
class NmiFaultRun {
  readonly world: MicWorld;
  readonly nmi: NmiProcess;
  readonly proxy: ApiProxy;
  readonly counts: CountsBuilder;
  readonly namespace: string;
  readonly identity: Bound;
  readonly node: string;
  readonly nmiPid: number;
  private nextIp = 1;

  constructor(options: { world: MicWorld; nmi: NmiProcess; proxy: ApiProxy; counts: CountsBuilder; namespace: string; identity: Bound; node: string; nmiPid: number }) {
    this.world = options.world;
    this.nmi = options.nmi;
    this.proxy = options.proxy;
    this.counts = options.counts;
    this.namespace = options.namespace;
    this.identity = options.identity;
    this.node = options.node;
    this.nmiPid = options.nmiPid;
  }

  /** A fresh pod address: 127.41.x.y (never reused within a run, so a refusal is about the pod). */
  ip(): string {
    const n = this.nextIp++;
    return `127.41.${String(Math.floor(n / 250))}.${String((n % 250) + 1)}`;
  }

  /**
   * One token request from `from`, judged: a 200 must name `expected` (undefined: no token was due
   * there at all — a breach unless `staleOk`), an error must be IMDS-shaped JSON.
   */
  async ask(from: string, expected: Bound | undefined, what: string, resource = RESOURCE): Promise<NmiResponse | undefined> {
    this.counts.attempts++;
    let answer: NmiResponse;
    try {
      answer = await tokenRequest(this.nmi, from, { resource });
    } catch (error) {
      this.counts.count('request_errors');
      this.counts.count(`request_error:${what}`);
      if (!this.nmiRunning()) this.counts.breach(`NMI exited (request for ${what}: ${String(error)})`);
      return undefined;
    }
    this.counts.count(`status_${String(answer.status)}`);
    if (answer.status === 200) {
      const token = answer.json()['access_token'];
      const claims = decodeJwt(typeof token === 'string' ? token : '');
      if (expected === undefined) {
        this.counts.breach(`${what}: a token for ${String(claims['appid'])} at ${from}, which should have got none`);
      } else if (claims['appid'] !== expected.clientId) {
        this.counts.breach(`${what}: a token for ${String(claims['appid'])} at ${from}, bound to ${expected.clientId}`);
      } else {
        this.counts.successes++;
      }
      return answer;
    }
    try {
      const body = answer.json();
      if (typeof body['error'] !== 'string' || typeof body['error_description'] !== 'string') throw new Error('not an IMDS error shape');
    } catch {
      this.counts.breach(`${what}: status ${String(answer.status)} with a body that is not IMDS JSON: ${answer.text.slice(0, 120)}`);
    }
    return answer;
  }

  nmiRunning(): boolean {
    try {
      return pidWithArgument(`--nmi-port=${String(this.nmi.port)}`) === this.nmiPid;
    } catch {
      return false;
    }
  }

  /** Polls `check` every 100 ms until it holds; returns ms taken, or records a failed recovery. */
  async until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<number | undefined> {
    const started = performance.now();
    while (performance.now() - started < timeoutMs) {
      if (await check()) return performance.now() - started;
      await sleep(100);
    }
    this.counts.breach(`${what}: not recovered within ${String(timeoutMs)} ms`);
    return undefined;
  }

  async assigned(pod: string): Promise<boolean> {
    const entries = await this.world.assignedFor(this.namespace, pod);
    return entries.some((entry) => entry.status?.status === 'Assigned');
  }
}

/** NMI's API connections cut while pods change; 410 on resume (etcd compacts every second). */
async function watchExpiry(run: NmiFaultRun, cycle: number, sizes: Sizes): Promise<void> {
  const { world, namespace, identity, node, counts } = run;
  const oldIp = run.ip();
  const old = `nf-old-${String(cycle)}`;
  await world.createPod(namespace, old, node, identity.label, { ip: oldIp });
  await run.until(`watch-expiry #${String(cycle)}: first token for ${old}`, sizes.recoverTimeoutMs, async () => (await run.ask(oldIp, identity, 'pod before the blackout'))?.status === 200);

  const relistsBefore = relistLines(run.nmi.output());
  const fresh = `nf-new-${String(cycle)}`;
  const freshIp = run.ip();
  const stranger = `nf-stranger-${String(cycle)}`;
  const strangerIp = run.ip();
  counts.faults++;
  counts.count('fault_api_blackouts');
  const blackout = run.proxy.blackout(sizes.blackoutMs);
  await world.deletePod(namespace, old);
  await world.createPod(namespace, fresh, node, identity.label, { ip: freshIp });
  await world.createPod(namespace, stranger, node, undefined, { ip: strangerIp });
  // Requests during the blackout: the new pods are unknown to NMI, so refused (never another's token).
  await run.ask(freshIp, identity, 'new bound pod during the blackout');
  await run.ask(strangerIp, undefined, 'unbound pod during the blackout');
  await blackout;
  const ended = performance.now();
  // NMI's view of the deleted pod is stale until it relists: what it serves there meanwhile is the
  // documented window, counted apart (no other pod holds that address in this test).
  let staleServed = 0;
  const recovered = await run.until(`watch-expiry #${String(cycle)}: NMI serves the new pod and forgets the deleted one`, sizes.recoverTimeoutMs, async () => {
    if (!(await run.assigned(fresh))) return false;
    const fromFresh = await run.ask(freshIp, identity, 'new bound pod after the blackout');
    const fromStranger = await run.ask(strangerIp, undefined, 'unbound pod after the blackout');
    counts.attempts++;
    const fromOld = await tokenRequest(run.nmi, oldIp, { resource: RESOURCE }).catch(() => undefined);
    if (fromOld?.status === 200) staleServed++;
    return fromFresh?.status === 200 && fromStranger !== undefined && fromStranger.status !== 200 && fromOld !== undefined && fromOld.status !== 200;
  });
  if (recovered !== undefined) recoveredIn(counts, 'watch_expiry', performance.now() - ended);
  counts.count('stale_tokens_to_deleted_pod_address_before_relist', staleServed);
  counts.count('relists_logged', relistLines(run.nmi.output()) - relistsBefore);
  // After recovery the deleted pod's address never gets a token again.
  for (let index = 0; index < 5; index++) await run.ask(oldIp, undefined, 'deleted pod after recovery');
  await world.deletePod(namespace, fresh);
  await world.deletePod(namespace, stranger);
}

/** A recovery, also kept per phase (the slowest of each) for the count line. */
function recoveredIn(counts: CountsBuilder, phase: string, ms: number): void {
  counts.recovered(ms);
  const key = `recover_max_ms:${phase}`;
  const previous = counts.details[key];
  counts.details[key] = Math.max(typeof previous === 'number' ? previous : 0, Math.round(ms));
}

function relistLines(output: string): number {
  return output.split('\n').filter((line) => line.includes('"relisting"')).length;
}

/** The kube-apiserver restarted while a new bound pod is created. */
async function apiServerRestart(run: NmiFaultRun, cycle: number, sizes: Sizes): Promise<void> {
  const { world, namespace, identity, node, counts } = run;
  const pod = `nf-restart-${String(cycle)}`;
  const ip = run.ip();
  counts.faults++;
  counts.count('fault_apiserver_restarts');
  const restart = world.plane.restartApiServer();
  // Created as soon as the API server answers again (the restart resolves once it is healthy).
  await restart;
  const ended = performance.now();
  await world.createPod(namespace, pod, node, identity.label, { ip });
  const recovered = await run.until(`apiserver-restart #${String(cycle)}: token for ${pod}`, sizes.recoverTimeoutMs, async () => (await run.assigned(pod)) && (await run.ask(ip, identity, 'pod created after the restart'))?.status === 200);
  if (recovered !== undefined) recoveredIn(counts, 'apiserver_restart', performance.now() - ended);
  await world.deletePod(namespace, pod);
}

/** Where a token comes from, and the bound pod that asks for it. */
interface Upstream {
  /** `imds` (managed identity) or `entra` (service principal). */
  readonly name: string;
  /** The simulator's service selector for fault rules. */
  readonly service: string;
  readonly identity: Bound;
}

/**
 * The token source throttles (429 + Retry-After), fails (500) and hangs, each for a resource never
 * asked before, so the cache cannot hide it.
 */
async function upstreamFaults(run: NmiFaultRun, cycle: number, sizes: Sizes, upstream: Upstream): Promise<void> {
  const { world, namespace, node, counts } = run;
  const pod = `nf-${upstream.name}-${String(cycle)}`;
  const ip = run.ip();
  await world.createPod(namespace, pod, node, upstream.identity.label, { ip });
  await run.until(`${upstream.name} #${String(cycle)}: first token for ${pod}`, sizes.recoverTimeoutMs, async () => (await run.assigned(pod)) && (await run.ask(ip, upstream.identity, `pod before the ${upstream.name} faults`))?.status === 200);
  const faults: { kind: string; action: Parameters<MicWorld['admin']['addFault']>[0]['action']; times: number }[] = [
    { kind: '429', action: { kind: 'status', status: 429, retryAfterSeconds: RETRY_AFTER_SECONDS }, times: 3 },
    { kind: '500', action: { kind: 'status', status: 500 }, times: 4 },
    { kind: 'hang', action: { kind: 'hang', ms: 3_000 }, times: 2 },
  ];
  for (const fault of faults) {
    const phase = `${upstream.name}_${fault.kind}`;
    const resource = `https://nmi-faults-${String(cycle)}-${phase}.example.com/`;
    const since = (await world.admin.requests({ limit: 1 })).lastSeq;
    await world.admin.addFault({ service: upstream.service, path: 'oauth2', times: fault.times, action: fault.action });
    counts.faults++;
    counts.count(`fault_${phase}`);
    // Ask while the faults last: NMI answers an IMDS-shaped error (or, after its own retries, the token).
    const started = performance.now();
    let answered = false;
    for (let index = 0; index < 6 && !answered; index++) {
      const answer = await run.ask(ip, upstream.identity, `${upstream.name} ${fault.kind}`, resource);
      answered = answer?.status === 200;
      if (!answered) {
        const retryAfter = Number(answer?.headers['retry-after'] ?? '1');
        await sleep(Math.min(3_000, Math.max(200, retryAfter * 1000)));
      }
    }
    if (!answered) {
      const ok = await run.until(`${phase} #${String(cycle)}: token once ${upstream.name} is healthy`, sizes.recoverTimeoutMs, async () => (await run.ask(ip, upstream.identity, `after ${upstream.name} ${fault.kind}`, resource))?.status === 200);
      if (ok === undefined) continue;
    }
    recoveredIn(counts, phase, performance.now() - started);
    await world.admin.clearFaults();
    const service = upstream.service.split(':')[0] ?? upstream.service;
    const calls = (await world.admin.requests({ service })).entries.filter((entry) => entry.seq > since && entry.path.includes('oauth2'));
    counts.count(`calls_${phase}`, calls.length);
    for (const breach of retryAfterBreaches(calls, RETRY_AFTER_SECONDS * 1000)) counts.breach(`${phase} #${String(cycle)}: ${breach}`);
  }
  await world.deletePod(namespace, pod);
}

/** Calls that came sooner after a 429 than its Retry-After (`windowMs`) allowed. */
export function retryAfterBreaches(calls: readonly Pick<RequestLogEntry, 'time' | 'status'>[], windowMs: number): string[] {
  const breaches: string[] = [];
  let notBefore = 0;
  for (const call of calls) {
    const at = Date.parse(call.time);
    // 50 ms of slack for the two clocks' rounding (the log's time is when the simulator took the request).
    if (at + 50 < notBefore) breaches.push(`IMDS called at ${call.time}, inside a Retry-After window until ${new Date(notBefore).toISOString()}`);
    if (call.status === 429) notBefore = at + windowMs;
  }
  return breaches;
}

async function runNmiFaults(context: ScenarioContext): Promise<ReturnType<CountsBuilder['finish']>> {
  const sizes = SIZES[context.scale];
  const counts = new CountsBuilder('nmi-faults', context.scale);
  // A 30 s lease: MIC rides out the ~11 s API server restart (see the MIC faults suite).
  const { world, mic } = await startWorldWithMic(
    { scaleSetNodes: 1, vmNodes: 0, lroDurationMs: { vm: 100, vmss: 200 }, extraApiServerArgs: ['--etcd-compaction-interval=1s', '--watch-cache=false'] },
    ['--v=4', '--leader-election-duration=30s'],
  );
  let proxy: ApiProxy | undefined;
  let nmi: NmiProcess | undefined;
  const knownSecrets: string[] = [];
  try {
    proxy = await startApiProxy(Number(new URL(world.plane.server).port));
    const kubeconfig = proxy.kubeconfigVia(world.plane.kubeconfigPath, world.plane.server, path.join(world.dir, 'nmi-via-proxy.kubeconfig'));
    const node = world.scaleSetNodes[0]!;
    nmi = await startNmi(world, node, ['--v=4', `--kubeconfig=${kubeconfig}`, '--per-pod-requests-per-second=1000', '--per-pod-burst=1000']);
    const nmiPid = pidWithArgument(`--nmi-port=${String(nmi.port)}`);
    const namespace = await world.namespace('nmi-faults');
    const azure = await world.azureIdentity('nmi-faults-id');
    await world.createIdentity(namespace, 'nf-id', { type: 0, resourceID: azure.id, clientID: azure.clientId });
    await world.createBinding(namespace, 'nf-id', 'nf-id', 'nf-id');
    // A service-principal identity (type 1): its tokens come from Entra ID with the Secret's client secret.
    const secret = `s-${randomUUID()}`;
    const sp = await world.admin.seedServicePrincipal({ displayName: 'nmi-faults-sp', secret });
    await rawRequest(world.kc, { method: 'POST', path: `/api/v1/namespaces/${namespace}/secrets`, body: { metadata: { name: 'nf-sp' }, stringData: { clientSecret: secret } } });
    await world.createIdentity(namespace, 'nf-sp', { type: 1, tenantID: world.sim.tenantId, clientID: sp.appId, clientPassword: { name: 'nf-sp', namespace }, adEndpoint: world.sim.entraUrl });
    await world.createBinding(namespace, 'nf-sp', 'nf-sp', 'nf-sp');
    const principal: Bound = { label: 'nf-sp', clientId: sp.appId };
    knownSecrets.push(secret);
    const run = new NmiFaultRun({ world, nmi, proxy, counts, namespace, identity: { label: 'nf-id', clientId: azure.clientId }, node, nmiPid });
    for (let cycle = 0; cycle < sizes.cycles; cycle++) {
      context.log(`nmi-faults cycle ${String(cycle + 1)}/${String(sizes.cycles)}: watch expiry, API server restart, IMDS faults`);
      await watchExpiry(run, cycle, sizes);
      await apiServerRestart(run, cycle, sizes);
      await upstreamFaults(run, cycle, sizes, { name: 'imds', service: `imds:${node}`, identity: run.identity });
      await upstreamFaults(run, cycle, sizes, { name: 'entra', service: 'entra', identity: principal });
    }
    if (!run.nmiRunning()) counts.breach('NMI is not running at the end (it must recover without restarting)');
    counts.count('api_connections_cut', proxy.cut);
    for (const breach of secretBreaches({ nmi: nmi.output(), mic: mic.output() }, knownSecrets)) counts.breach(breach);
    counts.count('nmi_log_lines', nmi.output().split('\n').length);
  } finally {
    await nmi?.stop();
    await proxy?.close();
    await world.stop();
  }
  return counts.finish();
}

export const nmiFaultsScenario: ReliabilityScenario = {
  name: 'nmi-faults',
  description: 'NMI through watch expiry (410), an API server restart, IMDS and Entra 429/500/hangs: recovers without restarting, never a wrong token',
  needsRoot: false,
  run: runNmiFaults,
};
