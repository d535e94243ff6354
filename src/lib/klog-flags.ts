/**
 * The klog flags that Kubernetes components written in Go accept (upstream MIC and NMI link klog, and
 * their manifests pass `--logtostderr` and sometimes `--v`). Both our binaries accept them so old
 * manifests keep working: `--v` maps to a log level, the rest are ignored with a notice.
 * @module
 */
import { boolFlag, intFlag, stringFlag, type FlagGroup } from './go-flags.ts';
import type { LogLevel } from './logger.ts';

export const KLOG_FLAG_GROUP: FlagGroup = { key: 'klog', title: 'klog flags (accepted for compatibility)', compatibility: 'accepted and ignored: logs always go to stderr, formatted by --log-format' };

export const KLOG_FLAGS = {
  v: intFlag({
    group: 'klog',
    default: 0,
    min: 0,
    placeholder: 'LEVEL',
    usage: 'klog verbosity, mapped to a log level: 0–3 info, 4 debug, 5 and above trace.',
    compatibility: 'mapped to the log level (klog conventions: 4 is debug, 5 is trace)',
  }),
  logtostderr: boolFlag({ group: 'klog', default: true, usage: 'klog: log to stderr.', compatibility: 'accepted; logs always go to stderr (a notice is logged for --logtostderr=false)' }),
  alsologtostderr: boolFlag({ group: 'klog', usage: 'klog: also log to stderr.' }),
  log_dir: stringFlag({ group: 'klog', placeholder: 'DIR', usage: 'klog: directory for log files.' }),
  log_file: stringFlag({ group: 'klog', placeholder: 'FILE', usage: 'klog: log file.' }),
  log_file_max_size: stringFlag({ group: 'klog', placeholder: 'MB', default: '1800', usage: 'klog: log file size limit.' }),
  skip_headers: boolFlag({ group: 'klog', usage: 'klog: no header prefixes.' }),
  skip_log_headers: boolFlag({ group: 'klog', usage: 'klog: no headers in log files.' }),
  add_dir_header: boolFlag({ group: 'klog', usage: 'klog: file directory in the header.' }),
  one_output: boolFlag({ group: 'klog', usage: 'klog: write each record to its own severity only.' }),
  stderrthreshold: stringFlag({ group: 'klog', placeholder: 'SEVERITY', default: '2', usage: 'klog: severity copied to stderr.' }),
  vmodule: stringFlag({ group: 'klog', placeholder: 'PATTERNS', usage: 'klog: per-file verbosity.' }),
  log_backtrace_at: stringFlag({ group: 'klog', placeholder: 'FILE:LINE', usage: 'klog: stack trace at a log line.' }),
};

/** klog verbosity → log level (Kubernetes logging conventions: V(4) debug, V(5) trace). */
export function logLevelForVerbosity(verbosity: number): LogLevel {
  if (verbosity >= 5) return 'trace';
  if (verbosity >= 4) return 'debug';
  return 'info';
}

const IGNORED = Object.keys(KLOG_FLAGS).filter((name) => name !== 'v' && name !== 'logtostderr');

/** Notices for klog flags that were given but have no effect. */
export function klogNotices(values: { readonly logtostderr: boolean }, given: ReadonlySet<string>): { setting: string; message: string }[] {
  const notices: { setting: string; message: string }[] = [];
  if (!values.logtostderr) notices.push({ setting: '--logtostderr', message: 'ignored: logs always go to stderr' });
  for (const name of IGNORED) {
    if (given.has(name)) notices.push({ setting: `--${name}`, message: 'klog flag accepted for compatibility and ignored: logs go to stderr, formatted by --log-format' });
  }
  return notices;
}
