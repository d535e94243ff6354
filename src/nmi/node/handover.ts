/**
 * Handover on stop (`--handover-timeout-sec`). A stopping NMI keeps answering tokens until the NMI that
 * replaces it on the node is ready, so a rolling update or a deleted NMI pod leaves pods no gap. Both
 * processes listen on the same ports (SO_REUSEPORT). The stopping one closes its health listener first,
 * so whatever answers /readyz on that port afterwards is the successor.
 * @module
 */
import { nodeHttp } from '../../lib/node-http.ts';
import type { Logger } from 'pino';
import type { Clock } from '../../lib/clock.ts';
import { describeError } from '../../lib/errors.ts';

export type HandoverOutcome = 'successor-ready' | 'timed-out' | 'cancelled';

export interface AwaitSuccessorOptions {
  /** True when the successor answers ready; never throws. */
  readonly probe: () => Promise<boolean>;
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly clock: Clock;
  /** Checked before every probe: true ends the wait (uninstall, or nothing to hand over). */
  readonly cancelled: () => boolean;
}

export interface HandoverResult {
  readonly outcome: HandoverOutcome;
  readonly waitedMs: number;
  readonly probes: number;
}

/** Probes until the successor is ready, the wait is cancelled, or `timeoutMs` has passed. */
export async function awaitSuccessor(options: AwaitSuccessorOptions): Promise<HandoverResult> {
  const { clock } = options;
  const started = clock.now();
  let probes = 0;
  const result = (outcome: HandoverOutcome): HandoverResult => ({ outcome, waitedMs: clock.now() - started, probes });
  for (;;) {
    if (options.cancelled()) return result('cancelled');
    probes += 1;
    if (await options.probe()) return result('successor-ready');
    const left = options.timeoutMs - (clock.now() - started);
    if (left <= 0) return result('timed-out');
    await clock.sleep(Math.min(options.intervalMs, left));
  }
}

/**
 * The URLs a successor's /readyz answers on: the health listener's port, and `otherPort` when the
 * successor may move it (0: none). Loopback when the health listener takes every address.
 */
export function successorReadyUrls(health: { readonly host: string; readonly port: number }, otherPort = 0): string[] {
  const everyAddress = health.host === '' || health.host === '0.0.0.0' || health.host === '::';
  const host = everyAddress ? '127.0.0.1' : health.host;
  const ports = otherPort === 0 || otherPort === health.port ? [health.port] : [health.port, otherPort];
  return ports.map((port) => `http://${host.includes(':') ? `[${host}]` : host}:${String(port)}/readyz`);
}

/** True when any of `urls` answers ready (asked together). */
export async function probeAnyReady(urls: readonly string[], timeoutMs = 1_000): Promise<boolean> {
  const answers = await Promise.all(urls.map((url) => probeReady(url, timeoutMs)));
  return answers.includes(true);
}

/** GET `url`: true on 200 within `timeoutMs`; false on any other status, error or timeout. */
export function probeReady(url: string, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = nodeHttp.request(url, { method: 'GET', timeout: timeoutMs, headers: { connection: 'close' } }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    req.on('timeout', () => {
      req.destroy();
    });
    req.on('error', () => {
      resolve(false);
    });
    req.end();
  });
}

export interface HandoverOnStopOptions {
  readonly timeoutMs: number;
  readonly successorUrls: readonly string[];
  readonly cancelled: () => boolean;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * The signal that stops NMI's token path: `shutdown` itself without a handover, else once the successor
 * is ready on the health port (which this NMI has just closed), the wait is cancelled, or it timed out.
 */
export function handoverOnStop(shutdown: AbortSignal, options: HandoverOnStopOptions): AbortSignal {
  if (options.timeoutMs === 0) return shutdown;
  const stop = new AbortController();
  shutdown.addEventListener(
    'abort',
    () => {
      const { logger } = options;
      logger.info({ successor: options.successorUrls, timeoutMs: options.timeoutMs }, 'handover: serving tokens until the successor is ready');
      void awaitSuccessor({ probe: () => probeAnyReady(options.successorUrls), timeoutMs: options.timeoutMs, intervalMs: 100, clock: options.clock, cancelled: options.cancelled })
        .then((result) => {
          const message = { 'successor-ready': 'handover: successor ready, stopping', 'timed-out': 'handover: no successor ready in time, stopping', cancelled: 'handover: skipped (uninstall, or not intercepting)' }[result.outcome];
          (result.outcome === 'timed-out' ? logger.warn.bind(logger) : logger.info.bind(logger))(result, message);
        })
        .catch((error: unknown) => {
          logger.error({ err: describeError(error) }, 'handover failed, stopping');
        })
        .finally(() => {
          stop.abort(shutdown.reason);
        });
    },
    { once: true },
  );
  if (shutdown.aborted) stop.abort(shutdown.reason);
  return stop.signal;
}
