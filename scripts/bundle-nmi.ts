/**
 * Bundles NMI's compiled entry (`<compiled>/src/nmi/main.js`, tsc's output) into `<compiled>/nmi/main.js`:
 * one minified ESM file, plus a chunk per module NMI imports lazily (the service-principal and federated
 * clients with @azure/identity, client-node, undici for proxied paths), and writes
 * `<compiled>/nmi/compile-cache.js` beside it. Dockerfile.nmi runs it in its build stage
 * (`node scripts/bundle-nmi.ts dist`); the benchmark runs it on its own build directory after tsc, and
 * bundles its floor process (the same libraries, none of NMI's code) with the same options
 * (`bundleModule`).
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
import { build, type Plugin } from 'rolldown';
import { isNodeHttp, nodeHttpModuleSource } from '../src/lib/esm-node-http.ts';

/**
 * Preloaded with `node --import` (Dockerfile.nmi's ENTRYPOINT): turns on V8's compile cache in
 * `.compile-cache/` beside the bundle before the bundle is compiled. The image writes the cache at build
 * time with its runtime settings (the cache is keyed by V8's flags) and only reads it at run time
 * (read-only root filesystem). Not an `ENV NODE_COMPILE_CACHE`: that path would follow the image's
 * settings onto hosts.
 */
const COMPILE_CACHE_PRELOAD = `import { enableCompileCache } from 'node:module';
import { fileURLToPath } from 'node:url';
enableCompileCache(fileURLToPath(new URL('.compile-cache/', import.meta.url)));
`;

/** The module that ES imports of `node:http` in the bundle get instead (src/lib/esm-node-http.ts says why). */
const NODE_HTTP_MODULE = '\0node-http-without-undici';

/** Serves bundled ES imports of `node:http` (MSAL's, the Azure SDK HTTP runtime's) a module that does not load Node's undici; `require` stays. */
const nodeHttpWithoutUndici: Plugin = {
  name: 'node-http-without-undici',
  resolveId(source, _importer, options) {
    return isNodeHttp(source) && options.kind !== 'require-call' ? NODE_HTTP_MODULE : null;
  },
  load(id) {
    return id === NODE_HTTP_MODULE ? nodeHttpModuleSource() : null;
  },
};

/** Bundles `input` into `outDir/main.js` (+ lazy chunks) as the image does, with the compile-cache preload beside it. */
export async function bundleModule(input: string, outDir: string): Promise<void> {
  await build({
    input,
    platform: 'node',
    logLevel: 'warn',
    plugins: [nodeHttpWithoutUndici],
    output: {
      dir: outDir,
      entryFileNames: 'main.js',
      format: 'esm',
      minify: true,
      keepNames: true,
      // One non-ASCII character makes V8 hold the whole source as UTF-16: twice its 1.1 MB. `charset`
      // escapes them in code; comments go (a licence header naming "Jimmy Wärting" doubled the source;
      // the licences stay in the image's node_modules).
      charset: 'ascii',
      comments: false,
    },
  });
  writeFileSync(path.join(outDir, 'compile-cache.js'), COMPILE_CACHE_PRELOAD);
}

if (import.meta.main) {
  const compiled = path.resolve(process.argv[2] ?? 'dist');
  await bundleModule(path.join(compiled, 'src/nmi/main.js'), path.join(compiled, 'nmi'));
}
