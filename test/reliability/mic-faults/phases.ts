/**
 * The fault phases of the MIC suite. Each starts faults, gives MIC work while they last, stops them,
 * and leaves the convergence check and the counting to {@link FaultRun.phase}.
 * @module
 */
import { buildIdentityPatches } from '../../../src/azure/identity-patch.ts';
import { eventsAbout, IDENTITY_GROUP, identityResourceId, lastRequestSeq, leaseHolder, outOfBandArm, scaleSetTarget, SUBSCRIPTION } from '../../support/mic-world.ts';
import type { PodSpec } from './model.ts';
import { LEASE_SECONDS, LRO, sleep, type FaultRun } from './run.ts';

/** Compute resources (not their operations): what MIC reads and patches. */
const COMPUTE = 'Microsoft\\.Compute/(virtualMachines|virtualMachineScaleSets)/[^/]+$';

/** 429 with Retry-After on every compute read and write for a while; one pod leaves meanwhile. */
export async function throttleStorm(run: FaultRun, leaving: PodSpec | undefined): Promise<void> {
  const ns = await run.world.namespace(`mf-throttle-${run.cycle}`);
  const names = await run.identities(ns, 'thr');
  const pods = run.specs(ns, 'thr', names);
  let since = 0;
  await run.phase('throttle', () => pods, async () => {
    const retryAfterSeconds = run.sizes.retryAfterSeconds;
    // Reads (resources and operation polls) and writes, each answered 429 for the whole storm.
    const rules = await run.world.admin.addFaults([
      ...['GET', 'PATCH'].map((method) => ({ service: 'arm', method, path: COMPUTE, action: { kind: 'status' as const, status: 429, retryAfterSeconds } })),
      { service: 'arm', method: 'GET', path: '/operations/', action: { kind: 'status' as const, status: 429, retryAfterSeconds } },
    ]);
    for (const rule of rules) run.retryAfter.set(rule.id, retryAfterSeconds * 1000);
    since = await lastRequestSeq(run.world);
    await Promise.all(pods.map((pod) => run.createPod(pod)));
    if (leaving !== undefined) await run.deletePod(leaving);
    await sleep(run.sizes.stormMs);
    await run.world.admin.clearFaults();
    return undefined;
  });
  // Calling into a storm: per kind (reads, writes) one 429 per Retry-After window, plus one per
  // VM / scale set for calls already under way when the window opened.
  const denials = (await run.world.admin.requests({ service: 'arm', status: 429, since })).entries.length;
  const allowed = 2 * (Math.ceil(run.sizes.stormMs / (run.sizes.retryAfterSeconds * 1000)) + 1) + run.expect.targets().length;
  run.counts.count('storm_429s', denials);
  if (denials > allowed) run.counts.breach(`throttle#${run.cycle}: MIC earned ${denials} 429s in a ${run.sizes.stormMs} ms storm with Retry-After ${run.sizes.retryAfterSeconds} s (at most ${allowed} expected)`);
}

/** Someone else's long operation on the scale set: MIC's writes meet 409 until it ends. */
export async function conflict(run: FaultRun): Promise<void> {
  const ns = await run.world.namespace(`mf-conflict-${run.cycle}`);
  const names = await run.identities(ns, 'cfl');
  const pods = run.specs(ns, 'cfl', names, run.sizes.pods, run.world.scaleSetNodes);
  const foreign = await run.world.azureIdentity(`foreign-${run.cycle}`);
  run.expect.foreign.add(foreign.id.toLowerCase());
  await run.phase('conflict', () => pods, async () => {
    const target = scaleSetTarget(run.world);
    const arm = await outOfBandArm(run.world);
    const since = await lastRequestSeq(run.world);
    await run.world.admin.setOptions({ lroDurationMs: { vmss: run.sizes.conflictLroMs } });
    const [patch] = buildIdentityPatches((await arm.getIdentity(target)).identity, [foreign.id], []);
    if (patch === undefined) throw new Error('conflict: no patch to send');
    const external = arm.patchIdentity(target, patch);
    await run.world.admin.waitForRequest({ service: 'arm', method: 'PATCH', path: target.name, since });
    await run.world.admin.setOptions({ lroDurationMs: LRO });
    await Promise.all(pods.map((pod) => run.createPod(pod)));
    await external;
    return undefined;
  });
}

/** 500s on every compute read and write for a while; one pod leaves meanwhile. */
export async function serverErrors(run: FaultRun, leaving: PodSpec | undefined): Promise<void> {
  const ns = await run.world.namespace(`mf-errors-${run.cycle}`);
  const names = await run.identities(ns, 'err');
  const pods = run.specs(ns, 'err', names);
  await run.phase('server-errors', () => pods, async () => {
    await run.world.admin.addFaults(['GET', 'PATCH'].map((method) => ({ service: 'arm', method, path: COMPUTE, action: { kind: 'status' as const, status: 500 } })));
    await Promise.all(pods.map((pod) => run.createPod(pod)));
    if (leaving !== undefined) await run.deletePod(leaving);
    await sleep(Math.round(run.sizes.stormMs * 0.6));
    await run.world.admin.clearFaults();
    return undefined;
  });
}

/** Timeouts: PATCHes held without an answer then cut, connections dropped on reads and writes. */
export async function timeouts(run: FaultRun): Promise<void> {
  const ns = await run.world.namespace(`mf-timeouts-${run.cycle}`);
  const names = await run.identities(ns, 'tmo');
  const pods = run.specs(ns, 'tmo', names);
  await run.phase('timeouts', () => pods, async () => {
    const rules = await run.world.admin.addFaults([
      { service: 'arm', method: 'PATCH', path: COMPUTE, times: 2, action: { kind: 'hang', ms: run.sizes.hangMs } },
      { service: 'arm', method: 'PATCH', path: COMPUTE, times: 2, action: { kind: 'drop' } },
      { service: 'arm', method: 'GET', path: COMPUTE, times: 3, action: { kind: 'drop' } },
    ]);
    await Promise.all(pods.map((pod) => run.createPod(pod)));
    // Until every rule has fired (or long enough for it to have), then nothing is faulted any more.
    const deadline = Date.now() + 6 * run.sizes.hangMs + 10_000;
    while (Date.now() < deadline) {
      const left = (await run.world.admin.faults()).filter((rule) => rules.some((mine) => mine.id === rule.id) && rule.remaining !== 0);
      if (left.length === 0) break;
      await sleep(100);
    }
    const unfired = (await run.world.admin.faults()).filter((rule) => rule.remaining !== 0).length;
    run.counts.count('timeout_rules_unfired', unfired);
    await run.world.admin.clearFaults();
    return undefined;
  });
}

/**
 * An identity deleted in Azure while assigned: pods already Assigned keep it (the ID dangles on
 * their VM / scale set), a new pod needing it elsewhere stays Created with a clear Warning Event,
 * valid identities on the same VM land meanwhile; recreating the identity ends the fault.
 */
export async function identityDeleted(run: FaultRun): Promise<void> {
  const ns = await run.world.namespace(`mf-deleted-${run.cycle}`);
  const [doomed, kept, fresh] = await run.identities(ns, 'del', 3) as [string, string, string];
  const [vm0, vm1] = run.world.vmNodes as [string, string];
  const ssNode = run.world.scaleSetNodes[0] ?? '';
  const before: PodSpec[] = [
    { namespace: ns, name: `holds-${run.cycle}-0`, node: ssNode, identity: doomed },
    { namespace: ns, name: `holds-${run.cycle}-1`, node: vm0, identity: doomed },
    { namespace: ns, name: `holds-${run.cycle}-2`, node: vm0, identity: kept },
  ];
  await Promise.all(before.map((pod) => run.createPod(pod)));
  const settled = await run.converge(30_000);
  if (!settled.ok) run.counts.breach(`identity-deleted#${run.cycle}: setup did not converge: ${settled.problems.join('; ')}`);
  const doomedId = identityResourceId(doomed);
  const clientId = run.world.sim.store.getIdentity(doomedId)?.clientId;
  const needsIt: PodSpec = { namespace: ns, name: `wants-${run.cycle}`, node: vm1, identity: doomed };
  const valid: PodSpec[] = [
    { namespace: ns, name: `valid-${run.cycle}-0`, node: vm1, identity: kept },
    { namespace: ns, name: `valid-${run.cycle}-1`, node: vm1, identity: fresh },
  ];
  await run.phase('identity-deleted', () => [...before, needsIt, ...valid], async () => {
    await run.world.admin.deleteIdentity(doomedId);
    run.counts.count('identities_deleted');
    run.expect.dangling.add(doomedId.toLowerCase());
    run.expect.refused.add(run.keyOf(needsIt));
    const started = performance.now();
    await Promise.all([needsIt, ...valid].map((pod) => run.createPod(pod)));
    // While the identity is gone: the valid ones land, the refused one says why.
    const during = await run.converge(30_000);
    if (during.ok) run.counts.details['valid_unaffected_ms'] = Math.round(performance.now() - started);
    else run.counts.breach(`identity-deleted#${run.cycle}: with ${doomed} deleted, the rest did not converge: ${during.problems.join('; ')}`);
    const warning = await waitForWarning(run, ns, `${doomed}-binding`, doomedId.toLowerCase());
    if (warning === undefined) run.counts.breach(`identity-deleted#${run.cycle}: no Warning Event naming ${doomedId.toLowerCase()} as not found on binding ${ns}/${doomed}-binding`);
    else {
      run.counts.count('deleted_identity_warnings');
      run.context.log(`mic-faults: Warning Event on ${ns}/${doomed}-binding: ${warning}`);
    }
    // The fault ends: the identity exists again (same name, same client ID).
    await run.world.admin.seedIdentity({ subscriptionId: SUBSCRIPTION, resourceGroup: IDENTITY_GROUP, name: doomed, ...(clientId === undefined ? {} : { clientId }) });
    run.expect.refused.delete(run.keyOf(needsIt));
    return performance.now();
  });
}

async function waitForWarning(run: FaultRun, namespace: string, binding: string, id: string): Promise<string | undefined> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const events = await eventsAbout(run.world, namespace, 'AzureIdentityBinding', binding);
    const warning = events.find((event) => event.type === 'Warning' && event.reason === 'binding apply error' && event.message.includes(id) && /not found/i.test(event.message));
    if (warning !== undefined) return warning.message;
    await sleep(200);
  }
  return undefined;
}

/** The kube-apiserver restarted while pods keep coming. */
export async function apiServerRestart(run: FaultRun): Promise<void> {
  const ns = await run.world.namespace(`mf-restart-${run.cycle}`);
  const names = await run.identities(ns, 'rst');
  const pods = run.specs(ns, 'rst', names);
  await run.phase('apiserver-restart', () => pods, async () => {
    const half = Math.ceil(pods.length / 2);
    await Promise.all(pods.slice(0, half).map((pod) => run.createPod(pod)));
    const started = performance.now();
    const restart = run.world.plane.restartApiServer();
    await sleep(300);
    // Created as soon as the API server answers again.
    await Promise.all(pods.slice(half).map((pod) => run.createPod(pod, 90_000)));
    await restart;
    run.counts.count('apiserver_restarts');
    run.counts.details['apiserver_restart_ms'] = Math.round(performance.now() - started);
    return performance.now();
  }, 90_000);
}

/** MIC's connections cut and refused for a while; meanwhile pods come and go, etcd compacts: 410 on resume. */
export async function watchExpiry(run: FaultRun, leaving: PodSpec | undefined): Promise<void> {
  const ns = await run.world.namespace(`mf-expiry-${run.cycle}`);
  const names = await run.identities(ns, 'exp');
  const pods = run.specs(ns, 'exp', names);
  const offsets = run.offsets();
  await run.phase('watch-expiry', () => pods, async () => {
    const blackout = run.proxy.blackout(run.sizes.blackoutMs);
    // The test's own client goes straight to the API server, so the cluster changes during the blackout.
    await Promise.all(pods.map((pod) => run.createPod(pod)));
    if (leaving !== undefined) await run.deletePod(leaving);
    await blackout;
    run.counts.count('watch_blackouts');
    return performance.now();
  });
  const relists = new Map([...run.outputsSince(offsets)].map(([name, text]) => [name, text.split('\n').filter((line) => line.includes('"msg":"relisting"') && /410|expired|too old/i.test(line)).length]));
  const total = [...relists.values()].reduce((sum, value) => sum + value, 0);
  run.counts.count('relists_410', total);
  for (const [name, value] of relists) run.counts.count(`relists_410_${name}`, value);
  if (total === 0) run.counts.breach(`watch-expiry#${run.cycle}: no MIC logged a relist after 410 Gone (the fault did not happen as designed)`);
}

/** The leader SIGKILLed while its ARM writes for a wave are in flight; the standby finishes. */
export async function leaderKill(run: FaultRun): Promise<void> {
  const ns = await run.world.namespace(`mf-kill-${run.cycle}`);
  const names = await run.identities(ns, 'kil');
  const pods = run.specs(ns, 'kil', names);
  if (run.mics.length < 2) await run.waitStandby(await run.startMic());
  const leader = await run.leader();
  let killedWall = 0;
  let failover: Promise<number> | undefined;
  const phaseStart = await lastRequestSeq(run.world);
  await run.phase('leader-kill', () => pods, async () => {
    const since = await lastRequestSeq(run.world);
    await run.world.admin.setOptions({ lroDurationMs: { vm: run.sizes.killLroMs, vmss: run.sizes.killLroMs } });
    await Promise.all(pods.map((pod) => run.createPod(pod)));
    await run.world.admin.waitForRequest({ service: 'arm', method: 'PATCH', since }, 15_000);
    await sleep(150);
    // Its lease trouble before the kill (a missed renewal shortens the standby's wait).
    const before = leader.output().split('\n').filter((line) => /renew failed|lost leadership|lease taken/.test(line));
    run.counts.count('leader_lease_warnings_before_kill', before.length);
    for (const line of before.slice(-3)) run.context.log(`mic-faults: ${leader.name} before the kill: ${line.slice(0, 300)}`);
    leader.child.kill('SIGKILL');
    const killedAt = performance.now();
    killedWall = Date.now();
    run.mics.splice(run.mics.findIndex((entry) => entry.mic === leader), 1);
    failover = run.leader((LEASE_SECONDS + 30) * 1000).then(() => performance.now() - killedAt, () => -1);
    run.counts.count('leader_kills');
    await run.world.admin.setOptions({ lroDurationMs: LRO });
    return killedAt;
  }, (LEASE_SECONDS + 40) * 1000);
  const failoverMs = Math.round((await failover) ?? -1);
  if (failoverMs < 0) run.counts.breach(`leader-kill#${run.cycle}: no standby became Active within ${LEASE_SECONDS + 30} s of the SIGKILL of ${leader.name}`);
  run.counts.details[`failover_ms_${run.cycle}`] = failoverMs;
  // client-go semantics: a candidate counts the lease from when it saw the last renewal.
  if (failoverMs > LEASE_SECONDS * 1000 + 2_000) run.context.log(`mic-faults: failover took ${failoverMs} ms with a ${LEASE_SECONDS} s lease (TARGETS: ≤ lease + 2 s)`);
  const holder = await leaseHolder(run.world);
  if (holder === leader.name || holder === '') run.counts.breach(`leader-kill#${run.cycle}: the lease is held by '${holder}' after ${leader.name} was killed`);
  const writes = (await run.world.admin.requests({ service: 'arm', method: 'PATCH', since: phaseStart })).entries;
  run.counts.count('writes_sent_before_kill', writes.filter((entry) => Date.parse(entry.time) < killedWall).length);
  run.counts.count('writes_after_kill', writes.filter((entry) => Date.parse(entry.time) >= killedWall).length);
}
