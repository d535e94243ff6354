import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../support/manual-clock.ts';
import { awaitSuccessor, probeAnyReady, probeReady, successorReadyUrls } from '../../../../src/nmi/node/handover.ts';

/** Runs the wait on a manual clock, advancing it while the wait is pending. */
async function drive(clock: ManualClock, wait: Promise<unknown>, stepMs: number, maxSteps: number): Promise<void> {
  const state = { done: false };
  void wait.then(
    () => { state.done = true; },
    () => { state.done = true; },
  );
  for (let step = 0; step < maxSteps; step += 1) {
    await new Promise((resolve) => setImmediate(resolve));
    if (state.done) return;
    await clock.advance(stepMs);
  }
}

describe('awaitSuccessor', () => {
  it('stops waiting at the first ready answer', async () => {
    const clock = new ManualClock(0);
    const answers = [false, false, true];
    const wait = awaitSuccessor({ probe: () => Promise.resolve(answers.shift() ?? false), timeoutMs: 10_000, intervalMs: 100, clock, cancelled: () => false });
    await drive(clock, wait, 100, 50);
    await expect(wait).resolves.toEqual({ outcome: 'successor-ready', waitedMs: 200, probes: 3 });
  });

  it('gives up after the timeout, probing once more at its end', async () => {
    const clock = new ManualClock(0);
    const wait = awaitSuccessor({ probe: () => Promise.resolve(false), timeoutMs: 250, intervalMs: 100, clock, cancelled: () => false });
    await drive(clock, wait, 50, 50);
    await expect(wait).resolves.toEqual({ outcome: 'timed-out', waitedMs: 250, probes: 4 });
  });

  it('ends when cancelled (uninstall) without probing further', async () => {
    const clock = new ManualClock(0);
    let uninstalling = false;
    let probes = 0;
    const wait = awaitSuccessor({ probe: () => { probes += 1; uninstalling = probes === 2; return Promise.resolve(false); }, timeoutMs: 10_000, intervalMs: 100, clock, cancelled: () => uninstalling });
    await drive(clock, wait, 100, 50);
    await expect(wait).resolves.toMatchObject({ outcome: 'cancelled', probes: 2 });
  });
});

describe('successorReadyUrls', () => {
  it('asks loopback when the health listener takes every address, else that address', () => {
    expect(successorReadyUrls({ host: '', port: 8085 })).toEqual(['http://127.0.0.1:8085/readyz']);
    expect(successorReadyUrls({ host: '::', port: 8085 })).toEqual(['http://127.0.0.1:8085/readyz']);
    expect(successorReadyUrls({ host: '10.0.0.4', port: 8085 })).toEqual(['http://10.0.0.4:8085/readyz']);
    expect(successorReadyUrls({ host: 'fd00::4', port: 8085 })).toEqual(['http://[fd00::4]:8085/readyz']);
  });

  it('adds the port a successor may move to (--handover-probe-port), once', () => {
    expect(successorReadyUrls({ host: '', port: 8086 }, 8085)).toEqual(['http://127.0.0.1:8086/readyz', 'http://127.0.0.1:8085/readyz']);
    expect(successorReadyUrls({ host: '', port: 8085 }, 8085)).toEqual(['http://127.0.0.1:8085/readyz']);
  });
});

describe('probeReady', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => {
      if (server === undefined) resolve();
      else server.close(() => { resolve(); });
    });
    server = undefined;
  });

  async function serve(status: number): Promise<string> {
    server = createServer((_request, response) => { response.statusCode = status; response.end('x'); });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    return `http://127.0.0.1:${String(address.port)}/readyz`;
  }

  it('is true on 200 only', async () => {
    expect(await probeReady(await serve(200))).toBe(true);
    await new Promise((resolve) => server?.close(resolve));
    expect(await probeReady(await serve(503))).toBe(false);
  });

  it('probeAnyReady: true when one of several answers 200', async () => {
    const ready = await serve(200);
    const nobody = 'http://127.0.0.1:1/readyz';
    expect(await probeAnyReady([nobody, ready])).toBe(true);
    expect(await probeAnyReady([nobody])).toBe(false);
  });

  it('is false when nothing listens', async () => {
    const url = await serve(200);
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
    expect(await probeReady(url)).toBe(false);
  });
});
