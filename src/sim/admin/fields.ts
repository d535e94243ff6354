/**
 * Tiny validation toolkit for untrusted JSON (admin API bodies, state files): read typed fields and
 * collect every problem with its path, so one error lists all that is wrong.
 * @module
 */

/** Input that cannot be used; `problems` are `path: what is wrong` sentences. */
export class InvalidInputError extends Error {
  readonly problems: readonly string[];
  constructor(what: string, problems: readonly string[]) {
    super(`${what}: ${problems.join('; ')}`);
    this.name = 'InvalidInputError';
    this.problems = problems;
  }
}

export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** One ARM path segment (a name): no slashes, query or fragment characters, no spaces. */
export const NAME = /^[^/?#\s]+$/;

export const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Reads fields of one JSON object, recording problems under `path` (e.g. `identities[2]`). */
export class Fields {
  readonly input: Record<string, unknown>;
  readonly path: string;
  readonly problems: string[];

  constructor(input: Record<string, unknown>, path: string, problems: string[]) {
    this.input = input;
    this.path = path;
    this.problems = problems;
  }

  /** A Fields for `value` if it is an object, else records a problem and returns undefined. */
  static of(value: unknown, path: string, problems: string[]): Fields | undefined {
    if (isRecord(value)) return new Fields(value, path, problems);
    problems.push(`${path || 'body'}: must be a JSON object`);
    return undefined;
  }

  private where(name: string): string {
    return this.path === '' ? name : `${this.path}.${name}`;
  }

  problem(name: string, message: string): void {
    this.problems.push(`${this.where(name)}: ${message}`);
  }

  has(name: string): boolean {
    return this.input[name] !== undefined;
  }

  /** Flags fields not in `known` (typos would otherwise be silently ignored). */
  onlyKnown(known: readonly string[]): void {
    for (const name of Object.keys(this.input)) if (!known.includes(name)) this.problem(name, `unknown field (known: ${known.join(', ')})`);
  }

  string(name: string, pattern?: RegExp, hint?: string): string | undefined {
    const value = this.input[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') {
      this.problem(name, 'must be a non-empty string');
      return undefined;
    }
    if (pattern !== undefined && !pattern.test(value)) {
      this.problem(name, `${JSON.stringify(value)} is not ${hint ?? `matching ${String(pattern)}`}`);
      return undefined;
    }
    return value;
  }

  requiredString(name: string, pattern?: RegExp, hint?: string): string {
    if (!this.has(name)) {
      this.problem(name, 'is required');
      return '';
    }
    return this.string(name, pattern, hint) ?? '';
  }

  guid(name: string): string | undefined {
    return this.string(name, GUID, 'a GUID');
  }

  boolean(name: string): boolean | undefined {
    const value = this.input[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'boolean') {
      this.problem(name, 'must be true or false');
      return undefined;
    }
    return value;
  }

  integer(name: string, min: number, max: number): number | undefined {
    const value = this.input[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.problem(name, `must be an integer from ${min} to ${max}`);
      return undefined;
    }
    return value;
  }

  stringArray(name: string, pattern?: RegExp, hint?: string): string[] | undefined {
    const value = this.input[name];
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) {
      this.problem(name, 'must be an array of strings');
      return undefined;
    }
    const out: string[] = [];
    value.forEach((item: unknown, index) => {
      if (typeof item !== 'string' || item === '') this.problem(`${name}[${index}]`, 'must be a non-empty string');
      else if (pattern !== undefined && !pattern.test(item)) this.problem(`${name}[${index}]`, `${JSON.stringify(item)} is not ${hint ?? 'valid'}`);
      else out.push(item);
    });
    return out;
  }

  stringRecord(name: string): Record<string, string> | undefined {
    const value = this.input[name];
    if (value === undefined) return undefined;
    if (!isRecord(value) || Object.values(value).some((item) => typeof item !== 'string')) {
      this.problem(name, 'must be an object of string values');
      return undefined;
    }
    return { ...(value as Record<string, string>) };
  }

  /** An array of objects, each read with `each` (which gets a Fields at `name[i]`). */
  objects<T>(name: string, each: (fields: Fields) => T | undefined): T[] | undefined {
    const value = this.input[name];
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) {
      this.problem(name, 'must be an array');
      return undefined;
    }
    const out: T[] = [];
    value.forEach((item: unknown, index) => {
      const fields = Fields.of(item, this.where(`${name}[${index}]`), this.problems);
      const parsed = fields === undefined ? undefined : each(fields);
      if (parsed !== undefined) out.push(parsed);
    });
    return out;
  }
}
