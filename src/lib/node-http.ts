/**
 * `node:http` without its ES module namespace. `import … from 'node:http'` makes Node build that
 * namespace, which reads every export, including the lazy `WebSocket`, `CloseEvent` and `MessageEvent`
 * getters that load Node's bundled undici (~0.8 MB of source): +14 MB RSS and +2.4 MB of V8 heap in
 * an otherwise empty process (Node 24). The CommonJS exports leave those getters alone. Type-only
 * imports of `node:http` are fine (erased); eslint refuses value imports.
 * @module
 */
import type * as http from 'node:http';

export const nodeHttp: typeof http = process.getBuiltinModule('node:http');
