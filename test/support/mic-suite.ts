/**
 * Vitest wiring for MIC integration files: one {@link MicWorld} per file with one MIC running and
 * Active, torn down after the file (MIC_TEST_LOGS=1 prints MIC's log then).
 */
import { afterAll, beforeAll, expect, vi } from 'vitest';
import { MicWorld, type MicProcess, type WorldOptions } from './mic-world.ts';

export interface MicSuiteOptions extends WorldOptions {
  /** Extra MIC flags (later flags win over the world's defaults). */
  readonly micArgs?: readonly string[];
  readonly micEnv?: Record<string, string>;
  readonly micName?: string;
}

export interface MicSuite {
  readonly world: () => MicWorld;
  readonly mic: () => MicProcess;
}

export function useMicWorld(options: MicSuiteOptions = {}): MicSuite {
  let world: MicWorld | undefined;
  let mic: MicProcess | undefined;
  beforeAll(async () => {
    const started = await MicWorld.start(options);
    world = started;
    const process = await started.startMic(options.micName ?? 'mic-0', options.micArgs ?? [], options.micEnv ?? {});
    mic = process;
    await vi.waitFor(async () => { expect(await started.health(process)).toBe('Active'); }, { timeout: 30_000, interval: 200 });
  }, 120_000);
  afterAll(async () => {
    if (mic !== undefined && process.env['MIC_TEST_LOGS'] === '1') console.log(mic.output());
    await world?.stop();
  });
  return {
    world: () => {
      if (world === undefined) throw new Error('world not started');
      return world;
    },
    mic: () => {
      if (mic === undefined) throw new Error('MIC not started');
      return mic;
    },
  };
}
