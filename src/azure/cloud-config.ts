/**
 * The cloud config MIC authenticates and addresses ARM with: `azure.json` (read with a YAML parser,
 * so JSON and YAML both work, as upstream), or — when no file is given — upstream's environment
 * variables (aad-pod-identity-behaviour.md §2.9). Parsed once into a frozen {@link CloudConfig};
 * every problem is reported at once, naming the file and the field (or the variable). The client
 * secret is a {@link Secret}: it never shows in JSON, pino or `util.inspect` output.
 *
 * Extensions beyond upstream, for private clouds and the simulator: `resourceManagerEndpoint`,
 * `activeDirectoryEndpoint`, `armAudience` and `caFile` (env: `AZURE_RESOURCE_MANAGER_ENDPOINT`,
 * `AZURE_AUTHORITY_HOST`, `AZURE_ARM_AUDIENCE`, `AZURE_CA_FILE`).
 * @module
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { TerminalError } from '../lib/errors.ts';
import { CloudResolutionError, isKnownCloudName, normalizeHttpsEndpoint, SUPPORTED_CLOUD_NAMES } from './clouds.ts';
import { Secret } from './secret.ts';

export interface CloudConfig {
  /** Where the config came from: the file path, or {@link ENVIRONMENT_SOURCE}. */
  readonly source: string;
  /** go-autorest cloud name as given; '' means `AzurePublicCloud` (see clouds.ts). */
  readonly cloud: string;
  /** Entra tenant; required for a service principal. */
  readonly tenantId: string | undefined;
  readonly subscriptionId: string;
  /** Node resource group: where the VMs and scale sets are. */
  readonly resourceGroup: string;
  readonly location: string | undefined;
  /** `standard`, `vmss`, … — parsed but unused, as upstream (the node's providerID decides). */
  readonly vmType: string | undefined;
  /** Authenticate with the node's managed identity (IMDS) instead of a service principal. */
  readonly useManagedIdentityExtension: boolean;
  /** Client ID of the cluster's user-assigned identity (managed-identity mode); MIC never removes it from nodes. */
  readonly userAssignedIdentityID: string | undefined;
  /** Service principal client ID; AKS writes the placeholder `msi` in managed-identity mode. */
  readonly aadClientId: string | undefined;
  /** Service principal secret; print-safe. */
  readonly aadClientSecret: Secret | undefined;
  /** ARM endpoint override (https). */
  readonly resourceManagerEndpoint: string | undefined;
  /** Entra ID authority host override (https). */
  readonly activeDirectoryEndpoint: string | undefined;
  /** ARM token audience override (v1 resource; the v2 scope is `<audience>/.default`). */
  readonly armAudience: string | undefined;
  /** PEM file of extra CA certificates to trust for ARM and Entra ID (absolute path). */
  readonly caFile: string | undefined;
}

export const ENVIRONMENT_SOURCE = 'environment';

/** A config that cannot be used; `problems` lists each one as `<field or variable>: <what is wrong>`. */
export class CloudConfigError extends TerminalError {
  readonly source: string;
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[], options?: ErrorOptions) {
    const where = source === ENVIRONMENT_SOURCE ? 'cloud config from environment variables' : `cloud config ${source}`;
    super(`${where}: ${problems.join('; ')}`, { ...options, code: 'PI_CLOUD_CONFIG_INVALID' });
    this.source = source;
    this.problems = problems;
  }
}

type Field = Exclude<keyof CloudConfig, 'source'>;

/** The environment variable of each field (upstream's names; the last four are our extensions). */
export const CLOUD_CONFIG_ENV: Readonly<Record<Field, string | undefined>> = {
  cloud: 'CLOUD',
  tenantId: 'TENANT_ID',
  aadClientId: 'CLIENT_ID',
  aadClientSecret: 'CLIENT_SECRET',
  subscriptionId: 'SUBSCRIPTION_ID',
  resourceGroup: 'RESOURCE_GROUP',
  vmType: 'VM_TYPE',
  useManagedIdentityExtension: 'USE_MSI',
  userAssignedIdentityID: 'USER_ASSIGNED_MSI_CLIENT_ID',
  location: undefined,
  resourceManagerEndpoint: 'AZURE_RESOURCE_MANAGER_ENDPOINT',
  activeDirectoryEndpoint: 'AZURE_AUTHORITY_HOST',
  armAudience: 'AZURE_ARM_AUDIENCE',
  caFile: 'AZURE_CA_FILE',
};

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Raw values by field, plus how to name a field in a message. */
interface RawSource {
  readonly source: string;
  get(field: Field): unknown;
  label(field: Field): string;
  /** Base for a relative `caFile`. */
  readonly baseDir: string;
}

/** Collects problems while reading typed fields. */
class FieldReader {
  readonly problems: string[] = [];
  private readonly raw: RawSource;

  constructor(raw: RawSource) {
    this.raw = raw;
  }

  problem(field: Field, text: string): void {
    this.problems.push(`${this.raw.label(field)}: ${text}`);
  }

  /** Trimmed string; '' and absent are undefined. */
  string(field: Field): string | undefined {
    const value = this.raw.get(field);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') {
      // YAML reads unquoted 0123 or 1e3 as numbers; Go's decoder rejected them for string fields too.
      this.problem(field, `must be a string, got ${typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`} (quote the value)`);
      return undefined;
    }
    const trimmed = value.trim();
    return trimmed === '' ? undefined : trimmed;
  }

  boolean(field: Field): boolean {
    const value = this.raw.get(field);
    if (value === undefined || value === null) return false;
    if (typeof value === 'boolean') return value;
    this.problem(field, `must be true or false, got ${JSON.stringify(value)}`);
    return false;
  }

  /** Absent, null or blank — not merely of the wrong type (that is reported on its own). */
  missing(field: Field): boolean {
    const value = this.raw.get(field);
    return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
  }

  /** A name that goes into ARM URLs: required, no slashes. */
  pathSegment(field: Field): string {
    const value = this.string(field);
    if (value === undefined) {
      if (this.missing(field)) this.problem(field, 'required');
      return '';
    }
    if (/[/?#\s]/.test(value)) this.problem(field, `${JSON.stringify(value)} must not contain '/', '?', '#' or spaces`);
    return value;
  }

  guid(field: Field): string | undefined {
    const value = this.string(field);
    if (value !== undefined && !GUID.test(value)) this.problem(field, `${JSON.stringify(value)} is not a GUID (client ID)`);
    return value;
  }

  httpsUrl(field: Field): string | undefined {
    const value = this.string(field);
    if (value === undefined) return undefined;
    try {
      return normalizeHttpsEndpoint(value, this.raw.label(field));
    } catch (error) {
      if (!(error instanceof CloudResolutionError)) throw error;
      this.problems.push(error.message);
      return undefined;
    }
  }

  filePath(field: Field): string | undefined {
    const value = this.string(field);
    return value === undefined ? undefined : path.resolve(this.raw.baseDir, value);
  }
}

/** Validates and freezes; throws {@link CloudConfigError} with every problem. */
function readCloudConfig(raw: RawSource): CloudConfig {
  const fields = new FieldReader(raw);
  const cloud = fields.string('cloud') ?? '';
  if (!isKnownCloudName(cloud)) fields.problem('cloud', `${JSON.stringify(cloud)} is not known; use one of ${SUPPORTED_CLOUD_NAMES.join(', ')}`);
  const useManagedIdentityExtension = fields.boolean('useManagedIdentityExtension');
  const tenantId = fields.string('tenantId');
  const aadClientId = fields.string('aadClientId');
  const secret = fields.string('aadClientSecret');
  if (!useManagedIdentityExtension) {
    const why = `required for a service principal (${raw.label('useManagedIdentityExtension')} is not true)`;
    for (const field of ['tenantId', 'aadClientId', 'aadClientSecret'] as const) if (fields.missing(field)) fields.problem(field, why);
  }
  const config: CloudConfig = {
    source: raw.source,
    cloud,
    tenantId,
    subscriptionId: fields.pathSegment('subscriptionId'),
    resourceGroup: fields.pathSegment('resourceGroup'),
    location: fields.string('location'),
    vmType: fields.string('vmType'),
    useManagedIdentityExtension,
    userAssignedIdentityID: fields.guid('userAssignedIdentityID'),
    aadClientId,
    aadClientSecret: secret === undefined ? undefined : new Secret(secret),
    resourceManagerEndpoint: fields.httpsUrl('resourceManagerEndpoint'),
    activeDirectoryEndpoint: fields.httpsUrl('activeDirectoryEndpoint'),
    armAudience: fields.string('armAudience'),
    caFile: fields.filePath('caFile'),
  };
  if (fields.problems.length > 0) throw new CloudConfigError(raw.source, fields.problems);
  return Object.freeze(config);
}

/**
 * Parses the text of an azure.json (JSON or YAML). Keys match case-insensitively when there is no
 * exact match, as Go's JSON decoder did for upstream; unknown keys (azure.json has many) are ignored.
 * `source` names the file in errors; a relative `caFile` is resolved against its directory.
 */
export function parseCloudConfig(text: string, source: string): CloudConfig {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new CloudConfigError(source, [`not valid JSON or YAML: ${(error as Error).message}`], { cause: error });
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new CloudConfigError(source, ['must be a JSON object / YAML mapping']);
  }
  const entries = document as Record<string, unknown>;
  const lowerCased = new Map(Object.entries(entries).map(([key, value]) => [key.toLowerCase(), value] as const));
  return readCloudConfig({
    source,
    get: (field) => (Object.hasOwn(entries, field) ? entries[field] : lowerCased.get(field.toLowerCase())),
    label: (field) => field,
    baseDir: path.dirname(path.resolve(source)),
  });
}

/**
 * Upstream's fallback when no cloud config file is given: `CLOUD`, `TENANT_ID`, `CLIENT_ID`,
 * `CLIENT_SECRET`, `SUBSCRIPTION_ID`, `RESOURCE_GROUP`, `VM_TYPE`, `USE_MSI` (true when it equals
 * "true" case-insensitively, anything else is false), `USER_ASSIGNED_MSI_CLIENT_ID`, plus our
 * extensions (see the module comment). Errors name the variables.
 */
export function cloudConfigFromEnv(env: Readonly<Record<string, string | undefined>>): CloudConfig {
  const variable = (field: Field): string | undefined => CLOUD_CONFIG_ENV[field];
  return readCloudConfig({
    source: ENVIRONMENT_SOURCE,
    get: (field) => {
      const name = variable(field);
      const value = name === undefined ? undefined : env[name];
      if (field === 'useManagedIdentityExtension') return value?.trim().toLowerCase() === 'true';
      return value;
    },
    label: (field) => variable(field) ?? field,
    baseDir: process.cwd(),
  });
}

/** Reads and parses a cloud config file; unreadable files are a {@link CloudConfigError} too. */
export async function readCloudConfigFile(file: string): Promise<CloudConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CloudConfigError(file, [`cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`], { cause: error });
  }
  return parseCloudConfig(text, file);
}

/** `--cloudconfig` semantics: the file when a path is given, else the environment variables. */
export async function loadCloudConfig(options: { path?: string | undefined; env: Readonly<Record<string, string | undefined>> }): Promise<CloudConfig> {
  const file = options.path?.trim() ?? '';
  return file === '' ? cloudConfigFromEnv(options.env) : readCloudConfigFile(file);
}

/** Whether two configs are the same, secret included (for change detection). */
export function sameCloudConfig(a: CloudConfig, b: CloudConfig): boolean {
  const fields = Object.keys(CLOUD_CONFIG_ENV) as Field[];
  return (
    a.source === b.source &&
    fields.every((field) => {
      if (field === 'aadClientSecret') return a.aadClientSecret === undefined ? b.aadClientSecret === undefined : a.aadClientSecret.equals(b.aadClientSecret);
      return a[field] === b[field];
    })
  );
}
