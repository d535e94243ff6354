/**
 * Samples every MIC's `/healthz` (ours and upstream's both answer `Active` on the leader) at a fixed
 * period while a test changes who runs, and counts the samples in which more than one MIC was Active —
 * two MICs writing the same AAIs and VMSS identities — and how long no MIC was Active.
 * @module
 */
import type { MicProcess } from './mic-world.ts';

export interface MicSample {
  readonly at: number;
  /** Names of the MICs that answered Active. */
  readonly active: readonly string[];
}

export interface MicSampling {
  /** Samples taken so far (bounded by `maxSamples`). */
  samples(): readonly MicSample[];
  /** Stops sampling; resolves once the loop ended. */
  stop(): Promise<void>;
}

async function healthOf(mic: MicProcess): Promise<string> {
  try {
    const response = await fetch(`http://127.0.0.1:${String(mic.healthPort)}/healthz`, { signal: AbortSignal.timeout(1_000) });
    return await response.text();
  } catch {
    return 'unreachable';
  }
}

/** Samples `mics()` (the current set, read at each sample) every `everyMs` until stopped. */
export function sampleMics(mics: () => readonly MicProcess[], everyMs = 100, maxSamples = 20_000): MicSampling {
  const taken: MicSample[] = [];
  const state = { running: true };
  const loop = (async () => {
    while (state.running && taken.length < maxSamples) {
      const started = performance.now();
      const at = Date.now();
      const current = mics();
      const answers = await Promise.all(current.map(async (mic) => [mic.name, await healthOf(mic)] as const));
      taken.push({ at, active: answers.filter(([, body]) => body === 'Active').map(([name]) => name) });
      const wait = everyMs - (performance.now() - started);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  })();
  return {
    samples: () => taken,
    stop: async () => {
      state.running = false;
      await loop;
    },
  };
}

export interface MicSampleCount {
  readonly samples: number;
  /** Samples with two or more Active MICs. */
  readonly dualActive: number;
  /** Longest run of samples with no Active MIC, in ms (from sample times). */
  readonly longestNoLeaderMs: number;
}

/** Counts `samples` taken in [from, to]. */
export function countSamples(samples: readonly MicSample[], from = 0, to = Number.POSITIVE_INFINITY): MicSampleCount {
  const window = samples.filter((sample) => sample.at >= from && sample.at <= to);
  let longestNoLeaderMs = 0;
  let gapStart: number | undefined;
  for (const sample of window) {
    if (sample.active.length === 0) {
      gapStart ??= sample.at;
      longestNoLeaderMs = Math.max(longestNoLeaderMs, sample.at - gapStart);
    } else {
      gapStart = undefined;
    }
  }
  return { samples: window.length, dualActive: window.filter((sample) => sample.active.length > 1).length, longestNoLeaderMs };
}
