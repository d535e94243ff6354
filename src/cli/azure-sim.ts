/**
 * `pod-identity azure-sim`: runs the Azure simulator standalone. Prints one JSON line on stdout when
 * every server listens (endpoints, tenant, CA), logs pino JSON to stderr, and stops cleanly on
 * SIGTERM/SIGINT (exit 0), saving the state back when `--save-state` is given. A bad argument or state
 * file exits 2 before anything starts, and never touches the file.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino, type Level, type Logger } from 'pino';
import YAML from 'yaml';
import { boolFlag, optionalStringFlag, stringFlag, type FlagDefinition, type FlagTable } from '../lib/go-flags.ts';
import { createCertificateAuthority } from '../lib/pki.ts';
import { InvalidInputError } from '../sim/admin/fields.ts';
import { LRO_KINDS, type LroKind } from '../sim/arm/operations.ts';
import { parseStateData } from '../sim/admin/state-schema.ts';
import { startAzureSimulator, type AzureSimulator } from '../sim/simulator.ts';
import type { SimStateData } from '../sim/state/model.ts';
import { EXIT_OK, EXIT_USAGE, UsageError, type Command, type CommandIo } from './command.ts';
import { parseCommandFlags, throwUsageProblems } from './shared/flags.ts';

const HELP = `Usage: pod-identity azure-sim [options]

Runs the Azure simulator (ARM and Entra ID over HTTPS, IMDS per node, admin API over HTTP) and prints
one JSON line when ready:
  {"arm","entra","admin","tenantId","caFile","caPem","imds":{"<node>":"http://…"}}

Options:
  --state FILE          initial state, JSON or YAML (a partial SimStateData)
  --save-state          write the state back to --state on exit (created if missing)
  --host ADDR           listen address (default 127.0.0.1; loopback or a test-namespace address)
  --arm-port N          (default: a free port)
  --entra-port N        (default: a free port)
  --admin-port N        (default: a free port)
  --imds NODE[=[HOST:]PORT]
                        start an IMDS for a node (VM name or VMSS computer name); repeatable
  --tenant-id GUID      tenant (default: the state file's, else random)
  --lro-vm-ms N         VM identity operation duration (default 10000)
  --lro-vmss-ms N       VMSS identity operation duration (default 40000)
  --lro-retry-after [KIND=]SECONDS
                        Retry-After of operation polls, whole seconds from 1 (default 1; real ARM
                        sends 10–60); KIND is one of ${LRO_KINDS.join(', ')}, none sets every
                        kind; repeatable
  --no-imds-limits      do not throttle IMDS (default: 20 requests/s, 5 concurrent per VM)
  --enforce-rbac        ARM checks the caller's role assignments
  --ca-out FILE         write the CA certificate there (default: a temporary file, removed on exit)
  --oidc-ca-file FILE   PEM certificates Entra ID trusts, besides the public roots, when it fetches a
                        federated credential's issuer discovery document and keys (a test cluster's
                        API server CA); repeatable (admin POST /options {"oidcCaPems"} at runtime)
  --log-level LEVEL     fatal|error|warn|info|debug|trace (default info); logs go to stderr
  -h, --help            show this help
`;

const LOG_LEVELS: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

/** One `--imds` listener. */
export interface ImdsSpec {
  readonly node: string;
  readonly host?: string;
  readonly port?: number;
}

/** Parsed, checked command line. */
export interface AzureSimConfig {
  readonly statePath?: string;
  readonly saveState: boolean;
  readonly host: string;
  readonly armPort?: number;
  readonly entraPort?: number;
  readonly adminPort?: number;
  readonly imds: readonly ImdsSpec[];
  readonly tenantId?: string;
  readonly lroDurationMs: { readonly vm?: number; readonly vmss?: number };
  readonly lroRetryAfterSeconds: Partial<Record<LroKind, number>>;
  readonly imdsLimits: boolean;
  readonly enforceRbac: boolean;
  readonly caOut?: string;
  /** `--oidc-ca-file`, in order given. */
  readonly oidcCaFiles: readonly string[];
  readonly logLevel: Level;
  readonly help: boolean;
}

function integer(value: string | undefined, flag: string, min: number, max: number, problems: string[]): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isInteger(parsed) || parsed < min || parsed > max) {
    problems.push(`${flag} must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
    return undefined;
  }
  return parsed;
}

/** `node`, `node=PORT`, `node=HOST:PORT`, `node=[v6]:PORT`. */
function parseImds(spec: string, problems: string[]): ImdsSpec | undefined {
  const eq = spec.indexOf('=');
  const node = eq === -1 ? spec : spec.slice(0, eq);
  if (node === '' || /[\s/]/.test(node)) {
    problems.push(`--imds ${JSON.stringify(spec)}: expected NODE[=[HOST:]PORT]`);
    return undefined;
  }
  if (eq === -1) return { node };
  const address = spec.slice(eq + 1);
  const match = /^(?:\[([^\]]+)\]:|([^:]+):)?(\d+)$/.exec(address);
  if (match === null) {
    problems.push(`--imds ${JSON.stringify(spec)}: expected NODE[=[HOST:]PORT]`);
    return undefined;
  }
  const port = integer(match[3], `--imds ${node} port`, 0, 65_535, problems);
  const host = match[1] ?? match[2];
  return { node, ...(host !== undefined ? { host } : {}), ...(port !== undefined ? { port } : {}) };
}

/** `SECONDS` (every kind) or `KIND=SECONDS`, later ones winning. */
function parseRetryAfter(specs: readonly string[], problems: string[]): Partial<Record<LroKind, number>> {
  const seconds: Partial<Record<LroKind, number>> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const kindName = eq === -1 ? undefined : spec.slice(0, eq);
    const kind = LRO_KINDS.find((known) => known === kindName);
    if (kindName !== undefined && kind === undefined) {
      problems.push(`--lro-retry-after ${JSON.stringify(spec)}: unknown kind ${JSON.stringify(kindName)} (known: ${LRO_KINDS.join(', ')})`);
      continue;
    }
    // 0 is refused: go-autorest then polls without pause (the simulator never sends it).
    const value = integer(spec.slice(eq + 1), '--lro-retry-after seconds', 1, 3_600, problems);
    if (value === undefined) continue;
    for (const target of kind === undefined ? LRO_KINDS : [kind]) seconds[target] = value;
  }
  return seconds;
}

// The values are checked in parseAzureSimArgs (its messages name what HELP says); usages are for the table only.
const group = 'azure-sim';
const optional = (placeholder: string, usage: string): FlagDefinition<string | undefined> => optionalStringFlag({ group, placeholder, usage, defaultText: 'none' });
const FLAGS = {
  state: optional('FILE', 'initial state'),
  'save-state': boolFlag({ group, usage: 'write the state back to --state on exit' }),
  host: stringFlag({ group, placeholder: 'ADDR', usage: 'listen address', default: '127.0.0.1' }),
  'arm-port': optional('N', 'ARM port'),
  'entra-port': optional('N', 'Entra ID port'),
  'admin-port': optional('N', 'admin API port'),
  imds: optional('NODE[=[HOST:]PORT]', 'an IMDS for a node; repeatable'),
  'tenant-id': optional('GUID', 'tenant'),
  'lro-vm-ms': optional('N', 'VM identity operation duration'),
  'lro-vmss-ms': optional('N', 'VMSS identity operation duration'),
  'lro-retry-after': optional('[KIND=]SECONDS', 'Retry-After of operation polls; repeatable'),
  'no-imds-limits': boolFlag({ group, usage: 'do not throttle IMDS' }),
  'enforce-rbac': boolFlag({ group, usage: "ARM checks the caller's role assignments" }),
  'ca-out': optional('FILE', 'where to write the CA certificate'),
  'oidc-ca-file': optional('FILE', 'PEM certificates trusted for OIDC issuers; repeatable'),
  'log-level': stringFlag({ group, placeholder: 'LEVEL', usage: 'log level', default: 'info' }),
} as const satisfies FlagTable;

/** Parses the command line; throws {@link UsageError} listing every problem. */
export function parseAzureSimArgs(argv: readonly string[]): AzureSimConfig {
  const parsed = parseCommandFlags(FLAGS, argv);
  const { values, problems } = parsed;
  // --imds, --lro-retry-after and --oidc-ca-file repeat: every occurrence counts.
  const repeated = (name: 'imds' | 'lro-retry-after' | 'oidc-ca-file'): readonly string[] => parsed.occurrences.get(name) ?? [];
  const logLevel = LOG_LEVELS.find((level) => level === values['log-level']);
  if (logLevel === undefined) problems.push(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  if (['0.0.0.0', '::', ''].includes(values.host)) problems.push(`--host ${JSON.stringify(values.host)}: a wildcard address would expose the simulator; give a loopback or test-namespace address`);
  if (values['save-state'] && values.state === undefined) problems.push('--save-state needs --state FILE');
  const tenantId = values['tenant-id'];
  if (tenantId !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(tenantId)) problems.push('--tenant-id must be a GUID');
  const imds = repeated('imds').map((spec) => parseImds(spec, problems)).filter((spec) => spec !== undefined);
  const nodes = new Set<string>();
  for (const spec of imds) {
    if (nodes.has(spec.node.toLowerCase())) problems.push(`--imds ${spec.node} given twice`);
    nodes.add(spec.node.toLowerCase());
  }
  const config: AzureSimConfig = {
    ...(values.state !== undefined ? { statePath: values.state } : {}),
    saveState: values['save-state'],
    host: values.host,
    armPort: integer(values['arm-port'], '--arm-port', 0, 65_535, problems),
    entraPort: integer(values['entra-port'], '--entra-port', 0, 65_535, problems),
    adminPort: integer(values['admin-port'], '--admin-port', 0, 65_535, problems),
    imds,
    ...(tenantId !== undefined ? { tenantId } : {}),
    lroDurationMs: {
      vm: integer(values['lro-vm-ms'], '--lro-vm-ms', 0, 3_600_000, problems),
      vmss: integer(values['lro-vmss-ms'], '--lro-vmss-ms', 0, 3_600_000, problems),
    },
    lroRetryAfterSeconds: parseRetryAfter(repeated('lro-retry-after'), problems),
    imdsLimits: !values['no-imds-limits'],
    enforceRbac: values['enforce-rbac'],
    ...(values['ca-out'] !== undefined ? { caOut: values['ca-out'] } : {}),
    oidcCaFiles: repeated('oidc-ca-file'),
    logLevel: logLevel ?? 'info',
    help: parsed.helpRequested,
  };
  throwUsageProblems(problems);
  return config;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

/** The `--oidc-ca-file` contents; throws {@link UsageError} naming a file that is unreadable or holds no PEM certificate. */
export async function readOidcCaFiles(files: readonly string[]): Promise<string[]> {
  const pems: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new UsageError(`--oidc-ca-file ${file} cannot be read: ${(error as Error).message}`, { cause: error });
    }
    if (!PEM_CERTIFICATE.test(text)) throw new UsageError(`--oidc-ca-file ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    pems.push(text);
  }
  return pems;
}

const isYaml = (file: string): boolean => /\.ya?ml$/i.test(file);

/**
 * Reads and checks the state file. Missing is fine only with `--save-state` (it starts empty and is
 * created on exit). Throws {@link UsageError} with the file name and every problem.
 */
export async function loadStateFile(file: string, mayBeMissing: boolean, tenantId: string | undefined): Promise<Partial<SimStateData>> {
  if (!existsSync(file)) {
    if (mayBeMissing) return {};
    throw new UsageError(`state file ${file} does not exist (add --save-state to start empty and create it on exit)`);
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`state file ${file} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  let document: unknown;
  try {
    document = isYaml(file) ? YAML.parse(text) : JSON.parse(text);
  } catch (error) {
    throw new UsageError(`state file ${file} is not valid ${isYaml(file) ? 'YAML' : 'JSON'}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const state = parseStateData(document ?? {}, tenantId ?? randomUUID());
    if (tenantId !== undefined && state.tenantId !== undefined && state.tenantId.toLowerCase() !== tenantId.toLowerCase()) {
      throw new InvalidInputError('invalid state', [`tenantId: ${state.tenantId} differs from --tenant-id ${tenantId}`]);
    }
    return state;
  } catch (error) {
    if (error instanceof InvalidInputError) throw new UsageError(`state file ${file}: ${error.message}`, { cause: error });
    throw error;
  }
}

/** Writes the state atomically (temporary file + rename), in the file's own format. */
async function saveStateFile(file: string, state: SimStateData): Promise<void> {
  const text = isYaml(file) ? YAML.stringify(state) : `${JSON.stringify(state, null, 2)}\n`;
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode: 0o600 }); // holds client secrets
  await rename(temporary, file);
}

function waitForAbort(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => { resolve(); }, { once: true });
  });
}

async function run(argv: readonly string[], io: CommandIo): Promise<number> {
  let config: AzureSimConfig;
  let state: Partial<SimStateData> = {};
  let oidcCaPems: string[];
  try {
    config = parseAzureSimArgs(argv);
    if (config.help) {
      io.stdout.write(HELP);
      return EXIT_OK;
    }
    if (config.statePath !== undefined) state = await loadStateFile(config.statePath, config.saveState, config.tenantId);
    oidcCaPems = await readOidcCaFiles(config.oidcCaFiles);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`pod-identity azure-sim: ${error.message}\n`);
    return EXIT_USAGE;
  }

  const logger: Logger = pino({ level: config.logLevel, base: { component: 'azure-sim' } }, pino.destination({ fd: 2, sync: true }));
  const ca = createCertificateAuthority('pod-identity azure-sim CA');
  const caDir = config.caOut === undefined ? await mkdtemp(path.join(tmpdir(), 'pod-identity-azure-sim-')) : undefined;
  const caFile = config.caOut ?? path.join(caDir ?? '', 'ca.pem');
  let sim: AzureSimulator | undefined;
  try {
    await writeFile(caFile, ca.certPem);
    sim = await startAzureSimulator({
      host: config.host,
      ...(config.armPort !== undefined ? { armPort: config.armPort } : {}),
      ...(config.entraPort !== undefined ? { entraPort: config.entraPort } : {}),
      ...(config.adminPort !== undefined ? { adminPort: config.adminPort } : {}),
      ...(config.tenantId !== undefined ? { tenantId: config.tenantId } : {}),
      state,
      lroDurationMs: { vm: config.lroDurationMs.vm ?? 10_000, vmss: config.lroDurationMs.vmss ?? 40_000 },
      lroRetryAfterSeconds: config.lroRetryAfterSeconds,
      ...(config.imdsLimits ? {} : { imdsLimits: false }),
      enforceRbac: config.enforceRbac,
      ...(oidcCaPems.length > 0 ? { oidcCaPems } : {}),
      ca,
      logger,
    });
    const imds: Record<string, string> = {};
    for (const spec of config.imds) {
      const listener = await sim.startImds(spec.node, { ...(spec.host !== undefined ? { host: spec.host } : {}), ...(spec.port !== undefined ? { port: spec.port } : {}) });
      imds[spec.node] = listener.url;
    }
    const ready = { arm: sim.armUrl, entra: sim.entraUrl, admin: sim.adminUrl, tenantId: sim.tenantId, caFile, caPem: ca.certPem, imds };
    io.stdout.write(`${JSON.stringify(ready)}\n`);
    logger.info({ arm: sim.armUrl, entra: sim.entraUrl, admin: sim.adminUrl, imds, tenantId: sim.tenantId }, 'azure simulator ready');

    await waitForAbort(io.shutdown);
    logger.info({ signal: String(io.shutdown.reason) }, 'stopping');
    await sim.stop();
    if (config.saveState && config.statePath !== undefined) {
      await saveStateFile(config.statePath, sim.store.snapshot());
      logger.info({ file: config.statePath }, 'state saved');
    }
    return EXIT_OK;
  } finally {
    await sim?.stop();
    if (caDir !== undefined) await rm(caDir, { recursive: true, force: true });
  }
}

export const azureSimCommand: Command = {
  summary: 'run the Azure simulator (ARM, Entra ID, IMDS, admin API) until SIGTERM',
  run,
};
