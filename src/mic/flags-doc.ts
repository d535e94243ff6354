/**
 * The generated part of docs/mic.md: MIC's flags and environment as markdown tables, from the same
 * table that parses them. A unit test fails when the docs drift; `node src/mic/flags-doc.ts`
 * rewrites the section in place.
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generatedSectionOf, renderFlagsSection, withFlagsSection, type FlagsDoc } from '../lib/flags-doc.ts';
import { MIC_ENVIRONMENT, MIC_FLAG_GROUPS, MIC_FLAGS } from './flags.ts';

export const BEGIN_MARKER = '<!-- BEGIN GENERATED: MIC flags (src/mic/flags.ts; regenerate with `node src/mic/flags-doc.ts`) -->';
export const END_MARKER = '<!-- END GENERATED: MIC flags -->';

export const MIC_DOC_PATH = fileURLToPath(new URL('../../docs/mic.md', import.meta.url));

const SPEC: FlagsDoc = { beginMarker: BEGIN_MARKER, endMarker: END_MARKER, docName: 'docs/mic.md', flags: MIC_FLAGS, groups: MIC_FLAG_GROUPS, environment: MIC_ENVIRONMENT };

export const renderMicFlagsSection = (): string => renderFlagsSection(SPEC);
export const generatedSection = (doc: string): string | undefined => generatedSectionOf(SPEC, doc);
export const withGeneratedSection = (doc: string): string => withFlagsSection(SPEC, doc);

if (import.meta.main) {
  writeFileSync(MIC_DOC_PATH, withGeneratedSection(readFileSync(MIC_DOC_PATH, 'utf8')));
}
