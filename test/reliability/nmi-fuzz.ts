/**
 * NMI under a bounded grammar fuzzer (issue 8 "Fuzzing NMI"; TARGETS.md: malformed requests → no crash,
 * no 5xx except documented ones, no token, clear error body). A real NMI (rootless, as nmi-world runs
 * it) for one node of a world with MIC and the simulator; requests are written as raw bytes over
 * sockets from 127.x source addresses (two bound pods, an unbound pod, an unknown address, the host).
 *
 * Properties, per response: NMI answered (no hang, no silent close) and is alive; the status is
 * documented (docs/nmi.md: 500 only for "no pod at this address", 503; 502 means IMDS unreachable, and
 * this world's IMDS never is; any other 5xx is a breach); every error body is JSON `{error, error_description}` (a proxied IMDS answer only
 * has to be IMDS's JSON); every JWT in a body belongs to an identity the caller is bound to (claims
 * decoded). After the run, the bound pod still gets a token. Seed fixed, printed, `FUZZ_SEED` overrides.
 * @module
 */
import fc from 'fast-check';
import { decodeJwt } from 'jose';
import { startNmi, tokenRequest as nmiTokenRequest, type NmiProcess } from '../support/nmi-world.ts';
import type { MicWorld } from '../support/mic-world.ts';
import { CountsBuilder, type ReliabilityScenario, type ScenarioContext, type SuiteCounts } from './counts.ts';
import { connectionArb, describeRequest, renderRequest, tokenRequest, type FuzzConnection, type FuzzIds, type FuzzRequest, type Source } from './nmi-fuzz-grammar.ts';
import { rawExchange, type RawResponse } from './raw-http.ts';
import { startWorldWithMic, until } from './world-with-mic.ts';

const DEFAULT_SEED = 20261122;
const ADDRESS: Readonly<Record<Source, string>> = { bound: '127.12.0.1', bound2: '127.12.0.3', stranger: '127.12.0.2', unknown: '127.12.0.9', host: '127.0.0.1' };
const ARM = 'https://management.azure.com/';
const SCALE = {
  ci: { connections: 400, concurrency: 8, timeBudgetMs: 240_000 },
  full: { connections: 18_500, concurrency: 16, timeBudgetMs: 20 * 60_000 },
} as const;
const JWT = /eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/gu;
/** The only 500 docs/nmi.md documents: the source address is no (single) pod of this node. */
const DOCUMENTED_500 = /^(no pod of node .* has address|failed to match pod IP)/u;

interface Identities {
  readonly ids: FuzzIds;
  /** Client IDs (lower case) each source may receive a token for. */
  readonly allowed: Readonly<Record<Source, ReadonlySet<string>>>;
}

export const nmiFuzzScenario: ReliabilityScenario = {
  name: 'nmi-fuzz',
  description: 'grammar fuzzer over method, path, query, headers, bodies and pipelining against a running NMI (raw sockets, fixed seed)',
  needsRoot: false,
  async run(context: ScenarioContext): Promise<SuiteCounts> {
    const seed = process.env['FUZZ_SEED'] === undefined ? DEFAULT_SEED : Number(process.env['FUZZ_SEED']);
    if (!Number.isSafeInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, got ${String(process.env['FUZZ_SEED'])}`);
    const { world } = await startWorldWithMic({ scaleSetNodes: 1, vmNodes: 0, lroDurationMs: { vm: 100, vmss: 200 } });
    let nmi: NmiProcess | undefined;
    try {
      const node = world.scaleSetNodes[0] ?? '';
      // Short identity waits and a per-pod limit out of the way: the fuzzer is a few pods asking thousands of times.
      nmi = await startNmi(world, node, ['--retry-attempts-for-created=1', '--retry-attempts-for-assigned=1', '--find-identity-retry-interval=0', '--per-pod-requests-per-second=100000', '--per-pod-burst=100000']);
      const identities = await setUp(world, nmi, node);
      return await fuzz(context, nmi, identities, seed);
    } finally {
      await nmi?.stop();
      await world.stop();
    }
  },
};

async function setUp(world: MicWorld, nmi: NmiProcess, node: string): Promise<Identities> {
  await world.namespace('fuzz');
  const a = await world.azureIdentity('fuzz-a');
  const b = await world.azureIdentity('fuzz-b');
  const stranger = await world.azureIdentity('fuzz-stranger');
  await world.createIdentity('fuzz', 'fuzz-a', { type: 0, resourceID: a.id, clientID: a.clientId });
  await world.createIdentity('fuzz', 'fuzz-b', { type: 0, resourceID: b.id, clientID: b.clientId });
  await world.createBinding('fuzz', 'fuzz-a-binding', 'fuzz-a', 'fuzz-a');
  await world.createBinding('fuzz', 'fuzz-b-binding', 'fuzz-b', 'fuzz-b');
  await world.createPod('fuzz', 'bound', node, 'fuzz-a', { ip: ADDRESS.bound });
  await world.createPod('fuzz', 'bound2', node, 'fuzz-b', { ip: ADDRESS.bound2 });
  await world.createPod('fuzz', 'stranger', node, undefined, { ip: ADDRESS.stranger });
  // Both bound pods' identities are assigned (and on the scale set) before fuzzing starts.
  for (const source of ['bound', 'bound2'] as const) {
    await until(`token for the ${source} pod`, 120_000, async () => ((await nmiTokenRequest(nmi, ADDRESS[source], { resource: ARM })).status === 200 ? true : undefined));
  }
  const lower = (id: string): string => id.toLowerCase();
  return {
    ids: { clientIds: [a.clientId, b.clientId, stranger.clientId], resourceIds: [a.id, b.id, stranger.id], objectIds: [a.principalId, b.principalId, stranger.principalId] },
    allowed: {
      bound: new Set([lower(a.clientId)]),
      bound2: new Set([lower(b.clientId)]),
      stranger: new Set(),
      unknown: new Set(),
      // /host/token serves node agents any pod of this node (docs/nmi.md).
      host: new Set([lower(a.clientId), lower(b.clientId)]),
    },
  };
}

/** Well-formed token requests from pods, one in ten connections, so tokens (and the token check) flow. */
function tipArb(ids: FuzzIds): fc.Arbitrary<FuzzConnection> {
  const selector = fc.oneof(
    fc.constant<[string, string][]>([]),
    fc.constantFrom(...ids.clientIds).map((id): [string, string][] => [['client_id', id]]),
    fc.constantFrom(...ids.resourceIds).map((id): [string, string][] => [['msi_res_id', id]]),
    fc.constantFrom(...ids.objectIds).map((id): [string, string][] => [['object_id', id]]),
  );
  return fc.record({
    from: fc.constantFrom<Source>('bound', 'bound2', 'stranger'),
    requests: fc.tuple(fc.constantFrom(ARM, 'https://vault.azure.net'), selector).map(([resource, chosen]) => [tokenRequest([['api-version', '2018-02-01'], ['resource', resource], ...chosen])]),
  });
}

async function fuzz(context: ScenarioContext, nmi: NmiProcess, identities: Identities, seed: number): Promise<SuiteCounts> {
  const scale = SCALE[context.scale];
  const counts = new CountsBuilder('nmi-fuzz', context.scale);
  const arb = fc.oneof({ arbitrary: connectionArb(identities.ids), weight: 9 }, { arbitrary: tipArb(identities.ids), weight: 1 });
  const connections = fc.sample(arb, { numRuns: scale.connections, seed });
  context.log(`nmi-fuzz: seed ${String(seed)} (FUZZ_SEED overrides), ${String(connections.length)} connections, ${String(scale.concurrency)} at a time`);
  const statuses = new Map<string, number>();
  const deadline = Date.now() + scale.timeBudgetMs;
  let next = 0;
  let down = false;

  const one = async (connection: FuzzConnection): Promise<void> => {
    const texts = connection.requests.map((request, index) => renderRequest(request, index === connection.requests.length - 1));
    const exchange = await rawExchange({
      host: '127.0.0.1',
      port: nmi.port,
      localAddress: ADDRESS[connection.from],
      request: Buffer.from(texts.join(''), 'utf8'),
      headMethods: connection.requests.map((request) => request.method === 'HEAD'),
      timeoutMs: 30_000,
    });
    counts.attempts += connection.requests.length;
    counts.count('connections');
    if (connection.requests.length > 1) counts.count('pipelined_connections');
    const repro = (): string => `from ${connection.from} (${ADDRESS[connection.from]}): ${describeRequest(texts.join(''))}`;
    if (exchange.responses.length === 0) {
      if (!(await alive(nmi))) down = true;
      counts.breach(`no answer (${exchange.failure ?? 'closed'}${down ? ', NMI down' : ''}) to ${repro()}`);
      return;
    }
    if (exchange.failure === 'timeout') counts.breach(`connection not closed within 30 s after ${String(exchange.responses.length)} answer(s) to ${repro()}`);
    if (exchange.responses.length < connection.requests.length) counts.count('pipelined_unanswered_after_refusal', connection.requests.length - exchange.responses.length);
    exchange.responses.forEach((response, index) => {
      const key = String(response.status);
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
      for (const problem of check(connection.from, connection.requests[index], response, identities)) counts.breach(`${problem}; request ${repro()}`);
      if (response.status === 200 && response.body.match(JWT) !== null) {
        counts.count('tokens_served');
        if (connection.from !== 'host') counts.successes += 1;
      }
      if (response.headers['server']?.startsWith('IMDS/') === true) counts.count(response.status >= 500 ? 'proxied_5xx_from_imds' : 'proxied_to_imds');
      if (response.body.includes('malformed HTTP request')) counts.count('parser_refusals');
    });
  };

  const worker = async (): Promise<void> => {
    while (!down && Date.now() < deadline) {
      const connection = connections[next++];
      if (connection === undefined) return;
      await one(connection);
    }
  };
  await Promise.all(Array.from({ length: scale.concurrency }, worker));
  if (next < connections.length) counts.count('not_sent_time_budget', connections.length - Math.min(next, connections.length));

  // NMI still serves a legitimate token after the fuzz.
  const after = await nmiTokenRequest(nmi, ADDRESS.bound, { resource: ARM });
  const afterOk = after.status === 200 && identities.allowed.bound.has(String(decodeJwt(String(after.json()['access_token']))['appid']).toLowerCase());
  if (!afterOk) counts.breach(`after the fuzz the bound pod got ${String(after.status)} instead of its token`);
  counts.count('token_after_fuzz', afterOk ? 1 : 0);
  const errorLines = nmi.output().split('\n').filter((line) => line.includes('"level":"error"') || line.includes('"level":"fatal"'));
  counts.count('nmi_error_log_lines', errorLines.length);
  // What the first one said (message and error, short): an error NMI logs is worth a look even when the answer was right.
  const first = parseJson(errorLines[0] ?? '') as { msg?: unknown; err?: unknown } | undefined;
  if (first !== undefined) counts.details['nmi_error_log_first'] = JSON.stringify({ msg: first.msg, err: first.err }).slice(0, 300);
  counts.details['seed'] = seed;
  for (const [status, count] of [...statuses].sort(([a], [b]) => a.localeCompare(b))) counts.details[`status_${status}`] = count;
  return counts.finish();
}

async function alive(nmi: NmiProcess): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${String(nmi.healthPort)}/livez`, { signal: AbortSignal.timeout(5_000) })).status === 200;
  } catch {
    return false;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The problems (breaches) of one response; `request` is undefined for an answer to trailing bytes. */
export function check(from: Source, request: FuzzRequest | undefined, response: RawResponse, identities: Identities): string[] {
  const problems: string[] = [];
  const status = response.status;
  if (!Number.isInteger(status)) return [`unparseable answer`];
  const proxied = response.headers['server']?.startsWith('IMDS/') === true;
  const head = request?.method === 'HEAD';
  const body = parseJson(response.body);
  const error = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : undefined;
  const errorText = typeof error?.['error'] === 'string' ? error['error'] : undefined;
  const description = typeof error?.['error_description'] === 'string' ? error['error_description'] : undefined;

  if (status >= 400 && !head) {
    if (proxied) {
      const textFormat = request?.params.some(([name, value]) => name === 'format' && value === 'text') === true;
      if (body === undefined && !textFormat) problems.push(`proxied ${String(status)} without a JSON body`);
    } else if (errorText === undefined || description === undefined) {
      problems.push(`${String(status)} without a JSON {error, error_description} body: ${JSON.stringify(response.body.slice(0, 120))}`);
    }
  }
  if (status >= 500) {
    const documented =
      head ? [500, 502, 503].includes(status)
        : // 502 means "IMDS unreachable", and this world's IMDS is always up: any 502 here is a wrong answer.
          (status === 500 && errorText === 'internal_error' && DOCUMENTED_500.test(description ?? '')) ||
          (status === 503 && (errorText === 'service_unavailable' || errorText === 'identity_not_found'));
    // Route 5 returns IMDS's own status (docs/nmi.md), so a proxied 5xx is IMDS's, not NMI's.
    if (!documented && !proxied) problems.push(`undocumented ${String(status)}: ${description ?? response.body.slice(0, 120)}`);
  }
  for (const match of response.body.matchAll(JWT)) {
    let appid: string;
    try {
      const claim = decodeJwt(match[0])['appid'];
      appid = typeof claim === 'string' ? claim.toLowerCase() : '';
    } catch {
      problems.push('a JWT-shaped value that does not decode');
      continue;
    }
    if (!identities.allowed[from].has(appid)) problems.push(`token for client ${appid.slice(0, 8)}… served to ${from}, which is not bound to it (status ${String(status)})`);
  }
  if (response.body.includes('access_token') && response.body.match(JWT) === null) problems.push('access_token without a JWT');
  return problems;
}
