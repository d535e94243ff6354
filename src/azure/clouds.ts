/**
 * Azure clouds by name, as go-autorest resolves them for the archived MIC
 * (aad-pod-identity-behaviour.md §2.6): the public, China and US Government clouds are built in
 * (names case-insensitive, go-autorest's aliases included); `AzureStackCloud` is read from the
 * go-autorest environment JSON named by `AZURE_ENVIRONMENT_FILEPATH`. Endpoints given in the cloud
 * config (`resourceManagerEndpoint`, `activeDirectoryEndpoint`, `armAudience`) override the cloud's —
 * that is how the simulator and other private endpoints are reached.
 * @module
 */
import { readFile as readFileFromDisk } from 'node:fs/promises';
import { PodIdentityError } from '../lib/errors.ts';

/** What a client needs to reach one Azure cloud's Resource Manager and Entra ID. */
export interface ResolvedCloud {
  /** Canonical name (e.g. `AzurePublicCloud`), or the name in the environment file for Azure Stack. */
  readonly name: string;
  /** `https://management.azure.com` — no trailing slash. */
  readonly resourceManagerEndpoint: string;
  /** Entra ID authority host, e.g. `https://login.microsoftonline.com` — no trailing slash. */
  readonly authorityHost: string;
  /** Audience (v1 resource) of ARM tokens, e.g. `https://management.azure.com/`. */
  readonly armAudience: string;
  /** The v2 scope for {@link armAudience}: `https://management.azure.com/.default`. */
  readonly armScope: string;
  /**
   * Whether MSAL knows the authority host (built-in metadata, no discovery). Unknown hosts need
   * `disableInstanceDiscovery`, or MSAL asks the public cloud about them (azure-protocols.md §5.4).
   */
  readonly knownAuthorityHost: boolean;
}

/** A cloud as go-autorest's `Environment` describes it (the fields we use). */
export interface CloudEnvironment {
  readonly name: string;
  readonly resourceManagerEndpoint: string;
  readonly activeDirectoryEndpoint: string;
  readonly tokenAudience: string;
}

/** Endpoint overrides from the cloud config. */
export interface CloudOverrides {
  /** Cloud name; empty/undefined = `AzurePublicCloud` (as upstream). */
  readonly cloud?: string | undefined;
  readonly resourceManagerEndpoint?: string | undefined;
  readonly activeDirectoryEndpoint?: string | undefined;
  readonly armAudience?: string | undefined;
}

export const AZURE_PUBLIC_CLOUD: CloudEnvironment = {
  name: 'AzurePublicCloud',
  resourceManagerEndpoint: 'https://management.azure.com/',
  activeDirectoryEndpoint: 'https://login.microsoftonline.com/',
  tokenAudience: 'https://management.azure.com/',
};

export const AZURE_CHINA_CLOUD: CloudEnvironment = {
  name: 'AzureChinaCloud',
  resourceManagerEndpoint: 'https://management.chinacloudapi.cn/',
  activeDirectoryEndpoint: 'https://login.chinacloudapi.cn/',
  tokenAudience: 'https://management.chinacloudapi.cn/',
};

export const AZURE_US_GOVERNMENT_CLOUD: CloudEnvironment = {
  name: 'AzureUSGovernmentCloud',
  resourceManagerEndpoint: 'https://management.usgovcloudapi.net/',
  activeDirectoryEndpoint: 'https://login.microsoftonline.us/',
  tokenAudience: 'https://management.usgovcloudapi.net/',
};

export const AZURE_STACK_CLOUD_NAME = 'AzureStackCloud';
/** The variable naming Azure Stack's environment file (go-autorest `EnvironmentFilepathName`). */
export const AZURE_ENVIRONMENT_FILEPATH = 'AZURE_ENVIRONMENT_FILEPATH';

/** Upper-cased names and aliases, as go-autorest's `EnvironmentFromName` matches them. */
const BUILT_IN: ReadonlyMap<string, CloudEnvironment> = new Map([
  ['AZUREPUBLICCLOUD', AZURE_PUBLIC_CLOUD],
  ['AZURECLOUD', AZURE_PUBLIC_CLOUD],
  ['AZURECHINACLOUD', AZURE_CHINA_CLOUD],
  ['AZUREUSGOVERNMENTCLOUD', AZURE_US_GOVERNMENT_CLOUD],
  ['AZUREUSGOVERNMENT', AZURE_US_GOVERNMENT_CLOUD],
]);

/**
 * Entra hosts with metadata built into MSAL (msal-common `AuthorityMetadata`); anything else is
 * "unknown" to it. Lower-case host names.
 */
const MSAL_KNOWN_HOSTS: ReadonlySet<string> = new Set([
  'login.microsoftonline.com',
  'login.windows.net',
  'login.microsoft.com',
  'sts.windows.net',
  'login.partner.microsoftonline.cn',
  'login.chinacloudapi.cn',
  'login.microsoftonline.us',
  'login.usgovcloudapi.net',
  'login-us.microsoftonline.com',
]);

/** A cloud name or environment file that cannot be used. */
export class CloudResolutionError extends PodIdentityError {
  constructor(message: string, options?: ErrorOptions) {
    super('PI_CLOUD_UNKNOWN', message, options);
  }
}

/** The names {@link resolveCloud} accepts (canonical spellings). */
export const SUPPORTED_CLOUD_NAMES: readonly string[] = ['AzurePublicCloud', 'AzureChinaCloud', 'AzureUSGovernmentCloud', AZURE_STACK_CLOUD_NAME];

/** Whether `name` is a cloud {@link resolveCloud} knows (empty = public). */
export function isKnownCloudName(name: string | undefined): boolean {
  if (name === undefined || name.trim() === '') return true;
  const upper = name.trim().toUpperCase();
  return BUILT_IN.has(upper) || upper === AZURE_STACK_CLOUD_NAME.toUpperCase();
}

/** A built-in cloud by name (case-insensitive); undefined for Azure Stack and unknown names. */
export function builtInCloud(name: string | undefined): CloudEnvironment | undefined {
  if (name === undefined || name.trim() === '') return AZURE_PUBLIC_CLOUD;
  return BUILT_IN.get(name.trim().toUpperCase());
}

/** `https://host[:port][/path]` without the trailing slash; throws for anything but https. */
export function normalizeHttpsEndpoint(value: string, what: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CloudResolutionError(`${what}: ${JSON.stringify(value)} is not a URL`);
  }
  // Bearer tokens are only sent over TLS (core-rest-pipeline and @azure/identity refuse http: azure-protocols.md §7).
  if (url.protocol !== 'https:') throw new CloudResolutionError(`${what}: ${JSON.stringify(value)} must be an https URL`);
  if (url.search !== '' || url.hash !== '') throw new CloudResolutionError(`${what}: ${JSON.stringify(value)} must not have a query or fragment`);
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

/** v2 scope of a v1 resource/audience: `<audience without trailing slashes>/.default`. */
export function scopeForAudience(audience: string): string {
  return `${audience.replace(/\/+$/, '')}/.default`;
}

/**
 * Parses a go-autorest environment file (Azure Stack). Go's JSON decoding matches field names
 * case-insensitively, so this does too. `resourceManagerEndpoint`, `activeDirectoryEndpoint` and
 * `tokenAudience` are required.
 */
export function parseEnvironmentFile(text: string, path: string): CloudEnvironment {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new CloudResolutionError(`Azure environment file ${path}: not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new CloudResolutionError(`Azure environment file ${path}: must be a JSON object`);
  const fields = new Map(Object.entries(parsed as Record<string, unknown>).map(([key, value]) => [key.toLowerCase(), value] as const));
  const problems: string[] = [];
  const stringField = (field: string, required: boolean): string => {
    const value = fields.get(field.toLowerCase());
    if (typeof value === 'string' && value.trim() !== '') return value.trim();
    if (value !== undefined && typeof value !== 'string') problems.push(`${field}: must be a string`);
    else if (required) problems.push(`${field}: required`);
    return '';
  };
  const environment = {
    name: stringField('name', false) || AZURE_STACK_CLOUD_NAME,
    resourceManagerEndpoint: stringField('resourceManagerEndpoint', true),
    activeDirectoryEndpoint: stringField('activeDirectoryEndpoint', true),
    tokenAudience: stringField('tokenAudience', true),
  };
  if (problems.length > 0) throw new CloudResolutionError(`Azure environment file ${path}: ${problems.join('; ')}`);
  return environment;
}

export interface ResolveCloudOptions {
  /** Where `AZURE_ENVIRONMENT_FILEPATH` is read from (pass `process.env` from main). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Reads the environment file; default `fs.readFile(path, 'utf8')`. */
  readonly readFile?: (path: string) => Promise<string>;
}

/**
 * The endpoints to use: the named cloud (Azure Stack from its environment file), then the config's
 * overrides. Throws {@link CloudResolutionError} for unknown names, a missing or bad environment file,
 * or endpoints that are not https URLs.
 */
export async function resolveCloud(overrides: CloudOverrides, options: ResolveCloudOptions = {}): Promise<ResolvedCloud> {
  const name = overrides.cloud?.trim() ?? '';
  let environment = builtInCloud(name);
  if (environment === undefined && name.toUpperCase() === AZURE_STACK_CLOUD_NAME.toUpperCase()) {
    const path = options.env?.[AZURE_ENVIRONMENT_FILEPATH]?.trim() ?? '';
    if (path === '') throw new CloudResolutionError(`cloud ${name}: ${AZURE_ENVIRONMENT_FILEPATH} must name the Azure Stack environment file`);
    let text: string;
    try {
      text = await (options.readFile ?? ((file) => readFileFromDisk(file, 'utf8')))(path);
    } catch (error) {
      throw new CloudResolutionError(`cloud ${name}: cannot read Azure environment file ${path} (${AZURE_ENVIRONMENT_FILEPATH}): ${(error as Error).message}`, { cause: error });
    }
    environment = parseEnvironmentFile(text, path);
  }
  if (environment === undefined) {
    const retired = name.toUpperCase() === 'AZUREGERMANCLOUD' ? ' (Azure Germany was retired in October 2021)' : '';
    throw new CloudResolutionError(`cloud ${JSON.stringify(name)} is not known${retired}; use one of ${SUPPORTED_CLOUD_NAMES.join(', ')} (case-insensitive)`);
  }
  const resourceManagerEndpoint = normalizeHttpsEndpoint(overrides.resourceManagerEndpoint ?? environment.resourceManagerEndpoint, 'resourceManagerEndpoint');
  const authorityHost = normalizeHttpsEndpoint(overrides.activeDirectoryEndpoint ?? environment.activeDirectoryEndpoint, 'activeDirectoryEndpoint');
  const armAudience = overrides.armAudience ?? environment.tokenAudience;
  return Object.freeze({
    name: environment.name,
    resourceManagerEndpoint,
    authorityHost,
    armAudience,
    armScope: scopeForAudience(armAudience),
    knownAuthorityHost: MSAL_KNOWN_HOSTS.has(new URL(authorityHost).hostname.toLowerCase()),
  });
}
