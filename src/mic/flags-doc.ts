/**
 * The generated part of docs/mic.md: MIC's flags and environment as markdown tables, from the same
 * table that parses them. A unit test fails when the docs drift; `node src/mic/flags-doc.ts`
 * rewrites the section in place.
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderFlagMarkdown } from '../lib/go-flags.ts';
import { MIC_ENVIRONMENT, MIC_FLAG_GROUPS, MIC_FLAGS } from './flags.ts';

export const BEGIN_MARKER = '<!-- BEGIN GENERATED: MIC flags (src/mic/flags.ts; regenerate with `node src/mic/flags-doc.ts`) -->';
export const END_MARKER = '<!-- END GENERATED: MIC flags -->';

export const MIC_DOC_PATH = fileURLToPath(new URL('../../docs/mic.md', import.meta.url));

/** The tables, without the markers. */
export function renderMicFlagsSection(): string {
  const environment = [
    '#### Environment',
    '',
    '| variable | meaning | compared with aad-pod-identity |',
    '|---|---|---|',
    ...MIC_ENVIRONMENT.map((variable) => `| \`${variable.name}\` | ${variable.usage} | ${variable.compatibility} |`),
  ].join('\n');
  return `${renderFlagMarkdown(MIC_FLAGS, MIC_FLAG_GROUPS, 4)}\n\n${environment}`;
}

/** The generated section of `doc` (between the markers), or undefined when the markers are missing. */
export function generatedSection(doc: string): string | undefined {
  const begin = doc.indexOf(BEGIN_MARKER);
  const end = doc.indexOf(END_MARKER);
  if (begin === -1 || end === -1 || end < begin) return undefined;
  return doc.slice(begin + BEGIN_MARKER.length, end).trim();
}

/** `doc` with its generated section replaced by the current tables. */
export function withGeneratedSection(doc: string): string {
  const begin = doc.indexOf(BEGIN_MARKER);
  const end = doc.indexOf(END_MARKER);
  if (begin === -1 || end === -1 || end < begin) throw new Error(`docs/mic.md: markers missing (${BEGIN_MARKER} … ${END_MARKER})`);
  return `${doc.slice(0, begin + BEGIN_MARKER.length)}\n\n${renderMicFlagsSection()}\n\n${doc.slice(end)}`;
}

if (import.meta.main) {
  writeFileSync(MIC_DOC_PATH, withGeneratedSection(readFileSync(MIC_DOC_PATH, 'utf8')));
}
