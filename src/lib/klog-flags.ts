/**
 * The klog flags that Kubernetes components written in Go accept (upstream MIC and NMI link klog, and
 * their manifests pass `--logtostderr` and sometimes `--v`). Both our binaries accept them so old
 * manifests keep working, and apply what klog would do: `--v` is the log level, and
 * `--logtostderr=false` sends the log to a file (`--log_file`, else a klog-named file in `--log_dir`,
 * else in the temp dir) with `--alsologtostderr`, `--stderrthreshold` and `--log_file_max_size`. The
 * flags that only shape klog's own line format have no counterpart and leave a notice at start.
 * @module
 */
import { boolFlag, intFlag, stringFlag, type FlagGroup } from './go-flags.ts';
import type { LogLevel } from './logger.ts';

export const KLOG_FLAG_GROUP: FlagGroup = { key: 'klog', title: 'klog flags', compatibility: 'accepted, no effect (records are formatted by --log-format); a notice is logged at start' };

/** klog's severities, in order; `--stderrthreshold` names one. */
export const KLOG_SEVERITIES = ['INFO', 'WARNING', 'ERROR', 'FATAL'] as const;
export type KlogSeverity = (typeof KLOG_SEVERITIES)[number];

/** klog's `--stderrthreshold` syntax: a severity name (any case) or its number 0–3. */
export function parseKlogSeverity(text: string): KlogSeverity | undefined {
  const byName = KLOG_SEVERITIES.find((name) => name === text.toUpperCase());
  if (byName !== undefined) return byName;
  return /^[0-3]$/.test(text) ? KLOG_SEVERITIES[Number(text)] : undefined;
}

const FILE_ONLY = 'with --logtostderr=false only (as klog)';

export const KLOG_FLAGS = {
  v: intFlag({
    group: 'klog',
    default: 0,
    min: 0,
    placeholder: 'LEVEL',
    usage: 'klog verbosity, mapped to a log level: 0–3 info, 4 debug, 5 and above trace.',
    compatibility: 'mapped to the log level (klog conventions: 4 is debug, 5 is trace)',
  }),
  logtostderr: boolFlag({
    group: 'klog',
    default: true,
    usage: 'Log to stderr. false: log to a file (--log_file, else a file in --log_dir, else in the temp dir); records at --stderrthreshold and above still go to stderr too.',
    compatibility: 'same',
  }),
  alsologtostderr: boolFlag({ group: 'klog', usage: 'With --logtostderr=false: every record also goes to stderr.', compatibility: `same; ${FILE_ONLY}` }),
  log_dir: stringFlag({
    group: 'klog',
    placeholder: 'DIR',
    usage:
      'With --logtostderr=false and no --log_file: the directory of the log file, named as klog names its INFO file, <program>.<host>.<user>.log.INFO.<yyyymmdd-hhmmss>.<pid>, with a symlink <program>.INFO to it. Empty: the temp dir.',
    compatibility: 'same name and symlink; one file holds every record (klog’s INFO file does too; there are no separate WARNING, ERROR and FATAL files)',
  }),
  log_file: stringFlag({ group: 'klog', placeholder: 'FILE', usage: 'With --logtostderr=false: the log file (appended to, created if missing); wins over --log_dir.', compatibility: `same; ${FILE_ONLY}` }),
  log_file_max_size: intFlag({
    group: 'klog',
    default: 1800,
    min: 0,
    placeholder: 'MB',
    usage: 'With --logtostderr=false: the log file’s size limit in MB. Beyond it --log_file starts over empty (as klog truncates it) and --log_dir moves to a new file. 0: no limit.',
    compatibility: 'same',
  }),
  skip_headers: boolFlag({ group: 'klog', usage: 'klog: no header prefixes.' }),
  skip_log_headers: boolFlag({ group: 'klog', usage: 'klog: no headers in log files.' }),
  add_dir_header: boolFlag({ group: 'klog', usage: 'klog: file directory in the header.' }),
  one_output: boolFlag({ group: 'klog', usage: 'klog: write each record to its own severity only.' }),
  stderrthreshold: stringFlag({
    group: 'klog',
    placeholder: 'SEVERITY',
    default: '2',
    usage: 'With --logtostderr=false: records at this severity and above also go to stderr (INFO, WARNING, ERROR, FATAL or 0–3; default ERROR).',
    compatibility: `same; ${FILE_ONLY}`,
    check: (text) => (parseKlogSeverity(text) === undefined ? 'a klog severity: INFO, WARNING, ERROR, FATAL or 0–3' : undefined),
  }),
  vmodule: stringFlag({ group: 'klog', placeholder: 'PATTERNS', usage: 'klog: per-file verbosity.' }),
  log_backtrace_at: stringFlag({ group: 'klog', placeholder: 'FILE:LINE', usage: 'klog: stack trace at a log line.' }),
};

/** The klog flags' values that decide where logs go. */
export interface KlogValues {
  readonly logtostderr: boolean;
  readonly alsologtostderr: boolean;
  readonly log_dir: string;
  readonly log_file: string;
  readonly log_file_max_size: number;
  readonly stderrthreshold: string;
}

/** Where the log goes: stderr (klog's default), or a file with klog's copy-to-stderr rules. */
export type LogOutput =
  | { readonly kind: 'stderr' }
  | {
      readonly kind: 'file';
      /** `--log_file`, or a klog-named file in `dir` (undefined: the temp dir). */
      readonly target: { readonly kind: 'file'; readonly path: string } | { readonly kind: 'dir'; readonly dir: string | undefined; readonly program: string };
      /** 0: no limit. */
      readonly maxBytes: number;
      /** Records at this severity and above also go to stderr. */
      readonly stderrThreshold: KlogSeverity;
      /** `--alsologtostderr`: every record also goes to stderr. */
      readonly alsoToStderr: boolean;
    };

/** What the klog flags ask for; `program` names the log_dir file (`mic`, `nmi`, as upstream's binaries). */
export function klogOutput(values: KlogValues, program: string): LogOutput {
  if (values.logtostderr) return { kind: 'stderr' };
  return {
    kind: 'file',
    target: values.log_file !== '' ? { kind: 'file', path: values.log_file } : { kind: 'dir', dir: values.log_dir === '' ? undefined : values.log_dir, program },
    maxBytes: values.log_file_max_size * 1024 * 1024,
    stderrThreshold: parseKlogSeverity(values.stderrthreshold) ?? 'ERROR',
    alsoToStderr: values.alsologtostderr,
  };
}

/** klog's name for a log file: `<program>.<host>.<user>.log.<SEVERITY>.<yyyymmdd-hhmmss>.<pid>` (local time). */
export function klogFileName(parts: { readonly program: string; readonly host: string; readonly user: string; readonly pid: number; readonly time: Date; readonly severity?: KlogSeverity }): string {
  const t = parts.time;
  const two = (value: number): string => String(value).padStart(2, '0');
  const stamp = `${String(t.getFullYear()).padStart(4, '0')}${two(t.getMonth() + 1)}${two(t.getDate())}-${two(t.getHours())}${two(t.getMinutes())}${two(t.getSeconds())}`;
  // klog: the short host name, and the user name with Windows domain separators replaced.
  const host = parts.host.split('.')[0] || 'unknownhost';
  const user = parts.user.replaceAll('\\', '_') || 'unknownuser';
  return `${parts.program}.${host}.${user}.log.${parts.severity ?? 'INFO'}.${stamp}.${String(parts.pid)}`;
}

/** klog verbosity → log level (Kubernetes logging conventions: V(4) debug, V(5) trace). */
export function logLevelForVerbosity(verbosity: number): LogLevel {
  if (verbosity >= 5) return 'trace';
  if (verbosity >= 4) return 'debug';
  return 'info';
}

/** klog flags with no counterpart: they only shape klog's own line format. */
const FORMAT_ONLY = ['skip_headers', 'skip_log_headers', 'add_dir_header', 'one_output', 'vmodule', 'log_backtrace_at'] as const;
/** Flags that take effect only with --logtostderr=false (klog ignores them otherwise, and so do we, with a notice). */
const FILE_FLAGS = ['alsologtostderr', 'log_dir', 'log_file', 'log_file_max_size', 'stderrthreshold'] as const;

/** Notices for klog flags that were given but have no effect (never silently). */
export function klogNotices(values: KlogValues, given: ReadonlySet<string>): { setting: string; message: string }[] {
  const notices: { setting: string; message: string }[] = [];
  for (const name of FILE_FLAGS) {
    if (!given.has(name)) continue;
    if (values.logtostderr) {
      notices.push({ setting: `--${name}`, message: 'has no effect while --logtostderr is true (klog’s default, and what upstream’s manifests pass): logs go to stderr; add --logtostderr=false to log to a file' });
    } else if (name === 'log_dir' && values.log_file !== '') {
      notices.push({ setting: '--log_dir', message: `has no effect: --log_file ${values.log_file} wins over it (as in klog)` });
    }
  }
  for (const name of FORMAT_ONLY) {
    if (given.has(name)) notices.push({ setting: `--${name}`, message: 'klog flag accepted for compatibility and ignored: records are formatted by --log-format' });
  }
  return notices;
}
