/**
 * The generated part of docs/nmi.md: NMI's flags and environment as markdown tables, from the same
 * table that parses them. A unit test fails when the docs drift; `node src/nmi/flags-doc.ts`
 * rewrites the section in place.
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generatedSectionOf, renderFlagsSection, withFlagsSection, type FlagsDoc } from '../lib/flags-doc.ts';
import { NMI_ENVIRONMENT, NMI_FLAG_GROUPS, NMI_FLAGS } from './flags.ts';

export const NMI_DOC_PATH = fileURLToPath(new URL('../../docs/nmi.md', import.meta.url));

export const NMI_FLAGS_DOC: FlagsDoc = {
  beginMarker: '<!-- BEGIN GENERATED: NMI flags (src/nmi/flags.ts; regenerate with `node src/nmi/flags-doc.ts`) -->',
  endMarker: '<!-- END GENERATED: NMI flags -->',
  docName: 'docs/nmi.md',
  flags: NMI_FLAGS,
  groups: NMI_FLAG_GROUPS,
  environment: NMI_ENVIRONMENT,
};

export const renderNmiFlagsSection = (): string => renderFlagsSection(NMI_FLAGS_DOC);
export const nmiGeneratedSection = (doc: string): string | undefined => generatedSectionOf(NMI_FLAGS_DOC, doc);

if (import.meta.main) {
  writeFileSync(NMI_DOC_PATH, withFlagsSection(NMI_FLAGS_DOC, readFileSync(NMI_DOC_PATH, 'utf8')));
}
