/**
 * Typed client of the simulator's admin API (admin/index.ts) over fetch: what tests and tools use to
 * seed Azure, read the request log and inject faults in a simulator running in another process.
 * @module
 */
import type { AdminErrorBody } from './admin/errors.ts';
import type { FederatedCredentialSeed, IdentitySeed, ResourceGroupSeed, RoleAssignmentSeed, ServicePrincipalSeed, VmSeed, VmssSeed } from './admin/seeds.ts';
import type { SimSettingsData, SimSettingsPatch } from './admin/settings.ts';
import type { LroKind } from './arm/operations.ts';
import type { LroPollEntry } from './arm/poll-log.ts';
import type { FaultRule, FaultRuleInput } from './faults/types.ts';
import type { RequestLogEntry } from './http/request-log.ts';
import type { FederatedIdentityCredential, RoleAssignment, ServicePrincipal, SimStateData, UserAssignedIdentity, VirtualMachine, VirtualMachineScaleSet } from './state/model.ts';

export type { LroPollEntry } from './arm/poll-log.ts';
export type { FederatedCredentialSeed, IdentitySeed, ResourceGroupSeed, RoleAssignmentSeed, ServicePrincipalSeed, VmSeed, VmssSeed } from './admin/seeds.ts';

/** A seeded federated credential with its ARM ID and its identity's. */
export type SeededFederatedCredential = FederatedIdentityCredential & { readonly id: string; readonly identityId: string };

/** Filters of `GET /requests` (all optional, all must hold). */
export interface RequestQuery {
  /** `arm`, `entra`, `admin`, `imds:<node>`, or `imds` for every node. */
  readonly service?: string;
  readonly node?: string;
  readonly method?: string;
  /** Substring of the path, case-insensitive. */
  readonly path?: string;
  /** Regular expression on the path, case-insensitive. */
  readonly pathRegex?: string;
  readonly status?: number;
  /** Only entries with a greater `seq`. */
  readonly since?: number;
  readonly faulted?: boolean;
  /** The most recent N. */
  readonly limit?: number;
}

/** A non-2xx answer of the admin API. */
export class SimAdminError extends Error {
  readonly status: number;
  readonly code: string;
  readonly problems: readonly string[];
  constructor(status: number, code: string, message: string, problems: readonly string[] = []) {
    super(message);
    this.name = 'SimAdminError';
    this.status = status;
    this.code = code;
    this.problems = problems;
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;

export class SimAdminClient {
  readonly baseUrl: string;

  /** `baseUrl`: the simulator's `adminUrl` (`http://127.0.0.1:<port>`). */
  constructor(baseUrl: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  private async call<T>(method: string, path: string, body?: unknown, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<T> {
    const url = `${this.baseUrl}${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new Error(`azure-sim admin: ${method} ${url}: ${(error as Error).message}`, { cause: error });
    }
    const text = await response.text();
    if (!response.ok) {
      let parsed: Partial<AdminErrorBody> = {};
      try {
        parsed = JSON.parse(text) as Partial<AdminErrorBody>;
      } catch {
        // not JSON: report the raw text below
      }
      const error = parsed.error;
      throw new SimAdminError(
        response.status,
        error?.code ?? `HTTP${response.status}`,
        `azure-sim admin: ${method} ${path}: ${response.status} ${error?.message ?? text}`,
        error?.problems ?? [],
      );
    }
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  healthz(): Promise<{ ok: boolean }> {
    return this.call('GET', '/healthz');
  }

  /** A snapshot of the whole simulated Azure. */
  getState(): Promise<SimStateData> {
    return this.call('GET', '/state');
  }

  /** Replaces the whole state (generated fields may be left out); returns it as stored. */
  putState(state: Partial<SimStateData> | Record<string, unknown>): Promise<SimStateData> {
    return this.call('PUT', '/state', state);
  }

  seedResourceGroup(seed: ResourceGroupSeed): Promise<{ subscriptionId: string; resourceGroup: string; id: string }> {
    return this.call('POST', '/seed/resource-group', seed);
  }

  seedIdentity(seed: IdentitySeed): Promise<UserAssignedIdentity> {
    return this.call('POST', '/seed/identity', seed);
  }

  seedVm(seed: VmSeed): Promise<VirtualMachine> {
    return this.call('POST', '/seed/vm', seed);
  }

  /** A federated identity credential on an existing identity (`audiences` default `[api://AzureADTokenExchange]`). */
  seedFederatedCredential(seed: FederatedCredentialSeed): Promise<SeededFederatedCredential> {
    return this.call('POST', '/seed/federated-credential', seed);
  }

  /** Instances get AKS computer names: `<scale set name>` + 6 base-36 digits. */
  seedVmss(seed: VmssSeed): Promise<VirtualMachineScaleSet> {
    return this.call('POST', '/seed/vmss', seed);
  }

  /** The response includes the (possibly generated) secret. */
  seedServicePrincipal(seed: ServicePrincipalSeed): Promise<ServicePrincipal> {
    return this.call('POST', '/seed/service-principal', seed);
  }

  seedRoleAssignment(seed: RoleAssignmentSeed): Promise<RoleAssignment> {
    return this.call('POST', '/seed/role-assignment', seed);
  }

  /** Deletes an identity "in Azure": VMs/VMSS keep its ID, dangling. */
  async deleteIdentity(id: string): Promise<void> {
    await this.call('DELETE', `/identities?id=${encodeURIComponent(id)}`);
  }

  /** Request log entries, oldest first, and the latest sequence number. */
  requests(query: RequestQuery = {}): Promise<{ lastSeq: number; entries: RequestLogEntry[] }> {
    return this.call('GET', `/requests${toSearch(query)}`);
  }

  /** The first entry (held or yet to come) matching `query`; rejects with status 504 after `timeoutMs`. */
  async waitForRequest(query: RequestQuery, timeoutMs = 10_000): Promise<RequestLogEntry> {
    const { entry } = await this.call<{ entry: RequestLogEntry }>('GET', `/requests/wait${toSearch({ ...query, timeoutMs })}`, undefined, timeoutMs + DEFAULT_TIMEOUT_MS);
    return entry;
  }

  /** Clears the request log and the operation poll counts. */
  async clearRequests(): Promise<void> {
    await this.call('DELETE', '/requests');
  }

  /**
   * Compute operations (oldest first) with how many times clients polled each one's status URL
   * (`polls`, of them `pollsInProgress`); `resource` is a substring of the resource ID.
   */
  async operationPolls(query: { resource?: string; kind?: LroKind } = {}): Promise<LroPollEntry[]> {
    const params = new URLSearchParams();
    if (query.resource !== undefined) params.set('resource', query.resource);
    if (query.kind !== undefined) params.set('kind', query.kind);
    const search = params.toString();
    return (await this.call<{ operations: LroPollEntry[] }>('GET', `/requests/operations${search === '' ? '' : `?${search}`}`)).operations;
  }

  /** Rules in evaluation order, with `hits` and `remaining`. */
  faults(): Promise<FaultRule[]> {
    return this.call('GET', '/faults');
  }

  addFault(rule: FaultRuleInput): Promise<FaultRule> {
    return this.call('POST', '/faults', rule);
  }

  /** Adds several rules atomically (all valid, or none added). */
  addFaults(rules: readonly FaultRuleInput[]): Promise<FaultRule[]> {
    return this.call('POST', '/faults', rules);
  }

  async removeFault(id: string): Promise<void> {
    await this.call('DELETE', `/faults/${encodeURIComponent(id)}`);
  }

  async clearFaults(): Promise<void> {
    await this.call('DELETE', '/faults');
  }

  options(): Promise<SimSettingsData> {
    return this.call('GET', '/options');
  }

  /**
   * Changes LRO durations and Retry-After hints, IMDS limits, RBAC enforcement or the extra CAs Entra
   * ID trusts for OIDC issuers (`oidcCaPems`) for the next requests.
   */
  setOptions(patch: SimSettingsPatch): Promise<SimSettingsData> {
    return this.call('POST', '/options', patch);
  }
}

function toSearch(query: RequestQuery & { timeoutMs?: number }): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
  const search = params.toString();
  return search === '' ? '' : `?${search}`;
}
