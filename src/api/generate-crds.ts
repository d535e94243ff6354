/**
 * `npm run gen:crds`: writes the rendered CRDs to deploy/crds.yaml and the Helm chart's crds/.
 * The only file in src/api that does I/O; everything it writes comes from crds.ts.
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { CRD_MANIFEST_FILES, renderCrdsYaml } from './crds.ts';

const REPOSITORY_ROOT = new URL('../../', import.meta.url);

async function main(): Promise<void> {
  const text = renderCrdsYaml();
  for (const file of CRD_MANIFEST_FILES) {
    const target = new URL(file, REPOSITORY_ROOT);
    await mkdir(new URL('.', target), { recursive: true });
    await writeFile(target, text);
    process.stdout.write(`wrote ${file}\n`);
  }
}

main().catch((error: unknown) => {
  console.error('gen:crds:', error);
  process.exitCode = 1;
});
