/**
 * Picks up changes to azure.json without a restart. Watches the file's directory, not the file:
 * editors and `kubectl` mounts replace files by rename (a ConfigMap/Secret volume swaps its `..data`
 * symlink), which a watch on the file itself would not survive. Every event, debounced, re-reads and
 * re-parses the file; a periodic re-read covers file systems where watching misses events. A broken
 * file keeps the previous config and is reported once per distinct problem.
 * @module
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { systemClock, type CancelTimer, type Clock } from '../lib/clock.ts';
import { readCloudConfigFile, sameCloudConfig, type CloudConfig } from './cloud-config.ts';

export interface WatchCloudConfigOptions {
  /**
   * The config in use; only configs that differ from it are reported. Without it, the first good
   * read is reported too.
   */
  readonly current?: CloudConfig;
  /** A file that cannot be read or parsed ({@link CloudConfigError}), or an error thrown by `onChange`. */
  readonly onError?: (error: Error) => void;
  /** Quiet time after the last event before re-reading; default 250 ms. */
  readonly debounceMs?: number;
  /** Re-read this often even without events; default 60 s; 0 = never. */
  readonly resyncIntervalMs?: number;
  readonly clock?: Clock;
}

/**
 * Watches `file` until `signal` aborts; resolves once the watch is closed. Checks once at start (so
 * a change between loading the config and watching it is not lost). `onChange` calls never overlap.
 */
export async function watchCloudConfig(
  file: string,
  onChange: (config: CloudConfig) => void | Promise<void>,
  signal: AbortSignal,
  options: WatchCloudConfigOptions = {},
): Promise<void> {
  if (signal.aborted) return;
  const clock = options.clock ?? systemClock;
  const debounceMs = options.debounceMs ?? 250;
  const resyncIntervalMs = options.resyncIntervalMs ?? 60_000;
  let current = options.current;
  let lastProblem: string | undefined;
  let running: Promise<void> | undefined;
  /** Checks asked for so far; a check asked for while one runs makes the runner go again. */
  let requested = 0;
  let cancelDebounce: CancelTimer | undefined;
  let cancelResync: CancelTimer | undefined;

  const report = (error: Error): void => {
    if (error.message === lastProblem) return;
    lastProblem = error.message;
    options.onError?.(error);
  };

  const checkOnce = async (): Promise<void> => {
    let config: CloudConfig;
    try {
      config = await readCloudConfigFile(file);
    } catch (error) {
      report(error as Error);
      return;
    }
    lastProblem = undefined;
    if (current !== undefined && sameCloudConfig(current, config)) return;
    current = config;
    try {
      await onChange(config);
    } catch (error) {
      options.onError?.(error instanceof Error ? error : new Error(String(error)));
    }
  };

  /** Runs checks one at a time; a request during a check runs one more check after it. */
  const check = (): void => {
    if (signal.aborted) return;
    requested++;
    if (running !== undefined) return;
    running = (async () => {
      for (let done = 0; done < requested && !signal.aborted; ) {
        done = requested;
        await checkOnce();
      }
    })().finally(() => {
      running = undefined;
    });
  };

  const scheduleResync = (): void => {
    if (resyncIntervalMs <= 0 || signal.aborted) return;
    cancelResync = clock.setTimer(resyncIntervalMs, () => {
      check();
      scheduleResync();
    });
  };

  const onEvent = (): void => {
    cancelDebounce?.();
    cancelDebounce = clock.setTimer(debounceMs, check);
  };

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(path.dirname(path.resolve(file)), { persistent: false }, onEvent);
    watcher.on('error', (error) => {
      report(new Error(`cloud config ${file}: watching its directory failed; re-reading every ${resyncIntervalMs} ms only`, { cause: error }));
    });
  } catch (error) {
    report(new Error(`cloud config ${file}: cannot watch its directory; re-reading every ${resyncIntervalMs} ms only`, { cause: error }));
  }
  check();
  scheduleResync();

  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => { resolve(); }, { once: true });
  });
  watcher?.close();
  cancelDebounce?.();
  cancelResync?.();
  await running;
}
