/**
 * Simulator settings that tests may change while it runs (admin `POST /options`). The ARM and IMDS
 * routes receive live views of this object, so a change applies to the next request.
 * @module
 */
import { X509Certificate } from 'node:crypto';
import { LRO_KINDS, type LroKind } from '../arm/operations.ts';

export interface ImdsLimits {
  /** Managed Identity category limit per VM; real IMDS: 20. */
  readonly requestsPerSecond: number;
  /** Concurrent requests per VM; real IMDS: 5. */
  readonly maxConcurrent: number;
}

export interface SimSettingsData {
  /** Duration of compute long-running operations (identity assignment), ms. Azure: VM 10-20 s, VMSS 40-60 s. */
  lroDurationMs: { vm: number; vmss: number };
  /**
   * `Retry-After` (whole seconds, ≥ 1) on a compute write's answer and on its status polls while it runs,
   * per operation kind. Default 1 each; real Compute sends larger values (docs/simulator.md), never 0.
   */
  lroRetryAfterSeconds: Record<LroKind, number>;
  /** IMDS throttling; false = unlimited. */
  imdsLimits: ImdsLimits | false;
  /** Whether ARM checks role assignments of the caller. */
  enforceRbac: boolean;
  /**
   * PEM CA certificates Entra ID trusts, besides the public roots, when it fetches an OIDC issuer's
   * discovery document and keys for a federated credential (a test cluster's API server CA).
   */
  oidcCaPems: string[];
}

export type SimSettingsPatch = {
  readonly lroDurationMs?: Partial<SimSettingsData['lroDurationMs']>;
  readonly lroRetryAfterSeconds?: Partial<SimSettingsData['lroRetryAfterSeconds']>;
  readonly imdsLimits?: ImdsLimits | false;
  readonly enforceRbac?: boolean;
  /** Replaces the list (it is not merged). */
  readonly oidcCaPems?: readonly string[];
};

export const DEFAULT_SETTINGS: Readonly<SimSettingsData> = Object.freeze({
  lroDurationMs: Object.freeze({ vm: 10_000, vmss: 40_000 }),
  lroRetryAfterSeconds: Object.freeze({ vmUpdate: 1, vmssUpdate: 1, vmDelete: 1, vmssDelete: 1 }),
  imdsLimits: Object.freeze({ requestsPerSecond: 20, maxConcurrent: 5 }),
  enforceRbac: false,
  oidcCaPems: Object.freeze([]) as unknown as string[],
});

/** Enough for any test topology; a bound keeps a typo'd loop from growing the TLS context without end. */
export const MAX_OIDC_CA_PEMS = 32;

/** Thrown for settings that make no sense; `problems` lists every reason. */
export class InvalidSettingsError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid simulator options: ${problems.join('; ')}`);
    this.name = 'InvalidSettingsError';
    this.problems = problems;
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isDuration = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 3_600_000;
// An hour at most: longer hints only make a test wait.
const isRetryAfter = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 3600;
const isPositive = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value > 0;

/** Checks an untrusted patch (admin API body, CLI flags); throws {@link InvalidSettingsError}. */
export function parseSettingsPatch(input: unknown): SimSettingsPatch {
  if (!isRecord(input)) throw new InvalidSettingsError(['options must be a JSON object']);
  const problems: string[] = [];
  const patch: {
    lroDurationMs?: Partial<SimSettingsData['lroDurationMs']>;
    lroRetryAfterSeconds?: Partial<SimSettingsData['lroRetryAfterSeconds']>;
    imdsLimits?: ImdsLimits | false;
    enforceRbac?: boolean;
    oidcCaPems?: string[];
  } = {};
  const known = ['lroDurationMs', 'lroRetryAfterSeconds', 'imdsLimits', 'enforceRbac', 'oidcCaPems'];
  for (const name of Object.keys(input)) {
    if (!known.includes(name)) problems.push(`unknown option ${JSON.stringify(name)} (known: ${known.join(', ')})`);
  }
  const lro = input['lroDurationMs'];
  if (lro !== undefined) {
    if (!isRecord(lro)) problems.push('lroDurationMs must be an object {vm?, vmss?}');
    else {
      const durations: Partial<SimSettingsData['lroDurationMs']> = {};
      for (const kind of ['vm', 'vmss'] as const) {
        const value = lro[kind];
        if (value === undefined) continue;
        if (isDuration(value)) durations[kind] = value;
        else problems.push(`lroDurationMs.${kind} must be milliseconds between 0 and 3600000`);
      }
      for (const name of Object.keys(lro)) if (name !== 'vm' && name !== 'vmss') problems.push(`unknown field lroDurationMs.${name}`);
      patch.lroDurationMs = durations;
    }
  }
  const retryAfter = input['lroRetryAfterSeconds'];
  if (retryAfter !== undefined) {
    if (!isRecord(retryAfter)) problems.push(`lroRetryAfterSeconds must be an object {${LRO_KINDS.join('?, ')}?}`);
    else {
      const seconds: Partial<SimSettingsData['lroRetryAfterSeconds']> = {};
      for (const kind of LRO_KINDS) {
        const value = retryAfter[kind];
        if (value === undefined) continue;
        if (isRetryAfter(value)) seconds[kind] = value;
        else problems.push(`lroRetryAfterSeconds.${kind} must be whole seconds from 1 to 3600 (0 would make clients such as go-autorest poll without pause)`);
      }
      for (const name of Object.keys(retryAfter)) if (!(LRO_KINDS as readonly string[]).includes(name)) problems.push(`unknown field lroRetryAfterSeconds.${name} (known: ${LRO_KINDS.join(', ')})`);
      patch.lroRetryAfterSeconds = seconds;
    }
  }
  const limits = input['imdsLimits'];
  if (limits !== undefined) {
    if (limits === false) patch.imdsLimits = false;
    else if (isRecord(limits) && isPositive(limits['requestsPerSecond']) && isPositive(limits['maxConcurrent']) && Number.isInteger(limits['maxConcurrent'])) {
      patch.imdsLimits = { requestsPerSecond: limits['requestsPerSecond'], maxConcurrent: limits['maxConcurrent'] };
    } else problems.push('imdsLimits must be false or {requestsPerSecond: >0, maxConcurrent: integer >0}');
  }
  const rbac = input['enforceRbac'];
  if (rbac !== undefined) {
    if (typeof rbac === 'boolean') patch.enforceRbac = rbac;
    else problems.push('enforceRbac must be a boolean');
  }
  const caPems = input['oidcCaPems'];
  if (caPems !== undefined) {
    const checked = parseCaPems(caPems, problems);
    if (checked !== undefined) patch.oidcCaPems = checked;
  }
  if (problems.length > 0) throw new InvalidSettingsError(problems);
  return patch;
}

/** `oidcCaPems`: an array of PEM CA certificates (each parsed; bundles split into single certificates). */
function parseCaPems(value: unknown, problems: string[]): string[] | undefined {
  if (!Array.isArray(value)) {
    problems.push('oidcCaPems must be an array of PEM certificates');
    return undefined;
  }
  const pems: string[] = [];
  value.forEach((item: unknown, index) => {
    const blocks = typeof item === 'string' ? item.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) : null;
    if (blocks === null) {
      problems.push(`oidcCaPems[${index}] must be a PEM certificate`);
      return;
    }
    for (const block of blocks) {
      try {
        const certificate = new X509Certificate(block);
        if (!certificate.ca) problems.push(`oidcCaPems[${index}]: ${certificate.subject.replaceAll('\n', ', ')} is not a CA certificate`);
        else pems.push(block);
      } catch (error) {
        problems.push(`oidcCaPems[${index}] is not a PEM certificate (${(error as Error).message})`);
      }
    }
  });
  if (pems.length > MAX_OIDC_CA_PEMS) problems.push(`oidcCaPems: at most ${MAX_OIDC_CA_PEMS} certificates`);
  return pems;
}

/** The live settings. `lroDurationMs` and `lroRetryAfterSeconds` are objects mutated in place, so views of them stay current. */
export class SimSettings {
  readonly lroDurationMs: { vm: number; vmss: number };
  readonly lroRetryAfterSeconds: Record<LroKind, number>;
  imdsLimits: ImdsLimits | false;
  enforceRbac: boolean;
  /** Replaced as a whole on update (never mutated), so a reader may keep the array it got. */
  oidcCaPems: readonly string[];

  constructor(initial: SimSettingsPatch = {}) {
    this.lroDurationMs = { ...DEFAULT_SETTINGS.lroDurationMs };
    this.lroRetryAfterSeconds = { ...DEFAULT_SETTINGS.lroRetryAfterSeconds };
    this.imdsLimits = DEFAULT_SETTINGS.imdsLimits;
    this.enforceRbac = DEFAULT_SETTINGS.enforceRbac;
    this.oidcCaPems = DEFAULT_SETTINGS.oidcCaPems;
    this.update(initial);
  }

  /** Applies a patch after validating it (throws {@link InvalidSettingsError}); returns the new settings. */
  update(patch: SimSettingsPatch): SimSettingsData {
    const checked = parseSettingsPatch(patch);
    if (checked.lroDurationMs?.vm !== undefined) this.lroDurationMs.vm = checked.lroDurationMs.vm;
    if (checked.lroDurationMs?.vmss !== undefined) this.lroDurationMs.vmss = checked.lroDurationMs.vmss;
    for (const kind of LRO_KINDS) {
      const seconds = checked.lroRetryAfterSeconds?.[kind];
      if (seconds !== undefined) this.lroRetryAfterSeconds[kind] = seconds;
    }
    if (checked.imdsLimits !== undefined) this.imdsLimits = checked.imdsLimits === false ? false : { ...checked.imdsLimits };
    if (checked.enforceRbac !== undefined) this.enforceRbac = checked.enforceRbac;
    if (checked.oidcCaPems !== undefined) this.oidcCaPems = Object.freeze([...checked.oidcCaPems]);
    return this.data();
  }

  /** A copy, JSON-serialisable. */
  data(): SimSettingsData {
    return {
      lroDurationMs: { ...this.lroDurationMs },
      lroRetryAfterSeconds: { ...this.lroRetryAfterSeconds },
      imdsLimits: this.imdsLimits === false ? false : { ...this.imdsLimits },
      enforceRbac: this.enforceRbac,
      oidcCaPems: [...this.oidcCaPems],
    };
  }
}
