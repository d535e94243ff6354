/**
 * Generated sections of the component docs: a binary's flags and environment as markdown tables, from
 * the same table that parses them, between two markers. Unit tests fail when a doc drifts; each
 * component's `flags-doc.ts` rewrites its section in place.
 * @module
 */
import { renderFlagMarkdown, type FlagGroup, type FlagTable } from './go-flags.ts';

export interface EnvironmentVariableDoc {
  readonly name: string;
  readonly usage: string;
  readonly compatibility: string;
}

export interface FlagsDoc {
  readonly beginMarker: string;
  readonly endMarker: string;
  /** For error messages, e.g. `docs/mic.md`. */
  readonly docName: string;
  readonly flags: FlagTable;
  readonly groups: readonly FlagGroup[];
  readonly environment: readonly EnvironmentVariableDoc[];
}

/** The tables, without the markers. */
export function renderFlagsSection(spec: FlagsDoc): string {
  const environment = [
    '#### Environment',
    '',
    '| variable | meaning | compared with aad-pod-identity |',
    '|---|---|---|',
    ...spec.environment.map((variable) => `| \`${variable.name}\` | ${variable.usage} | ${variable.compatibility} |`),
  ].join('\n');
  return `${renderFlagMarkdown(spec.flags, spec.groups, 4)}\n\n${environment}`;
}

/** The generated section of `doc` (between the markers), or undefined when the markers are missing. */
export function generatedSectionOf(spec: FlagsDoc, doc: string): string | undefined {
  const begin = doc.indexOf(spec.beginMarker);
  const end = doc.indexOf(spec.endMarker);
  if (begin === -1 || end === -1 || end < begin) return undefined;
  return doc.slice(begin + spec.beginMarker.length, end).trim();
}

/** `doc` with its generated section replaced by the current tables. */
export function withFlagsSection(spec: FlagsDoc, doc: string): string {
  const begin = doc.indexOf(spec.beginMarker);
  const end = doc.indexOf(spec.endMarker);
  if (begin === -1 || end === -1 || end < begin) throw new Error(`${spec.docName}: markers missing (${spec.beginMarker} … ${spec.endMarker})`);
  return `${doc.slice(0, begin + spec.beginMarker.length)}\n\n${renderFlagsSection(spec)}\n\n${doc.slice(end)}`;
}
