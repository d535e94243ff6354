/**
 * Case-insensitive, typed access to the fields of raw JSON objects.
 *
 * Upstream's Go decoder matched JSON keys case-insensitively, so objects written for releases
 * before v1.6 (`ResourceID`, `clientid`, `ClientPassword: {Name}`, `TenantId`, …) still worked.
 * These helpers keep that: a field is found under any casing of its current name.
 * @module
 */
import { InvalidResourceError, type ObjectRef } from './errors.ts';

/** A JSON object as parsed from the API server (string keys, unknown values). */
export type JsonObject = Record<string, unknown>;

/** True for a non-null, non-array object. */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True when `key` is a spelling of `currentName` (same letters, any casing). */
export function isSpellingOf(key: string, currentName: string): boolean {
  return key.toLowerCase() === currentName.toLowerCase();
}

/**
 * Comparator ordering spellings of one field by precedence, highest first: the current name, then
 * the others in descending code-unit order. The second rule is what upstream's decoder did with
 * the API server's JSON (keys sorted ascending, the last matching key wins), so where we differ
 * from upstream it is only in letting the current name win, as users expect.
 */
export function bySpellingPrecedence(currentName: string): (a: string, b: string) => number {
  return (a, b) => {
    if (a === b) return 0;
    if (a === currentName) return -1;
    if (b === currentName) return 1;
    return a < b ? 1 : -1;
  };
}

/** A key found for a field, and its (non-null) value. */
export interface FieldMatch {
  readonly key: string;
  readonly value: unknown;
}

/**
 * The value of field `currentName` under its highest-precedence spelling, ignoring `null` values
 * (as Go did); undefined when no spelling carries a value.
 */
export function findField(object: JsonObject, currentName: string): FieldMatch | undefined {
  const keys = Object.keys(object).filter((key) => isSpellingOf(key, currentName) && object[key] != null);
  const key = keys.sort(bySpellingPrecedence(currentName))[0];
  return key === undefined ? undefined : { key, value: object[key] };
}

/** `a.b`, or `a["x/y"]` when the key is not a plain identifier. */
function joinPath(path: string, key: string): string {
  const segment = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : `[${JSON.stringify(key)}]`;
  if (path === '') return segment;
  return segment.startsWith('[') ? `${path}${segment}` : `${path}.${segment}`;
}

/** Numeric strings tolerated where upstream manifests sometimes quoted numbers (`type: "1"`). */
const NUMERIC_STRING = /^\s*[-+]?[0-9]+\s*$/;

/**
 * Reads typed fields of one JSON object found at `path` inside an object `owner`; every error
 * names the owner and the field's path as the object spells it.
 */
export class ObjectReader {
  /** The object whose fields are read. */
  readonly object: JsonObject;
  /** Where `object` sits in the owner, '' for the owner itself. */
  readonly path: string;
  /** The object named in errors. */
  readonly owner: ObjectRef;

  constructor(owner: ObjectRef, path: string, object: JsonObject) {
    this.owner = owner;
    this.path = path;
    this.object = object;
  }

  /** Throws an error naming `key` (a key of this object) and the problem. */
  fail(key: string, problem: string): never {
    throw new InvalidResourceError(this.owner, this.pathOf(key), problem);
  }

  /** Path of this object's field `key` inside the owner. */
  pathOf(key: string): string {
    return joinPath(this.path, key);
  }

  /** The raw value of a field under any casing, or undefined. */
  find(name: string): FieldMatch | undefined {
    return findField(this.object, name);
  }

  /** A string field, or undefined when absent. */
  string(name: string): string | undefined {
    const match = this.find(name);
    if (match === undefined) return undefined;
    if (typeof match.value !== 'string') this.fail(match.key, `must be a string, got ${jsonType(match.value)}`);
    return match.value;
  }

  /** An integer field, or undefined when absent; `numericString` also accepts `"1"`. */
  integer(name: string, options: { numericString?: boolean } = {}): number | undefined {
    const match = this.find(name);
    if (match === undefined) return undefined;
    const { value } = match;
    if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
    if (options.numericString === true && typeof value === 'string' && NUMERIC_STRING.test(value)) {
      const parsed = Number(value);
      if (Number.isSafeInteger(parsed)) return parsed;
    }
    return this.fail(match.key, `must be an integer, got ${describeValue(value)}`);
  }

  /** An array-of-strings field, or undefined when absent. */
  stringArray(name: string): string[] | undefined {
    const match = this.find(name);
    if (match === undefined) return undefined;
    if (!Array.isArray(match.value)) return this.fail(match.key, `must be a list of strings, got ${jsonType(match.value)}`);
    return match.value.map((item: unknown, index) => {
      if (typeof item !== 'string') {
        throw new InvalidResourceError(this.owner, `${this.pathOf(match.key)}[${index}]`, `must be a string, got ${jsonType(item)}`);
      }
      return item;
    });
  }

  /** A string-to-string map field (keys exact), or undefined when absent. */
  stringMap(name: string): Record<string, string> | undefined {
    const match = this.find(name);
    if (match === undefined) return undefined;
    const nested = this.requireObject(match);
    return nested.toStringMap();
  }

  /** A reader for a nested object field, or undefined when absent. */
  child(name: string): ObjectReader | undefined {
    const match = this.find(name);
    return match === undefined ? undefined : this.requireObject(match);
  }

  /** This object as a string map (keys exact, values must be strings). */
  toStringMap(): Record<string, string> {
    const result: Record<string, string> = {};
    for (const [key, value] of Object.entries(this.object)) {
      if (typeof value !== 'string') this.fail(key, `must be a string, got ${jsonType(value)}`);
      result[key] = value;
    }
    return result;
  }

  private requireObject(match: FieldMatch): ObjectReader {
    if (!isJsonObject(match.value)) return this.fail(match.key, `must be an object, got ${jsonType(match.value)}`);
    return new ObjectReader(this.owner, this.pathOf(match.key), match.value);
  }
}

/** JSON type name of a value, for error messages. */
export function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (isJsonObject(value)) return 'an object';
  return `a ${typeof value}`;
}

/** A short rendering of a scalar value (or its JSON type), for error messages. */
function describeValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return jsonType(value);
}

/** A copy of `object` without the keys whose value is undefined (so they don't appear at all). */
export function withoutUndefined<T extends object>(object: T): T {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as T;
}
