/**
 * Bundles NMI's compiled entry (`dist/src/nmi/main.js`, tsc's output) into `dist/nmi/main.js`: one
 * minified ESM file, plus a chunk per module NMI imports lazily (the service-principal and federated
 * clients with @azure/identity, client-node, undici for proxied paths), and writes
 * `dist/nmi/compile-cache.js` beside it. Dockerfile.nmi runs it in its build stage; the benchmark runs
 * it the same way (`node scripts/bundle-nmi.ts [root]`, after tsc).
 *
 * Why: resolving, reading and compiling ~800 modules cost NMI ~200 ms of CPU before it did anything
 * (160 ms without undici; 100 ms bundled; 66 ms bundled with the image's V8 compile cache, measured as
 * the CPU time of `await import(main.js)`), and V8 keeps each module's source text and records.
 * Names are kept (logs and errors name classes: pino's `err.type`); identifiers are otherwise mangled.
 * `yaml` stays outside (lite-kubeconfig.ts requires it only for a kubeconfig file): node_modules stays
 * beside the bundle.
 * @module
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'rolldown';

/**
 * Preloaded with `node --import` (Dockerfile.nmi's ENTRYPOINT): turns on V8's compile cache in
 * `dist/nmi/.compile-cache` before the bundle is compiled. The image writes the cache at build time with
 * its runtime settings (the cache is keyed by V8's flags) and only reads it at run time (read-only root
 * filesystem). Not an `ENV NODE_COMPILE_CACHE`: that path would follow the image's settings onto hosts.
 */
const COMPILE_CACHE_PRELOAD = `import { enableCompileCache } from 'node:module';
import { fileURLToPath } from 'node:url';
enableCompileCache(fileURLToPath(new URL('.compile-cache/', import.meta.url)));
`;

const root = path.resolve(process.argv[2] ?? '.');
await build({
  input: path.join(root, 'dist/src/nmi/main.js'),
  platform: 'node',
  logLevel: 'warn',
  output: {
    dir: path.join(root, 'dist/nmi'),
    format: 'esm',
    minify: true,
    keepNames: true,
    // One non-ASCII character makes V8 hold the whole source as UTF-16: twice its 1.1 MB.
    charset: 'ascii',
  },
});
writeFileSync(path.join(root, 'dist/nmi/compile-cache.js'), COMPILE_CACHE_PRELOAD);
