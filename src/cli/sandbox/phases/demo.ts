/**
 * The demo, after the phases: the labelled pod asks NMI for an ARM token and gets one for the example
 * identity (its claims are shown, never the token), the unlabelled pod asks the same and is refused,
 * and the pod bound to the federated identity gets that identity's token, which NMI got from Entra ID
 * with its service-account token — no ARM write, no IMDS request for it ({@link FederatedTrace}).
 * The outcome of each request is pure data ({@link podOutcome}), and so is the verdict ({@link demoProblems}).
 * @module
 */
import { SimAdminClient } from '../../../sim/client.ts';
import { ALLOWED_POD, DEMO_NAMESPACE, DENIED_POD, FEDERATED_POD, type Examples } from '../examples.ts';
import type { SandboxAzure } from './azure.ts';
import { federatedTrace, type FederatedTrace } from './federated-trace.ts';
import type { SandboxNode, SandboxPod, TokenAnswer } from './node.ts';

export const RESOURCE = 'https://management.azure.com/';

/** The claims the demo shows (never the token itself). */
export interface ShownClaims {
  readonly appid?: string;
  readonly oid?: string;
  readonly tid?: string;
  readonly aud?: string;
  readonly xms_mirid?: string;
  readonly exp?: number;
}

export interface PodOutcome {
  readonly pod: string;
  readonly ip: string;
  readonly netns?: string;
  readonly status: number;
  readonly token: boolean;
  readonly claims?: ShownClaims;
  readonly error?: string;
  readonly errorDescription?: string;
}

/** Claims of a JWT without verifying it (the demo only shows them). */
export function decodeClaims(token: string): Record<string, unknown> {
  const payload = token.split('.')[1];
  if (payload === undefined) throw new Error('the token is not a JWT');
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** What pod `name` got: the shown claims of its token, or the error NMI answered. */
export function podOutcome(name: string, pod: SandboxPod, answer: TokenAnswer): PodOutcome {
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(answer.body) as Record<string, unknown>;
  } catch {
    // Not JSON: reported as the error text below.
  }
  const base = { pod: name, ip: pod.ip, ...(pod.netns === undefined ? {} : { netns: pod.netns }), status: answer.status };
  const token = body['access_token'];
  if (answer.status === 200 && typeof token === 'string') {
    const all = decodeClaims(token);
    const pick = (key: string): string | undefined => (typeof all[key] === 'string' ? all[key] : undefined);
    const claims: ShownClaims = {
      appid: pick('appid'),
      oid: pick('oid'),
      tid: pick('tid'),
      aud: pick('aud'),
      xms_mirid: pick('xms_mirid'),
      exp: typeof all['exp'] === 'number' ? all['exp'] : undefined,
    };
    return { ...base, token: true, claims };
  }
  return {
    ...base,
    token: false,
    error: typeof body['error'] === 'string' ? body['error'] : answer.body.slice(0, 200),
    ...(typeof body['error_description'] === 'string' ? { errorDescription: body['error_description'] } : {}),
  };
}

/** The federated pod's outcome and what the simulator saw while NMI served it. */
export interface FederatedOutcome extends PodOutcome {
  readonly trace: FederatedTrace;
}

export interface DemoOutcomes {
  readonly allowed: PodOutcome;
  readonly denied: PodOutcome;
  readonly federated: FederatedOutcome;
}

function sayClaims(say: (text: string) => void, outcome: PodOutcome, whose: string): void {
  if (outcome.claims === undefined) {
    say(`  → HTTP ${outcome.status} ${outcome.error ?? ''} ${outcome.errorDescription ?? ''}`);
    return;
  }
  say(`  → HTTP ${outcome.status}, a token (not shown) with claims:`);
  say(`      appid     ${outcome.claims.appid ?? '?'}   (client ID of ${whose})`);
  say(`      xms_mirid ${outcome.claims.xms_mirid ?? '?'}`);
  say(`      aud       ${outcome.claims.aud ?? '?'}`);
}

/** The federated pod's request, with the simulator's request log around it. */
async function federatedDemo(node: SandboxNode, examples: Examples, azure: SandboxAzure, say: (text: string) => void): Promise<FederatedOutcome> {
  const pod = node.pods[2];
  const admin = new SimAdminClient(azure.sim.adminUrl);
  say(`${DEMO_NAMESPACE}/${FEDERATED_POD} (label aadpodidbinding: demo-federated) asks the same, bound to ${examples.federated.name}, a federated identity (type 3):`);
  say(`  $ ${node.tokenCommand(pod, RESOURCE)}`);
  const { lastSeq } = await admin.requests({ limit: 1 });
  const outcome = podOutcome(FEDERATED_POD, pod, await node.requestToken(pod, RESOURCE));
  const { entries } = await admin.requests({ since: lastSeq });
  const trace = federatedTrace(entries, azure.sim.store.snapshot(), azure.federated.resourceId);
  sayClaims(say, outcome, `${examples.federated.azureName}, the federated identity`);
  if (outcome.token) {
    say(
      `  NMI presented the token of service account ${azure.federated.subject.replace(/^system:serviceaccount:/, '').replace(':', '/')} (issuer ${azure.federated.issuer}) to Entra ID: ` +
        `${trace.entraExchanges} client-assertion exchange${trace.entraExchanges === 1 ? '' : 's'}, ${trace.armWrites} ARM writes for it, ${trace.imdsRequests} IMDS requests; ` +
        (trace.onNode ? 'ON the scale set: this must not happen' : 'not on the scale set'),
    );
  }
  return { ...outcome, trace };
}

/** The three token requests, each printed as the command a user would type and what it got. */
export async function runDemo(node: SandboxNode, examples: Examples, azure: SandboxAzure, say: (text: string) => void): Promise<DemoOutcomes> {
  const [allowedPod, deniedPod] = node.pods;
  say('');
  say(`${DEMO_NAMESPACE}/${ALLOWED_POD} (label aadpodidbinding: demo) asks for a token:`);
  say(`  $ ${node.tokenCommand(allowedPod, RESOURCE)}`);
  const allowed = podOutcome(ALLOWED_POD, allowedPod, await node.requestToken(allowedPod, RESOURCE));
  sayClaims(say, allowed, examples.identity.name);
  say(`${DEMO_NAMESPACE}/${DENIED_POD} (no binding label) asks the same:`);
  say(`  $ ${node.tokenCommand(deniedPod, RESOURCE)}`);
  const denied = podOutcome(DENIED_POD, deniedPod, await node.requestToken(deniedPod, RESOURCE));
  say(denied.token ? `  → HTTP ${denied.status} with a token: this must not happen` : `  → HTTP ${denied.status} {"error":"${denied.error ?? ''}","error_description":"${denied.errorDescription ?? ''}"}`);
  const federated = await federatedDemo(node, examples, azure, say);
  return { allowed, denied, federated };
}

/** Why the demo did not show what it should (empty when it did). */
export function demoProblems(outcomes: DemoOutcomes, examples: Examples): string[] {
  const problems: string[] = [];
  if (outcomes.allowed.claims?.appid?.toLowerCase() !== examples.identity.clientId.toLowerCase()) problems.push(`${ALLOWED_POD} did not get a token for ${examples.identity.name}`);
  if (outcomes.denied.token) problems.push(`${DENIED_POD} got a token`);
  const { federated } = outcomes;
  if (federated.claims?.appid?.toLowerCase() !== examples.federated.clientId.toLowerCase()) problems.push(`${FEDERATED_POD} did not get a token for ${examples.federated.name}`);
  if (federated.trace.armWrites > 0) problems.push(`ARM was written to (${federated.trace.armWrites}) while ${FEDERATED_POD} got its token`);
  if (federated.trace.imdsRequests > 0) problems.push(`the node's IMDS was asked (${federated.trace.imdsRequests}) while ${FEDERATED_POD} got its token`);
  if (federated.trace.onNode) problems.push(`${examples.federated.azureName} was put on the node`);
  return problems;
}
