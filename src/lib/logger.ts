/**
 * The process logger: pino, writing one line per record to stderr (like klog with `--logtostderr`),
 * or to a log file with klog's copy-to-stderr rules (`--logtostderr=false`, see klog-flags.ts),
 * either as JSON or as a readable text line (`--log-format`, upstream's flag). Credentials that end
 * up in a logged object are replaced by `[REDACTED]` wherever the usual field names appear, at any
 * depth, at every level, in errors and in child bindings ({@link redactLine}).
 * @module
 */
import { writeSync } from 'node:fs';
import { pino, type DestinationStream, type Level, type Logger, type LoggerOptions as PinoOptions } from 'pino';
import { KLOG_SEVERITIES, type KlogSeverity, type LogOutput } from './klog-flags.ts';
import { openLogFile } from './log-file.ts';

export type LogFormat = 'json' | 'text';
export type LogLevel = Level | 'silent';

export interface LoggerOptions {
  readonly format: LogFormat;
  readonly level: LogLevel;
  /** The binary or tool (`mic`, `nmi`), on every record. */
  readonly component: string;
  /** Where lines go; default stderr, written synchronously so nothing is lost when the process exits. */
  readonly destination?: DestinationStream;
  /**
   * Buffer stderr writes (up to 16 KB or 200 ms, written asynchronously, flushed on exit) instead of one synchronous
   * write per record: for processes that log on their hot path (NMI's audit record per token), where a
   * write per request — blocking while a slow reader drains the pipe — costs a sixth of the CPU.
   */
  readonly buffered?: boolean;
  /** Where records go (klog flags); default stderr. A file that cannot be opened throws a `LogFileError`. */
  readonly output?: LogOutput;
}

/**
 * Field names whose values are credentials (tokens, secrets, assertions, auth headers), compared
 * case-insensitively: `Authorization`, `accessToken` and `ACCESS_TOKEN` all count.
 */
export const REDACTED_KEYS: readonly string[] = [
  'token',
  'access_token',
  'accessToken',
  'refresh_token',
  'refreshToken',
  'id_token',
  'idToken',
  'clientSecret',
  'client_secret',
  'aadClientSecret',
  'password',
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'assertion',
  'client_assertion',
  'clientAssertion',
];

export const REDACTED = '[REDACTED]';

const SENSITIVE = new Set(REDACTED_KEYS.map((key) => key.toLowerCase()));
const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
/** Cheap pre-check on the serialized line: does any sensitive key appear as a JSON key? */
const MAY_HAVE_SECRET = new RegExp(`"(?:${REDACTED_KEYS.map(escapeRegExp).join('|')})":`, 'i');

/**
 * Replaces the value of every sensitive key, at any depth, in one serialized record. Runs on pino's
 * final line (after serializers, with child bindings and errors' own properties included), so
 * nothing reaches the output unredacted however deep it sits; lines without a sensitive key are
 * only scanned. (pino's `redact` needs one path per depth: 85 wildcard paths cost ~65 µs a record.)
 */
export function redactLine(line: string): string {
  if (!MAY_HAVE_SECRET.test(line)) return line;
  const newline = line.endsWith('\n') ? '\n' : '';
  try {
    const record: unknown = JSON.parse(line, (key, value: unknown) => (SENSITIVE.has(key.toLowerCase()) ? REDACTED : value));
    return JSON.stringify(record) + newline;
  } catch {
    // Not JSON (cannot happen with pino's output): drop rather than risk printing a secret.
    return `{"msg":"log record dropped: it could not be checked for credentials"}${newline}`;
  }
}

/** Creates the root logger; components derive children (`logger.child({ controller: 'assigner' })`). */
export function createLogger(options: LoggerOptions): Logger {
  const stderr = options.destination ?? stderrDestination(options.buffered === true);
  const pinoOptions: PinoOptions = {
    level: options.level,
    base: { component: options.component },
    timestamp: isoTimeOncePerMs,
    // Level names rather than numbers: readable as JSON and what the text format prints.
    formatters: { level: (label) => ({ level: label }) },
    hooks: { streamWrite: redactLine },
  };
  const formatted = (destination: DestinationStream): DestinationStream => (options.format === 'text' ? textDestination(destination) : destination);
  const output = options.output;
  if (output === undefined || output.kind === 'stderr') return pino(pinoOptions, formatted(stderr));

  const toStderr = pino(pinoOptions, formatted(stderr));
  const file = openLogFile({
    target: output.target,
    maxBytes: output.maxBytes,
    buffered: options.buffered === true,
    onWriteError: (error) => {
      toStderr.error({ err: { message: String(error) } }, 'writing the log file failed; records are dropped until it works again (records at --stderrthreshold and above still come here)');
    },
  });
  // klog, and a record here so that `kubectl logs` says where the rest went.
  toStderr.info({ file: file.path, stderrThreshold: output.alsoToStderr ? 'all records (--alsologtostderr)' : output.stderrThreshold }, 'logging to a file (--logtostderr=false); records at the stderr threshold and above also go to stderr');
  return pino(pinoOptions, severityRouter(formatted(file), formatted(stderr), (severity) => output.alsoToStderr || rank(severity) >= rank(output.stderrThreshold)));
}

let lastTimeMs = Number.NaN;
let lastTime = '';
/**
 * pino's `stdTimeFunctions.isoTime`, formatted once per millisecond: a busy NMI logs about ten audit
 * records per millisecond, and `toISOString` was 1.6 % of its CPU under load.
 */
export function isoTimeOncePerMs(): string {
  const now = Date.now();
  if (now !== lastTimeMs) {
    lastTimeMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

const rank = (severity: KlogSeverity): number => KLOG_SEVERITIES.indexOf(severity);

/** pino's level names → klog's severities (klog has nothing below INFO). */
export function klogSeverityOf(level: string): KlogSeverity {
  if (level === 'fatal') return 'FATAL';
  if (level === 'error') return 'ERROR';
  if (level === 'warn') return 'WARNING';
  return 'INFO';
}

// pino writes `level` first: the first match is the record's own level, never a logged value.
const LEVEL_FIELD = /"level":"(\w+)"/;

/** Every record to `file`; to `stderr` too when `copy` says so for its severity (klog's stderrthreshold). */
export function severityRouter(file: DestinationStream, stderr: DestinationStream, copy: (severity: KlogSeverity) => boolean): DestinationStream {
  return {
    write(chunk: string): void {
      file.write(chunk);
      if (copy(klogSeverityOf(LEVEL_FIELD.exec(chunk)?.[1] ?? 'info'))) stderr.write(chunk);
    },
  };
}

/**
 * Records joined per write to stderr when buffered. Each write is a thread-pool round trip: 16 KB
 * batches cost 2.9 µs a record, 4 KB ones 3.5–4.2 (200,000 audit records); 64 KB (2.5 µs) would put
 * more records in the one write an exit can cut short (an asynchronous write in flight is not waited
 * for), so 16 KB, sonic-boom's own largest write.
 */
const BATCH_BYTES = 16 * 1024;

function stderrDestination(buffered: boolean): DestinationStream {
  if (!buffered) return pino.destination({ fd: 2, sync: true });
  const destination = pino.destination({ fd: 2, sync: false });
  const batch = batchedWrites(destination, BATCH_BYTES);
  const flush = (): void => {
    batch.flush();
    destination.flush();
  };
  // A quiet process must not sit on its last lines: flush what is buffered every 200 ms.
  setInterval(flush, 200).unref();
  // What is still buffered when the process exits (normally or not) is written before it goes, the
  // batch last and synchronously: handed to sonic-boom it would start an asynchronous write that the
  // exit does not wait for.
  process.once('exit', () => {
    try {
      const rest = batch.take();
      destination.flushSync();
      if (rest !== '') writeSync(2, rest);
    } catch {
      // stderr gone: nothing left to tell
    }
  });
  return {
    write: (chunk: string) => {
      batch.write(chunk);
    },
  };
}

/**
 * Hands `destination` one string per `minBytes` of records instead of one per record. sonic-boom's
 * own buffering (`minLength`) appends each record to its pending string and measures that string's
 * UTF-8 length on every write, which flattens (copies) it: up to 16 KB copied per record, the largest
 * share of NMI's garbage under load (5.1–5.4 µs a record before, 2.4–3.0 after). An array joined once
 * per batch copies each record once.
 */
export function batchedWrites(destination: DestinationStream, minBytes: number): { write(chunk: string): void; flush(): void; take(): string } {
  let pending: string[] = [];
  let pendingLength = 0;
  /** The records not yet handed on, joined; nothing is pending afterwards. */
  const take = (): string => {
    const text = pending.length === 1 ? (pending[0] ?? '') : pending.join('');
    pending = [];
    pendingLength = 0;
    return text;
  };
  const flush = (): void => {
    if (pending.length > 0) destination.write(take());
  };
  return {
    take,
    write(chunk: string): void {
      pending.push(chunk);
      // UTF-16 length: a threshold needs no exact byte count.
      pendingLength += chunk.length;
      if (pendingLength >= minBytes) flush();
    },
    flush,
  };
}

// ---------------------------------------------------------------------------------------------
// Text format: `<time> <LEVEL> <component>: <msg> key=value …`, one line per record. pino writes
// JSON (after redaction) and this destination rewrites each line, which keeps pino's serializers
// and redaction in one place and needs no worker thread (pino-pretty transport).

const CORE_KEYS = new Set(['time', 'level', 'component', 'msg']);
// Control characters would let a logged value start a forged line.
// eslint-disable-next-line no-control-regex
const NEEDS_QUOTES = /[\s"=\\\u0000-\u001f\u007f]|^$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/g;

function formatValue(value: unknown): string {
  if (typeof value === 'string') return NEEDS_QUOTES.test(value) ? JSON.stringify(value) : value;
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function formatFields(record: Record<string, unknown>): string[] {
  const fields: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (CORE_KEYS.has(key)) continue;
    if (key === 'err' && isRecord(value)) {
      // Errors read better flattened: err.type, err.message, extra fields, then the (escaped) stack.
      const { stack, ...rest } = value;
      for (const [errKey, errValue] of Object.entries(rest)) fields.push(`err.${errKey}=${formatValue(errValue)}`);
      if (stack !== undefined) fields.push(`err.stack=${formatValue(stack)}`);
      continue;
    }
    fields.push(`${key}=${formatValue(value)}`);
  }
  return fields;
}

/** One JSON record → one text line (without the newline). Exported for tests. */
export function formatTextLine(json: string): string {
  let record: unknown;
  try {
    record = JSON.parse(json);
  } catch {
    return json.replace(CONTROL, ' ');
  }
  if (!isRecord(record)) return json.replace(CONTROL, ' ');
  const time = typeof record.time === 'string' ? record.time : new Date().toISOString();
  const level = (typeof record.level === 'string' ? record.level : 'info').toUpperCase().padEnd(5);
  const component = typeof record.component === 'string' ? `${record.component}: ` : '';
  const message = typeof record.msg === 'string' ? record.msg.replace(CONTROL, (char) => JSON.stringify(char).slice(1, -1)) : '';
  return [`${time} ${level} ${component}${message}`, ...formatFields(record)].join(' ');
}

/** Wraps `inner` so that it receives text lines instead of pino's JSON lines. */
export function textDestination(inner: DestinationStream): DestinationStream {
  return {
    write(chunk: string): void {
      for (const line of chunk.split('\n')) {
        if (line !== '') inner.write(`${formatTextLine(line)}\n`);
      }
    },
  };
}
