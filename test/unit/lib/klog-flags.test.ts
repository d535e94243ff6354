import { describe, expect, it } from 'vitest';
import { klogFileName, klogNotices, klogOutput, parseKlogSeverity, type KlogValues } from '../../../src/lib/klog-flags.ts';
import { klogSeverityOf } from '../../../src/lib/logger.ts';
import { profileSeconds } from '../../../src/lib/profile-app.ts';

const DEFAULTS: KlogValues = { logtostderr: true, alsologtostderr: false, log_dir: '', log_file: '', log_file_max_size: 1800, stderrthreshold: '2' };

describe('klog severities', () => {
  it('reads --stderrthreshold as klog does: a name in any case or 0–3', () => {
    expect(['INFO', 'warning', 'Error', 'FATAL', '0', '1', '2', '3'].map(parseKlogSeverity)).toEqual(['INFO', 'WARNING', 'ERROR', 'FATAL', 'INFO', 'WARNING', 'ERROR', 'FATAL']);
    for (const bad of ['4', '-1', 'WARN', '', '02']) expect(parseKlogSeverity(bad), bad).toBeUndefined();
  });

  it('maps pino levels onto klog severities (nothing below INFO)', () => {
    expect(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map(klogSeverityOf)).toEqual(['INFO', 'INFO', 'INFO', 'WARNING', 'ERROR', 'FATAL']);
  });
});

describe('klogOutput', () => {
  it('is stderr with --logtostderr, whatever the file flags say (klog ignores them then)', () => {
    expect(klogOutput({ ...DEFAULTS, log_file: '/x.log', log_dir: '/d', alsologtostderr: true }, 'nmi')).toEqual({ kind: 'stderr' });
  });

  it('prefers --log_file to --log_dir; a limit of 0 means none', () => {
    expect(klogOutput({ ...DEFAULTS, logtostderr: false, log_file: '/x.log', log_dir: '/d', log_file_max_size: 0 }, 'nmi')).toMatchObject({ target: { kind: 'file', path: '/x.log' }, maxBytes: 0 });
    expect(klogOutput({ ...DEFAULTS, logtostderr: false, log_dir: '/d', stderrthreshold: 'FATAL' }, 'nmi')).toMatchObject({ target: { kind: 'dir', dir: '/d', program: 'nmi' }, stderrThreshold: 'FATAL' });
  });
});

describe('klogFileName', () => {
  it('names files as klog: program.host.user.log.SEVERITY.yyyymmdd-hhmmss.pid, short host, local time', () => {
    const time = new Date(2026, 0, 2, 3, 4, 5);
    expect(klogFileName({ program: 'nmi', host: 'aks-node-1.internal.cloudapp.net', user: 'root', pid: 42, time })).toBe('nmi.aks-node-1.root.log.INFO.20260102-030405.42');
    expect(klogFileName({ program: 'mic', host: '', user: 'DOMAIN\\me', pid: 7, time, severity: 'ERROR' })).toBe('mic.unknownhost.DOMAIN_me.log.ERROR.20260102-030405.7');
  });
});

describe('klogNotices', () => {
  it('is empty for what upstream manifests pass', () => {
    expect(klogNotices(DEFAULTS, new Set(['logtostderr', 'v']))).toEqual([]);
    expect(klogNotices({ ...DEFAULTS, logtostderr: false, log_file: '/x' }, new Set(['logtostderr', 'log_file', 'log_file_max_size', 'stderrthreshold', 'alsologtostderr']))).toEqual([]);
  });

  it('names every given flag that has no effect', () => {
    const notices = klogNotices(DEFAULTS, new Set(['log_dir', 'log_file', 'log_file_max_size', 'stderrthreshold', 'alsologtostderr', 'one_output', 'add_dir_header', 'skip_log_headers']));
    expect(notices.map((notice) => notice.setting)).toEqual(['--alsologtostderr', '--log_dir', '--log_file', '--log_file_max_size', '--stderrthreshold', '--skip_log_headers', '--add_dir_header', '--one_output']);
  });
});

describe('profileSeconds', () => {
  it('defaults to 30 s like Go and accepts 1–120', () => {
    expect([undefined, '', '1', '120'].map(profileSeconds)).toEqual([30, 30, 1, 120]);
    for (const bad of ['0', '121', '1.5', '-1', 'x', '1e2']) expect(profileSeconds(bad), bad).toEqual({ error: 'seconds must be an integer from 1 to 120' });
  });
});
