/**
 * `--enableProfile`: what upstream's Go pprof listener on localhost:6060 offered, with V8's profilers
 * through an in-process inspector session (node:inspector):
 *
 * - `GET /debug/pprof/profile?seconds=N` — a CPU profile of the next N seconds (default 30, as Go;
 *   1–120), as a `.cpuprofile` (Chrome DevTools, speedscope, VS Code);
 * - `GET /debug/pprof/heap` — a sampling heap profile (`.heapprofile`): allocation sites and sizes of
 *   the sampled objects still alive, like Go's heap profile. Sampling runs from start while the
 *   listener is up (one sample per 512 KB allocated on average, Go's rate).
 *
 * Never a heap snapshot: it would hold the process's memory — cached tokens, service-principal
 * secrets — and NMI's loopback is reachable from everything on the node. One profile at a time.
 * {@link profileServer} runs the app on 127.0.0.1 only and never stops the process when the port is
 * busy (upstream logged the failure and ran on): it logs and retries.
 * @module
 */
import { Session } from 'node:inspector/promises';
import fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import { describeError } from './errors.ts';
import { HttpServer } from './http-server.ts';
import { runnable, type Runnable } from './lifecycle.ts';

export const DEFAULT_PROFILE_SECONDS = 30;
export const MAX_PROFILE_SECONDS = 120;
/** Average bytes allocated between two heap samples (Go's MemProfileRate). */
export const HEAP_SAMPLING_INTERVAL = 512 * 1024;

export interface ProfileAppOptions {
  /** Names the files (`mic-…cpuprofile`). */
  readonly program: string;
  readonly logger?: Logger;
}

/** `seconds` of a CPU profile request: a number, or what is wrong with the parameter. */
export function profileSeconds(text: string | undefined): number | { readonly error: string } {
  if (text === undefined || text === '') return DEFAULT_PROFILE_SECONDS;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > MAX_PROFILE_SECONDS) return { error: `seconds must be an integer from 1 to ${String(MAX_PROFILE_SECONDS)}` };
  return Number(text);
}

function fileStamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-');
}

function sendJsonError(reply: FastifyReply, status: number, error: string, description: string): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(JSON.stringify({ error, error_description: description }));
}

/** Resolves after `ms`, or early when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The profiling endpoints as a fastify app that does not listen (see {@link profileServer}). */
export function buildProfileApp(options: ProfileAppOptions): FastifyInstance {
  const app = fastify({
    ...(options.logger === undefined ? {} : { loggerInstance: options.logger }),
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
  }) as unknown as FastifyInstance;
  const session = new Session();
  const closing = new AbortController();
  let cpuBusy = false;

  app.addHook('onReady', async () => {
    session.connect();
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', { samplingInterval: HEAP_SAMPLING_INTERVAL });
  });
  app.addHook('onClose', async () => {
    closing.abort();
    try {
      await session.post('HeapProfiler.stopSampling');
    } catch {
      // never started (the app did not get ready)
    }
    session.disconnect();
  });

  app.get('/debug/pprof/', async (_request, reply) =>
    reply.type('text/plain; charset=utf-8').send(
      [
        `${options.program} profiles (--enableProfile)`,
        `/debug/pprof/profile?seconds=N  CPU profile of the next N seconds (default ${String(DEFAULT_PROFILE_SECONDS)}, at most ${String(MAX_PROFILE_SECONDS)}), .cpuprofile`,
        '/debug/pprof/heap               sampling heap profile of the objects alive now, .heapprofile',
        '',
      ].join('\n'),
    ),
  );

  app.get<{ Querystring: { seconds?: string } }>('/debug/pprof/profile', async (request, reply) => {
    const seconds = profileSeconds(request.query.seconds);
    if (typeof seconds !== 'number') return sendJsonError(reply, 400, 'invalid_request', seconds.error);
    if (cpuBusy) return sendJsonError(reply, 409, 'profile_in_progress', 'a CPU profile is already being taken; try again when it is done');
    cpuBusy = true;
    const gone = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) gone.abort();
    });
    try {
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      await sleep(seconds * 1000, AbortSignal.any([gone.signal, closing.signal]));
      const { profile } = await session.post('Profiler.stop');
      await session.post('Profiler.disable');
      return await reply
        .type('application/json')
        .header('content-disposition', `attachment; filename="${options.program}-${fileStamp()}.cpuprofile"`)
        .send(JSON.stringify(profile));
    } finally {
      cpuBusy = false;
    }
  });

  app.get('/debug/pprof/heap', async (_request, reply) => {
    const { profile } = await session.post('HeapProfiler.getSamplingProfile');
    return reply
      .type('application/json')
      .header('content-disposition', `attachment; filename="${options.program}-${fileStamp()}.heapprofile"`)
      .send(JSON.stringify(profile));
  });
  return app;
}

export interface ProfileServerOptions extends ProfileAppOptions {
  readonly port: number;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Between attempts to listen while the port is taken. */
  readonly retryMs?: number;
  /** Told each time it listens (tests read the port). */
  readonly onListening?: (url: string) => void;
}

/**
 * The profiling listener on 127.0.0.1 as a {@link Runnable} that never fails the process: when the port
 * is taken (another process, or the NMI this one replaces and that still holds it) it logs and tries again.
 */
export function profileServer(options: ProfileServerOptions): Runnable {
  const retryMs = options.retryMs ?? 10_000;
  return runnable('profile server', async (signal) => {
    let warned = false;
    while (!signal.aborted) {
      const app = buildProfileApp(options);
      const server = new HttpServer({ name: 'profile server', app, host: '127.0.0.1', port: options.port });
      const running = server.run(signal);
      try {
        const address = await server.listening();
        options.logger.info({ url: `${address.url}/debug/pprof/` }, 'profiling enabled (--enableProfile): CPU and heap profiles on loopback');
        options.onListening?.(address.url);
        await running;
        return;
      } catch (error) {
        await running.catch(() => undefined);
        // A failed listen leaves the app (and its inspector session) open.
        await app.close().catch(() => undefined);
        if (!warned) options.logger.error({ err: describeError(error), retryEverySeconds: retryMs / 1000 }, 'profile server cannot listen (--enableProfile); retrying, the rest runs on');
        warned = true;
      }
      await options.clock.sleep(retryMs, signal).catch(() => undefined);
    }
  });
}
