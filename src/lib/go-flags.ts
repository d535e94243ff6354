/**
 * Command-line flags in the syntax of Go's `flag` package, so manifests and Helm charts written for
 * aad-pod-identity's Go binaries work unchanged:
 *
 * - `-name` and `--name` are the same flag; `--name=value` or `--name value`;
 * - a boolean is `--name`, `--name=true` or `--name=false`, never `--name false` (Go does not read
 *   the next argument for a boolean, and neither do we);
 * - the last occurrence wins; `--` ends the flags; `-h`, `-help`, `--help` ask for help.
 *
 * Unlike Go, parsing does not stop at the first problem or the first positional argument: every
 * problem is collected, so one run shows everything to fix. One table of {@link FlagDefinition}s
 * drives parsing, `--help` text ({@link renderFlagHelp}) and the docs ({@link renderFlagMarkdown}).
 * @module
 */
import { TerminalError } from './errors.ts';
import { parseGoDuration } from './go-duration.ts';

/** A configuration that cannot be used; `problems` names each flag or variable and what is expected. */
export class ConfigError extends TerminalError {
  readonly problems: readonly string[];

  constructor(subject: string, problems: readonly string[]) {
    super(`${subject}: invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`, { code: 'PI_CONFIG_INVALID' });
    this.problems = problems;
  }
}

/** Thrown by a flag's `parse`: says what a valid value looks like. */
export class FlagValueError extends Error {
  readonly expected: string;

  constructor(expected: string) {
    super(`expected ${expected}`);
    this.name = 'FlagValueError';
    this.expected = expected;
  }
}

export interface FlagDefinition<T> {
  /** `bool` flags never take the next argument as their value (Go semantics). */
  readonly kind: 'bool' | 'value';
  /** Shown after the flag in help: `--name DURATION`. Empty for booleans. */
  readonly placeholder: string;
  /** What the flag does, one or two sentences. */
  readonly usage: string;
  /**
   * The default as it would be written on the command line; it goes through `parse` like a given
   * value. `undefined` means "no default": the value is `undefined` unless the flag is given
   * (the caller derives it, e.g. from the hostname); `defaultText` then says what happens.
   */
  readonly default: string | undefined;
  /** How the default reads in help and docs when the literal default would mislead. */
  readonly defaultText?: string;
  /** Help shows the default quoted, as Go does for string flags (`(default "x")`). */
  readonly quoted?: boolean;
  /** Section of help and docs this flag belongs to (a key of the caller's group titles). */
  readonly group: string;
  /** How this flag differs from the upstream binary's (docs); groups supply a fallback text. */
  readonly compatibility?: string;
  /** Text → value; throws {@link FlagValueError} for an invalid value. */
  readonly parse: (text: string) => T;
}

export type FlagTable = Readonly<Record<string, FlagDefinition<unknown>>>;

export type FlagValues<T extends FlagTable> = { readonly [K in keyof T]: T[K] extends FlagDefinition<infer V> ? V : never };

export interface ParsedFlags<T extends FlagTable> {
  /** Every flag's value: the last one given, else the default. A flag whose given value is invalid has its default here. */
  readonly values: FlagValues<T>;
  /** Flags that appeared on the command line, valid or not. */
  readonly given: ReadonlySet<keyof T & string>;
  /** Every text given for each flag, in command-line order (for flags that may repeat; `values` holds the last). */
  readonly occurrences: ReadonlyMap<keyof T & string, readonly string[]>;
  readonly positionals: readonly string[];
  readonly helpRequested: boolean;
  /** One message each: syntax, unknown flags and missing values in command-line order, then invalid values in table order. */
  readonly problems: readonly string[];
}

const HELP_FLAGS = new Set(['h', 'help']);

/** Parses `argv` (without the program name) against `table`. Never throws for bad input. */
export function parseFlags<T extends FlagTable>(table: T, argv: readonly string[]): ParsedFlags<T> {
  const texts = new Map<string, string>();
  const given = new Set<keyof T & string>();
  const occurrences = new Map<keyof T & string, string[]>();
  const positionals: string[] = [];
  const problems: string[] = [];
  let helpRequested = false;

  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] ?? '';
    if (arg === '--') {
      positionals.push(...argv.slice(index + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    const eq = body.indexOf('=');
    const name = eq === -1 ? body : body.slice(0, eq);
    if (name === '' || name.startsWith('-')) {
      problems.push(`bad flag syntax: ${arg}`);
      continue;
    }
    const definition = Object.hasOwn(table, name) ? table[name] : undefined;
    if (definition === undefined) {
      if (HELP_FLAGS.has(name)) helpRequested = true;
      else problems.push(`unknown flag --${name}`);
      continue;
    }
    let text: string;
    if (eq !== -1) {
      text = body.slice(eq + 1);
    } else if (definition.kind === 'bool') {
      text = 'true';
    } else {
      const next = argv[index + 1];
      if (next === undefined) {
        problems.push(`--${name}: needs a value (${definition.placeholder.toLowerCase()})`);
        given.add(name);
        continue;
      }
      text = next;
      index++;
    }
    given.add(name);
    texts.set(name, text);
    occurrences.set(name, [...(occurrences.get(name) ?? []), text]);
  }

  const values: Record<string, unknown> = {};
  for (const [name, definition] of Object.entries(table)) {
    const text = texts.get(name);
    if (text !== undefined) {
      try {
        values[name] = definition.parse(text);
        continue;
      } catch (error) {
        if (!(error instanceof FlagValueError)) throw error;
        problems.push(`--${name}: ${JSON.stringify(text)} is not valid: ${error.message}`);
      }
    }
    values[name] = definition.default === undefined ? undefined : definition.parse(definition.default);
  }
  return { values: values as FlagValues<T>, given, occurrences, positionals, helpRequested, problems };
}

// ---------------------------------------------------------------------------------------------
// Value kinds. Each constructor takes the default as a value and stores it as command-line text.

interface CommonOptions {
  readonly usage: string;
  readonly group: string;
  readonly compatibility?: string;
  readonly defaultText?: string;
}

/** Go's `strconv.ParseBool`. */
export function parseGoBool(text: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  throw new FlagValueError('true or false');
}

export function boolFlag(options: CommonOptions & { readonly default?: boolean }): FlagDefinition<boolean> {
  return { ...options, kind: 'bool', placeholder: '', default: String(options.default ?? false), parse: parseGoBool };
}

/** A string; `check` returns what is expected when the text is not acceptable. */
export function stringFlag(options: CommonOptions & { readonly default?: string; readonly placeholder?: string; readonly check?: (text: string) => string | undefined }): FlagDefinition<string> {
  const { check } = options;
  return {
    ...options,
    kind: 'value',
    quoted: true,
    placeholder: options.placeholder ?? 'STRING',
    default: options.default ?? '',
    parse: (text) => {
      const expected = check?.(text);
      if (expected !== undefined) throw new FlagValueError(expected);
      return text;
    },
  };
}

/** A string without a default: `undefined` unless given (`defaultText` says what the caller does then). */
export function optionalStringFlag(
  options: CommonOptions & { readonly defaultText: string; readonly placeholder?: string; readonly check?: (text: string) => string | undefined },
): FlagDefinition<string | undefined> {
  return { ...stringFlag(options), default: undefined };
}

function rangeText(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return ` from ${min} to ${max}`;
  if (min !== undefined) return ` ≥ ${min}`;
  if (max !== undefined) return ` ≤ ${max}`;
  return '';
}

/** A decimal integer (Go's base prefixes like `0x` are not accepted). */
export function intFlag(options: CommonOptions & { readonly default: number; readonly min?: number; readonly max?: number; readonly placeholder?: string }): FlagDefinition<number> {
  const expected = `an integer${rangeText(options.min, options.max)}`;
  return {
    ...options,
    kind: 'value',
    placeholder: options.placeholder ?? 'INT',
    default: String(options.default),
    parse: (text) => {
      const value = Number(text);
      if (!/^[+-]?\d+$/.test(text) || !Number.isSafeInteger(value)) throw new FlagValueError(expected);
      if ((options.min !== undefined && value < options.min) || (options.max !== undefined && value > options.max)) throw new FlagValueError(expected);
      return value;
    },
  };
}

/** A decimal number such as `5`, `0.5` or `1e2`, strictly greater than `above` when given. */
function floatParser(above: number | undefined): (text: string) => number {
  const expected = `a number${above === undefined ? '' : ` > ${above}`}`;
  return (text) => {
    const value = Number(text);
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) || !Number.isFinite(value)) throw new FlagValueError(expected);
    if (above !== undefined && value <= above) throw new FlagValueError(expected);
    return value;
  };
}

export function floatFlag(options: CommonOptions & { readonly default: number; readonly above?: number }): FlagDefinition<number> {
  return { ...options, kind: 'value', placeholder: 'FLOAT', default: String(options.default), parse: floatParser(options.above) };
}

/** A number without a default: `undefined` unless given (`defaultText` says what the caller does then). */
export function optionalFloatFlag(options: CommonOptions & { readonly defaultText: string; readonly above?: number }): FlagDefinition<number | undefined> {
  return { ...options, kind: 'value', placeholder: 'FLOAT', default: undefined, parse: floatParser(options.above) };
}

interface DurationOptions extends CommonOptions {
  /** Smallest accepted value in ms; with `exclusiveMin` the value must be strictly greater. */
  readonly minMs?: number;
  readonly exclusiveMin?: boolean;
  /** Shown in the expectation, e.g. "at least 1s". */
  readonly minText?: string;
}

function durationParser(options: DurationOptions): (text: string) => number {
  const bound = options.minText ?? (options.minMs === undefined ? '' : options.exclusiveMin === true ? `greater than ${options.minMs}ms` : `at least ${options.minMs}ms`);
  const expected = `a Go duration such as 15s, 3m or 1h30m${bound === '' ? '' : `, ${bound}`}`;
  return (text) => {
    const value = parseGoDuration(text);
    if (value === undefined) throw new FlagValueError(expected);
    const { minMs } = options;
    if (minMs !== undefined && (value < minMs || (options.exclusiveMin === true && value === minMs))) throw new FlagValueError(expected);
    return value;
  };
}

/** A Go duration; the value is in milliseconds. `default` is written as Go would (`'15s'`). */
export function durationFlag(options: DurationOptions & { readonly default: string }): FlagDefinition<number> {
  return { ...options, kind: 'value', placeholder: 'DURATION', parse: durationParser(options) };
}

/** A Go duration without a default: `undefined` unless given. */
export function optionalDurationFlag(options: DurationOptions & { readonly defaultText: string }): FlagDefinition<number | undefined> {
  return { ...options, kind: 'value', placeholder: 'DURATION', default: undefined, parse: durationParser(options) };
}

/** One of a fixed set of strings (case-sensitive, like upstream's `--log-format`). */
export function enumFlag<const V extends string>(options: CommonOptions & { readonly default: V; readonly values: readonly V[] }): FlagDefinition<V> {
  const expected = `one of ${options.values.join(', ')}`;
  return {
    ...options,
    kind: 'value',
    placeholder: options.values.join('|'),
    default: options.default,
    parse: (text) => {
      const value = options.values.find((candidate) => candidate === text);
      if (value === undefined) throw new FlagValueError(expected);
      return value;
    },
  };
}

/** A comma-separated list; items are trimmed and empty items dropped; `checkItem` returns what is expected of a bad item. */
export function listFlag(options: CommonOptions & { readonly placeholder?: string; readonly checkItem?: (item: string) => string | undefined }): FlagDefinition<readonly string[]> {
  const { checkItem } = options;
  return {
    ...options,
    kind: 'value',
    quoted: true,
    placeholder: options.placeholder ?? 'LIST',
    default: '',
    parse: (text) => {
      const items = text
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '');
      const bad = checkItem === undefined ? [] : items.flatMap((item) => (checkItem(item) === undefined ? [] : [item]));
      const first = bad[0];
      if (first !== undefined) throw new FlagValueError(`${checkItem?.(first) ?? 'valid items'} (bad: ${bad.map((item) => JSON.stringify(item)).join(', ')})`);
      return Object.freeze(items);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Help and docs, from the same table.

/** A group of flags, in the order given, with its title. */
export interface FlagGroup {
  readonly key: string;
  readonly title: string;
  /** Docs' "compatibility" text for flags of this group that do not set their own. */
  readonly compatibility: string;
}

/** The default as written on a command line (`""` when empty). */
function literalDefault(definition: FlagDefinition<unknown>): string {
  return definition.default === undefined || definition.default === '' ? '""' : definition.default;
}

/** Go-style help: `  --name TYPE` then the usage and default, indented; grouped. */
export function renderFlagHelp(table: FlagTable, groups: readonly FlagGroup[]): string {
  const sections = groups.map((group) => {
    const lines = Object.entries(table)
      .filter(([, definition]) => definition.group === group.key)
      .map(([name, definition]) => {
        const head = `  --${name}${definition.placeholder === '' ? '' : ` ${definition.placeholder}`}`;
        const shown = definition.defaultText ?? (definition.quoted === true ? JSON.stringify(definition.default ?? '') : literalDefault(definition));
        return `${head}\n        ${definition.usage} (default ${shown})`;
      });
    return `${group.title}:\n${lines.join('\n')}`;
  });
  return sections.join('\n\n');
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

/** A markdown table per group, under a heading of `headingLevel`: flag, default, meaning, compatibility. */
export function renderFlagMarkdown(table: FlagTable, groups: readonly FlagGroup[], headingLevel = 3): string {
  return groups
    .map((group) => {
      const rows = Object.entries(table)
        .filter(([, definition]) => definition.group === group.key)
        .map(([name, definition]) => {
          const flag = `\`--${name}${definition.placeholder === '' ? '' : ` ${definition.placeholder}`}\``;
          const defaultCell = definition.defaultText ?? `\`${literalDefault(definition)}\``;
          return `| ${cell(flag)} | ${cell(defaultCell)} | ${cell(definition.usage)} | ${cell(definition.compatibility ?? group.compatibility)} |`;
        });
      return [`${'#'.repeat(headingLevel)} ${group.title}`, '', '| flag | default | meaning | compared with aad-pod-identity |', '|---|---|---|---|', ...rows].join('\n');
    })
    .join('\n\n');
}
