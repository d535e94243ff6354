import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, logLevelForVerbosity, micHelp, parseMicCommand, parseMicConfig, type MicConfig } from '../../../src/mic/config.ts';
import { BEGIN_MARKER, END_MARKER, generatedSection, MIC_DOC_PATH, renderMicFlagsSection, withGeneratedSection } from '../../../src/mic/flags-doc.ts';
import { MIC_FLAGS } from '../../../src/mic/flags.ts';

const ENV = { MIC_POD_NAMESPACE: 'kube-system' };
const HOST = { hostname: () => 'mic-7d9f-abcde' };

function parse(argv: readonly string[], env: NodeJS.ProcessEnv = ENV): MicConfig {
  return parseMicConfig(argv, env, HOST);
}

function problems(argv: readonly string[], env: NodeJS.ProcessEnv = ENV): readonly string[] {
  try {
    parseMicCommand(argv, env, HOST);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseMicConfig defaults (upstream 2.11)', () => {
  const config = parse([]);

  it('matches upstream', () => {
    expect(config.kubeconfig).toBeUndefined();
    expect(config.cloudConfigPath).toBeUndefined();
    expect(config.namespaced).toBe(false);
    expect(config.podNamespace).toBe('kube-system');
    expect(config.reconcile.fullResyncIntervalMs).toBe(3_600_000);
    expect(config.leaderElection).toEqual({
      lock: 'leases',
      namespace: 'default',
      name: 'aad-pod-identity-mic',
      identity: 'mic-7d9f-abcde',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 7_500,
      retryPeriodMs: 3_750,
    });
    expect(config.healthServer).toEqual({ host: '', port: 8080 });
    expect(config.metricsServer).toEqual({ host: '', port: 8888 });
    expect(config.reconcile.writeConcurrency).toBe(20);
    // Upstream's default of 5 QPS is not ours: MIC is not paced unless --clientQps is given (docs/mic.md).
    expect(config.kubeClient).toEqual({ rate: undefined, customUserAgent: undefined });
    expect(config.immutableClientIds).toEqual([]);
    expect(config.typeUpgrade).toEqual({ enabled: true, configMapNamespace: 'kube-system', configMapName: 'aad-pod-identity-config', statusKey: 'type-upgrade-status' });
    expect(config.reconcile.armRetry).toEqual({ maxRetries: 2, firstDelayMs: 1_000 });
    expect(config.reconcile.driftCheckIntervalMs).toBe(180_000);
    expect(config.log).toEqual({ format: 'text', level: 'info', output: { kind: 'stderr' } });
    expect(config.profileServer).toBeUndefined();
    expect(config.notices).toEqual([]);
  });

  it('has our additions', () => {
    expect(config.reconcile.identityRemovalGracePeriodMs).toBe(30_000);
    expect(config.reconcile.debounceMs).toBe(100);
    expect(config.reconcile.workers).toBe(8);
  });

  it('is deeply frozen', () => {
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.leaderElection)).toBe(true);
    expect(Object.isFrozen(config.reconcile.armRetry)).toBe(true);
    expect(Object.isFrozen(config.immutableClientIds)).toBe(true);
  });
});

describe('Go flag syntax', () => {
  it.each([
    [['--kubeconfig=/k'], '/k'],
    [['--kubeconfig', '/k'], '/k'],
    [['-kubeconfig=/k'], '/k'],
    [['-kubeconfig', '/k'], '/k'],
    [['--kubeconfig=a=b'], 'a=b'],
    [['--kubeconfig=/first', '--kubeconfig=/last'], '/last'],
  ])('%j sets a string flag', (argv, expected) => {
    expect(parse(argv).kubeconfig).toBe(expected);
  });

  it.each([
    [['--forceNamespaced'], true],
    [['-forceNamespaced'], true],
    [['--forceNamespaced=true'], true],
    [['--forceNamespaced=1'], true],
    [['--forceNamespaced=T'], true],
    [['--forceNamespaced=false'], false],
    [['--forceNamespaced=False'], false],
    [['--forceNamespaced=0'], false],
    [['--forceNamespaced', '--forceNamespaced=false'], false],
  ])('%j sets a boolean', (argv, expected) => {
    expect(parse(argv).namespaced).toBe(expected);
  });

  it('never takes the next argument as a boolean value (like Go)', () => {
    expect(problems(['--forceNamespaced', 'false'])).toEqual(['unexpected arguments "false": MIC takes flags only']);
  });

  it('takes the next argument as a value even when it starts with a dash (like Go)', () => {
    expect(parse(['--custom-user-agent', '-x']).kubeClient.customUserAgent).toBe('-x');
  });

  it('treats everything after -- as arguments', () => {
    expect(problems(['--', '--kubeconfig=/k'])).toEqual(['unexpected arguments "--kubeconfig=/k": MIC takes flags only']);
  });

  it.each([
    ['15s', 15_000],
    ['3m', 180_000],
    ['1h30m', 5_400_000],
    ['3600s', 3_600_000],
    ['1.5h', 5_400_000],
    ['90000ms', 90_000],
  ])('reads the Go duration %s', (text, ms) => {
    expect(parse([`--syncRetryDuration=${text}`]).reconcile.fullResyncIntervalMs).toBe(ms);
  });
});

describe('upstream flags', () => {
  it('maps every flag to its field', () => {
    const config = parse([
      '--kubeconfig=/etc/kube',
      '--cloudconfig=/etc/kubernetes/azure.json',
      '--leader-election-instance=me',
      '--leader-election-namespace=kube-system',
      '--leader-election-name=mic-lock',
      '--leader-election-duration=30s',
      '--http-probe-port=9080',
      '--prometheus-port=9888',
      '--createDeleteBatch=5',
      '--clientQps=12.5',
      '--immutable-user-msis=AAAAAAAA-0000-0000-0000-000000000001, bbbbbbbb-0000-0000-0000-000000000002,',
      '--config-map-name=cm',
      '--type-upgrade-status-key=done.key',
      '--enable-type-upgrade=false',
      '--update-user-msi-max-retry=0',
      '--update-user-msi-retry-interval=500ms',
      '--identity-assignment-reconcile-interval=10m',
      '--log-format=json',
      '--custom-user-agent=contoso/1.0',
    ]);
    expect(config.kubeconfig).toBe('/etc/kube');
    expect(config.cloudConfigPath).toBe('/etc/kubernetes/azure.json');
    expect(config.leaderElection).toMatchObject({ identity: 'me', namespace: 'kube-system', name: 'mic-lock', leaseDurationMs: 30_000, renewDeadlineMs: 15_000, retryPeriodMs: 7_500 });
    expect(config.healthServer.port).toBe(9080);
    expect(config.metricsServer.port).toBe(9888);
    expect(config.reconcile.writeConcurrency).toBe(5);
    expect(config.kubeClient).toEqual({ rate: { qps: 12.5, burst: 12 }, customUserAgent: 'contoso/1.0' });
    expect(config.immutableClientIds).toEqual(['aaaaaaaa-0000-0000-0000-000000000001', 'bbbbbbbb-0000-0000-0000-000000000002']);
    expect(config.typeUpgrade).toMatchObject({ enabled: false, configMapName: 'cm', statusKey: 'done.key' });
    expect(config.reconcile.armRetry).toEqual({ maxRetries: 0, firstDelayMs: 500 });
    expect(config.reconcile.driftCheckIntervalMs).toBe(600_000);
    expect(config.log.format).toBe('json');
  });

  it('keeps at least a burst of 1 for a QPS below 1', () => {
    expect(parse(['--clientQps=0.5']).kubeClient.rate).toEqual({ qps: 0.5, burst: 1 });
    expect(parse(['--clientQps=5']).kubeClient.rate).toEqual({ qps: 5, burst: 5 });
  });

  it('turns namespaced mode on for FORCENAMESPACED=true exactly', () => {
    expect(parse([], { ...ENV, FORCENAMESPACED: 'true' }).namespaced).toBe(true);
    expect(parse([], { ...ENV, FORCENAMESPACED: 'false' }).namespaced).toBe(false);
    const odd = parse([], { ...ENV, FORCENAMESPACED: 'True' });
    expect(odd.namespaced).toBe(false);
    expect(odd.notices).toEqual([expect.objectContaining({ setting: 'FORCENAMESPACED' })]);
  });

  it('accepts deprecated flags with a notice', () => {
    const config = parse(['--enableScaleFeatures=true']);
    expect(config.notices.map((notice) => notice.setting)).toEqual(['--enableScaleFeatures']);
  });

  it('--enableProfile serves profiles on 127.0.0.1:6060 (upstream’s address), --profile-port moves it', () => {
    expect(parse(['--enableProfile']).profileServer).toEqual({ host: '127.0.0.1', port: 6060 });
    expect(parse(['--enableProfile']).notices).toEqual([]);
    expect(parse(['--enableProfile', '--profile-port=7070']).profileServer).toEqual({ host: '127.0.0.1', port: 7070 });
    const alone = parse(['--profile-port=7070']);
    expect(alone.profileServer).toBeUndefined();
    expect(alone.notices).toEqual([expect.objectContaining({ setting: '--profile-port', message: 'has no effect without --enableProfile' })]);
  });

  it('answers --version without MIC_POD_NAMESPACE', () => {
    expect(parseMicCommand(['--version'], {}, HOST)).toEqual({ kind: 'version' });
  });

  it('answers --help before any problem', () => {
    for (const flag of ['-h', '--help', '-help', '--h']) {
      const command = parseMicCommand(['--nope', flag], {}, HOST);
      expect(command.kind).toBe('help');
    }
  });

  it('refuses --help and --version in parseMicConfig', () => {
    expect(() => parse(['--version'])).toThrow(ConfigError);
  });
});

describe('klog flags', () => {
  it.each([
    ['-v=4', 'debug'],
    ['--v=5', 'trace'],
    ['--v=2', 'info'],
  ])('maps %s', (flag, level) => {
    expect(parse([flag]).log.level).toBe(level);
  });

  it('maps -v N with a separate value', () => {
    expect(parse(['-v', '6']).log.level).toBe('trace');
  });

  it('accepts --logtostderr silently (upstream manifests always pass it)', () => {
    expect(parse(['--logtostderr']).notices).toEqual([]);
    expect(parse(['--logtostderr']).log.output).toEqual({ kind: 'stderr' });
  });

  it('--logtostderr=false logs to a file as klog: --log_file, else a klog-named file in --log_dir (the temp dir by default)', () => {
    expect(parse(['--logtostderr=false', '--log_file=/var/log/mic.log']).log.output).toEqual({
      kind: 'file',
      target: { kind: 'file', path: '/var/log/mic.log' },
      maxBytes: 1800 * 1024 * 1024,
      stderrThreshold: 'ERROR',
      alsoToStderr: false,
    });
    expect(parse(['--logtostderr=false', '--log_dir', '/var/log', '--stderrthreshold=warning', '--alsologtostderr', '--log_file_max_size=5']).log.output).toEqual({
      kind: 'file',
      target: { kind: 'dir', dir: '/var/log', program: 'mic' },
      maxBytes: 5 * 1024 * 1024,
      stderrThreshold: 'WARNING',
      alsoToStderr: true,
    });
    expect(parse(['--logtostderr=false']).log.output).toMatchObject({ target: { kind: 'dir', dir: undefined, program: 'mic' } });
    expect(parse(['--logtostderr=false', '--log_file=/a.log', '--log_dir=/b']).notices).toEqual([expect.objectContaining({ setting: '--log_dir' })]);
    expect(problems(['--stderrthreshold=LOUD'])).toEqual([expect.stringContaining('--stderrthreshold: "LOUD" is not valid: expected a klog severity')]);
  });

  it('says at start that the file flags have no effect while --logtostderr is true (klog ignores them then)', () => {
    const config = parse(['--logtostderr', '--log_file=/var/log/mic.log', '--alsologtostderr', '--forceNamespaced']);
    expect(config.log.output).toEqual({ kind: 'stderr' });
    expect(config.notices).toEqual([
      { setting: '--alsologtostderr', message: expect.stringContaining('has no effect while --logtostderr is true') as string },
      { setting: '--log_file', message: expect.stringContaining('add --logtostderr=false to log to a file') as string },
    ]);
  });

  it('accepts the klog flags that only shape klog’s line format, with a notice', () => {
    const config = parse(['--skip_headers', '--vmodule=mic=5', '--log_backtrace_at', 'x.go:1', '--forceNamespaced']);
    expect(config.namespaced).toBe(true); // the value-taking klog flags consumed exactly their values
    expect(config.notices.map((notice) => notice.setting)).toEqual(['--skip_headers', '--vmodule', '--log_backtrace_at']);
  });

  it('maps verbosity like the Kubernetes logging conventions', () => {
    expect([0, 1, 2, 3, 4, 5, 9].map(logLevelForVerbosity)).toEqual(['info', 'info', 'info', 'info', 'debug', 'trace', 'trace']);
  });
});

describe('our additions', () => {
  it('maps every flag to its field', () => {
    const config = parse([
      '--identity-removal-grace-period=2m',
      '--debounce=250ms',
      '--drift-check-interval=5m',
      '--workers=3',
      '--health-bind-address=0.0.0.0',
      '--metrics-bind-address=127.0.0.1',
      '--leader-election-resource-lock=endpointsleases',
    ]);
    expect(config.reconcile).toMatchObject({ identityRemovalGracePeriodMs: 120_000, debounceMs: 250, driftCheckIntervalMs: 300_000, workers: 3 });
    expect(config.healthServer.host).toBe('0.0.0.0');
    expect(config.metricsServer.host).toBe('127.0.0.1');
    expect(config.leaderElection.lock).toBe('endpointsleases');
  });

  it('treats --drift-check-interval as the same setting as the upstream flag', () => {
    expect(parse(['--identity-assignment-reconcile-interval=7m']).reconcile.driftCheckIntervalMs).toBe(420_000);
    expect(parse(['--drift-check-interval=7m', '--identity-assignment-reconcile-interval=420s']).reconcile.driftCheckIntervalMs).toBe(420_000);
    expect(parse(['--drift-check-interval=0']).reconcile.driftCheckIntervalMs).toBe(0);
  });

  it('allows a zero grace period (upstream behaviour) and zero debounce', () => {
    expect(parse(['--identity-removal-grace-period=0', '--debounce=0s']).reconcile).toMatchObject({ identityRemovalGracePeriodMs: 0, debounceMs: 0 });
  });
});

describe('problems', () => {
  it('lists every problem with the flag, the value and what is expected', () => {
    const found = problems(
      [
        '--nope',
        '--createDeleteBatch=many',
        '--leader-election-duration=500ms',
        '--log-format=JSON',
        '--syncRetryDuration=10',
        '--http-probe-port=70000',
        '--clientQps=0',
        '--immutable-user-msis=aaaaaaaa-0000-0000-0000-000000000001,not-a-guid',
        '--leader-election-namespace=Kube_System',
        '--health-bind-address=localhost',
        '--workers=0',
        '--enable-type-upgrade=maybe',
        '--kubeconfig',
      ],
      {},
    );
    expect(found).toEqual([
      'unknown flag --nope',
      '--kubeconfig: needs a value (file)',
      '--syncRetryDuration: "10" is not valid: expected a Go duration such as 15s, 3m or 1h30m, greater than 0',
      '--leader-election-namespace: "Kube_System" is not valid: expected a Kubernetes namespace name (lower-case DNS label)',
      '--leader-election-duration: "500ms" is not valid: expected a Go duration such as 15s, 3m or 1h30m, at least 1s',
      '--http-probe-port: "70000" is not valid: expected an integer from 0 to 65535',
      '--createDeleteBatch: "many" is not valid: expected an integer ≥ 1',
      '--clientQps: "0" is not valid: expected a number > 0',
      '--immutable-user-msis: "aaaaaaaa-0000-0000-0000-000000000001,not-a-guid" is not valid: expected client IDs (GUIDs) (bad: "not-a-guid")',
      '--enable-type-upgrade: "maybe" is not valid: expected true or false',
      '--log-format: "JSON" is not valid: expected one of text, json',
      '--workers: "0" is not valid: expected an integer from 1 to 1000',
      '--health-bind-address: "localhost" is not valid: expected an IP address, or empty for all interfaces',
      'MIC_POD_NAMESPACE is not set: set it to MIC’s namespace (env valueFrom fieldRef metadata.namespace)',
    ]);
  });

  it('says so in the message too', () => {
    expect(() => parseMicCommand(['--nope'], ENV, HOST)).toThrow(/mic: invalid configuration:\n {2}- unknown flag --nope/);
  });

  it('rejects a malformed MIC_POD_NAMESPACE', () => {
    expect(problems([], { MIC_POD_NAMESPACE: 'Not A Namespace' })).toEqual([
      'MIC_POD_NAMESPACE: "Not A Namespace" is not valid: expected a Kubernetes namespace name (lower-case DNS label)',
    ]);
  });

  it('rejects conflicting drift intervals, naming both flags', () => {
    expect(problems(['--drift-check-interval=1m', '--identity-assignment-reconcile-interval=2m'])).toEqual([
      '--drift-check-interval and --identity-assignment-reconcile-interval are the same setting but were given different values; give one of them',
    ]);
  });

  it('rejects the probe and metrics servers on one port and address', () => {
    expect(problems(['--http-probe-port=9000', '--prometheus-port=9000'])).toHaveLength(1);
    expect(problems(['--http-probe-port=9000', '--prometheus-port=9000', '--metrics-bind-address=127.0.0.1'])).toHaveLength(1);
    expect(parse(['--http-probe-port=9000', '--prometheus-port=9000', '--health-bind-address=10.0.0.1', '--metrics-bind-address=127.0.0.1']).healthServer.port).toBe(9000);
    expect(parse(['--http-probe-port=0', '--prometheus-port=0']).metricsServer.port).toBe(0);
  });

  it('rejects an empty leader election instance and control characters in the user agent', () => {
    expect(problems(['--leader-election-instance=', '--custom-user-agent=a\r\nX-Evil: 1'])).toEqual([
      '--leader-election-instance: "" is not valid: expected a non-empty name',
      '--custom-user-agent: "a\\r\\nX-Evil: 1" is not valid: expected text without control characters (it goes into the User-Agent header)',
    ]);
  });
});

describe('--help', () => {
  const help = micHelp('mic');

  it('lists every flag of the table and the environment', () => {
    for (const name of Object.keys(MIC_FLAGS)) expect(help).toContain(`  --${name}`);
    expect(help).toContain('MIC_POD_NAMESPACE');
    expect(help).toContain('FORCENAMESPACED');
  });

  it('shows Go-style defaults', () => {
    expect(help).toMatch(/--leader-election-name STRING\n {8}.*\(default "aad-pod-identity-mic"\)/);
    expect(help).toMatch(/--identity-assignment-reconcile-interval DURATION\n {8}.*\(default 3m\)/);
    expect(help).toMatch(/--leader-election-instance STRING\n {8}.*\(default the hostname \(pod name\)\)/);
  });
});

describe('docs/mic.md', () => {
  it('carries the generated flag and environment tables unchanged (regenerate: node src/mic/flags-doc.ts)', () => {
    const doc = readFileSync(MIC_DOC_PATH, 'utf8');
    expect(generatedSection(doc)).toBe(renderMicFlagsSection());
  });

  it('documents every flag and variable', () => {
    const section = renderMicFlagsSection();
    for (const name of Object.keys(MIC_FLAGS)) expect(section).toContain(`| \`--${name}`);
    expect(section).toContain('| `MIC_POD_NAMESPACE` |');
    expect(section).toContain('| `FORCENAMESPACED` |');
  });

  it('replaces only the generated section', () => {
    const doc = `intro\n${BEGIN_MARKER}\nstale\n${END_MARKER}\noutro\n`;
    const updated = withGeneratedSection(doc);
    expect(updated.startsWith(`intro\n${BEGIN_MARKER}\n\n`)).toBe(true);
    expect(updated.endsWith(`\n\n${END_MARKER}\noutro\n`)).toBe(true);
    expect(generatedSection(updated)).toBe(renderMicFlagsSection());
  });
});
