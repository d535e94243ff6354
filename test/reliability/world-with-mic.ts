/**
 * A {@link MicWorld} with one MIC running and Active, for reliability scenarios that run both inside
 * vitest and under `npm run bench` (so no vitest hooks here).
 * @module
 */
import { MicWorld, waitForHealth, type MicProcess, type WorldOptions } from '../support/mic-world.ts';

export async function startWorldWithMic(options: WorldOptions, micArgs: readonly string[] = []): Promise<{ world: MicWorld; mic: MicProcess }> {
  const world = await MicWorld.start(options);
  try {
    const mic = await world.startMic('mic-0', micArgs);
    await waitForHealth(world, mic, 'Active', 60_000, 200).catch((error: unknown) => {
      throw new Error(`${String(error)}:\n${mic.output().slice(-4_000)}`);
    });
    return { world, mic };
  } catch (error) {
    await world.stop();
    throw error;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${String(timeoutMs)} ms`);
    await sleep(200);
  }
}
