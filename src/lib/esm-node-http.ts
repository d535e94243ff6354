/**
 * ES imports of `node:http` without Node's undici. Building the ES namespace of `node:http` reads every
 * export, including the lazy `WebSocket`, `CloseEvent` and `MessageEvent` getters, which load Node's
 * bundled undici (nodejs/node#59686): +14 MB RSS and +2.4 MB of V8 heap in an empty process (Node 24).
 * Our own code reads the CommonJS exports (./node-http.ts); third-party ES modules (the Azure SDK's
 * HTTP runtime, MSAL) are served a module with the same exports, minus those three, taken from the
 * CommonJS exports: by a resolve hook in MIC (installed before anything else loads) and by a plugin
 * when NMI is bundled (scripts/bundle-nmi.ts). An importer of one of the three fails to link, loudly.
 * @module
 */
import { registerHooks } from 'node:module';
import { nodeHttp } from './node-http.ts';

/** The exports of `node:http` that load undici when read. */
export const UNDICI_BACKED_EXPORTS: readonly string[] = ['WebSocket', 'CloseEvent', 'MessageEvent'];

/** Whether `specifier` names `node:http`. */
export const isNodeHttp = (specifier: string): boolean => specifier === 'node:http' || specifier === 'http';

/** Source of an ES module with the exports of `node:http` (values read once, at its evaluation) except {@link UNDICI_BACKED_EXPORTS}. */
export function nodeHttpModuleSource(): string {
  const names = Object.keys(nodeHttp).filter((name) => !UNDICI_BACKED_EXPORTS.includes(name) && /^[A-Za-z_$][\w$]*$/.test(name));
  return [
    "const http = process.getBuiltinModule('node:http');",
    'export default http;',
    `export const { ${names.join(', ')} } = http;`,
    '',
  ].join('\n');
}

/**
 * From now on, ES `import`s of `node:http` in this process get {@link nodeHttpModuleSource}'s module
 * (`require` is left alone: it never builds the namespace). Call before the modules that import it load.
 */
export function serveNodeHttpWithoutUndici(): void {
  const url = `data:text/javascript,${encodeURIComponent(nodeHttpModuleSource())}`;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      if (isNodeHttp(specifier) && !context.conditions.includes('require')) return { url, format: 'module', shortCircuit: true };
      return nextResolve(specifier, context);
    },
  });
}
