/**
 * Progress of long operations, on stderr so stdout stays clean YAML/JSON. On a terminal the current
 * step is one line with a spinner and elapsed time, rewritten in place; elsewhere (CI logs, tests)
 * every step and every change of its detail is one plain line. Each finished step ends with ✓ or ✗.
 * @module
 */

export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export interface Progress {
  /** Starts a step (finishing an unfinished previous one as done). */
  start(text: string): void;
  /** New detail for the running step (e.g. `attempt 3, 12s`). */
  update(detail: string): void;
  /** The running step succeeded; `text` replaces its description when given. */
  done(text?: string): void;
  /** The running step failed. */
  fail(text?: string): void;
  /** A plain note (warnings, hints). */
  note(text: string): void;
  /** Stops the spinner without finishing (for errors thrown through). */
  close(): void;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface ProgressOptions {
  /** Terminal mode (spinner); default: `stream.isTTY`. */
  readonly tty?: boolean;
  readonly now?: () => number;
  /** Spinner frame interval on a terminal; default 100 ms. */
  readonly frameMs?: number;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
}

export function createProgress(stream: ProgressStream, options: ProgressOptions = {}): Progress {
  const tty = options.tty ?? stream.isTTY === true;
  const now = options.now ?? Date.now;
  let step: { text: string; detail: string; startedAt: number } | undefined;
  let frame = 0;
  let timer: NodeJS.Timeout | undefined;

  const render = (): void => {
    if (step === undefined) return;
    const detail = step.detail === '' ? '' : ` (${step.detail})`;
    stream.write(`\r\x1b[2K${FRAMES[frame % FRAMES.length] ?? ''} ${step.text}${detail} ${seconds(now() - step.startedAt)}`);
    frame++;
  };
  const stopTimer = (): void => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
  };
  const finish = (mark: string, text?: string): void => {
    if (step === undefined) return;
    stopTimer();
    const line = `${mark} ${text ?? step.text} (${seconds(now() - step.startedAt)})`;
    stream.write(tty ? `\r\x1b[2K${line}\n` : `${line}\n`);
    step = undefined;
  };

  return {
    start(text) {
      finish('✓');
      step = { text, detail: '', startedAt: now() };
      if (tty) {
        render();
        timer = setInterval(render, options.frameMs ?? 100);
        timer.unref();
      } else {
        stream.write(`… ${text}\n`);
      }
    },
    update(detail) {
      if (step === undefined || step.detail === detail) return;
      step.detail = detail;
      if (tty) render();
      else stream.write(`… ${step.text}: ${detail}\n`);
    },
    done(text) {
      finish('✓', text);
    },
    fail(text) {
      finish('✗', text);
    },
    note(text) {
      if (tty && step !== undefined) stream.write('\r\x1b[2K');
      stream.write(`${text}\n`);
      if (tty) render();
    },
    close() {
      stopTimer();
      if (tty && step !== undefined) stream.write('\r\x1b[2K');
      step = undefined;
    },
  };
}
