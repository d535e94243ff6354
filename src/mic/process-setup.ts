/**
 * How MIC's process is set up before any of MIC loads (imported first by ./main.ts, and by the
 * benchmark's floor process of MIC's shape): V8's flags (./v8-memory-flags.ts), and ES imports of
 * `node:http` served without Node's undici (../lib/esm-node-http.ts; the Azure SDK imports it).
 * @module
 */
import './v8-memory-flags.ts';
import { serveNodeHttpWithoutUndici } from '../lib/esm-node-http.ts';

serveNodeHttpWithoutUndici();
