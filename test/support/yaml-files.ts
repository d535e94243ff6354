/**
 * Test helpers: locating the upstream-form examples and test fixtures, and reading YAML documents.
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** The repository root. */
export const REPOSITORY_ROOT = new URL('../../', import.meta.url);

/**
 * Manifests and an azure.json in the forms aad-pod-identity users already have (copied into the repo:
 * tests never read outside it), or `POD_IDENTITY_EXAMPLES_DIR` to run the same tests over other ones.
 */
export function upstreamExamplesDir(): URL {
  const override = process.env['POD_IDENTITY_EXAMPLES_DIR'];
  if (override !== undefined && override !== '') return pathToFileURL(`${resolve(override)}/`);
  return new URL('test/fixtures/upstream-examples/', REPOSITORY_ROOT);
}

/** Every `*.yaml` file under `dir`, recursively, sorted by path. */
export function yamlFilesUnder(dir: URL): URL[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith('.yaml'))
    .sort()
    .map((path) => new URL(path, dir));
}

/** The non-empty YAML documents of a file, as plain JSON values. */
export function readYamlDocuments(file: URL): unknown[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((document) => {
      if (document.errors.length > 0) throw new Error(`${file.pathname}: ${document.errors.map(String).join('; ')}`);
      return document.toJS() as unknown;
    })
    .filter((value) => value != null);
}

/** A test fixture: its documents and the `# rule:` / `# expect:` comment lines. */
export interface Fixture {
  readonly file: URL;
  readonly name: string;
  readonly documents: unknown[];
  readonly rule: string | undefined;
  readonly expect: string | undefined;
}

/** Reads a fixture file. */
export function readFixture(file: URL): Fixture {
  const text = readFileSync(file, 'utf8');
  const comment = (key: string): string | undefined =>
    text
      .split('\n')
      .find((line) => line.startsWith(`# ${key}: `))
      ?.slice(`# ${key}: `.length);
  return {
    file,
    name: file.pathname.split('/').at(-1) ?? file.pathname,
    documents: readYamlDocuments(file),
    rule: comment('rule'),
    expect: comment('expect'),
  };
}
