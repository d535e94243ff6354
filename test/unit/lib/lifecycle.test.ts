import { describe, expect, it } from 'vitest';
import { runAll, runnable, RunnableError, stopsEarly, type LeadershipGate } from '../../../src/lib/lifecycle.ts';

const untilAborted = (signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => { signal.addEventListener('abort', () => { resolve(); }, { once: true }); });

function gate(): LeadershipGate & { win(): void; lose(): void } {
  let win = (): void => undefined;
  const won = new Promise<void>((resolve) => { win = resolve; });
  const lost = new AbortController();
  return { waitForLeadership: () => won, lost: lost.signal, win, lose: () => { lost.abort(); } };
}

describe('runAll', () => {
  it('stops every runnable when the signal aborts', async () => {
    const stopped: string[] = [];
    const controller = new AbortController();
    const parts = ['a', 'b'].map((name) => runnable(name, async (signal) => { await untilAborted(signal); stopped.push(name); }));
    const running = runAll(parts, controller.signal);
    controller.abort();
    await running;
    expect(stopped.sort()).toEqual(['a', 'b']);
  });

  it('a failing runnable stops the others and its error names it', async () => {
    const controller = new AbortController();
    let otherStopped = false;
    const running = runAll(
      [runnable('informers', async (signal) => { await untilAborted(signal); otherStopped = true; }), runnable('server', () => Promise.reject(new Error('port in use')))],
      controller.signal,
    );
    await expect(running).rejects.toThrow(RunnableError);
    await expect(running).rejects.toThrow('server: port in use');
    expect(otherStopped).toBe(true);
  });

  it('starts leader-only runnables after leadership is won and fails when it is lost', async () => {
    const leadership = gate();
    const controller = new AbortController();
    let leaderStarted = false;
    const running = runAll(
      [runnable('health', untilAborted), runnable('reconciler', async (signal) => { leaderStarted = true; await untilAborted(signal); }, true)],
      controller.signal,
      leadership,
    );
    await Promise.resolve();
    expect(leaderStarted).toBe(false);
    leadership.win();
    await new Promise((resolve) => setImmediate(resolve));
    expect(leaderStarted).toBe(true);
    leadership.lose();
    await expect(running).rejects.toThrow('lost leadership');
  });
});

describe('stopsEarly', () => {
  it('stops its part when the early signal aborts, while runAll keeps the others until its own signal', async () => {
    const events: string[] = [];
    const early = new AbortController();
    const all = new AbortController();
    const running = runAll(
      [
        stopsEarly(runnable('health', async (signal) => { await untilAborted(signal); events.push('health stopped'); }), early.signal),
        runnable('tokens', async (signal) => { await untilAborted(signal); events.push('tokens stopped'); }),
      ],
      all.signal,
    );
    early.abort();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(events).toEqual(['health stopped']);
    all.abort();
    await running;
    expect(events).toEqual(['health stopped', 'tokens stopped']);
  });

  it('a part that stops on its own is still a failure', async () => {
    const early = new AbortController();
    const all = new AbortController();
    const running = runAll([stopsEarly(runnable('health', () => Promise.resolve()), early.signal), runnable('tokens', (signal) => untilAborted(signal))], all.signal);
    await expect(running).rejects.toThrow(/health: stopped unexpectedly/);
  });
});
