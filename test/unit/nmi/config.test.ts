import { describe, expect, it } from 'vitest';
import { ConfigError, parseNmiCommand, parseNmiConfig } from '../../../src/nmi/config.ts';

const env = { NODE_NAME: 'node-1', NODE_IP: '10.240.0.4' };

describe('NMI configuration', () => {
  it('defaults to upstream values, DNAT to the node IP and a listener there', () => {
    const config = parseNmiConfig([], env);
    expect(config.nodeName).toBe('node-1');
    expect(config.tokenListener).toEqual({ host: '10.240.0.4', port: 2579 });
    expect(config.hostTokenListener).toEqual({ host: '127.0.0.1', port: 2579 });
    expect(config.iptables).toMatchObject({ dnatIp: '10.240.0.4', dnatPort: 2579, intervalMs: 4_000, manage: true, flushConntrack: true, cleanupOnExit: false });
    expect(config.metadata).toEqual({ ip: '169.254.169.254', port: 80 });
    expect(config.standardMode).toEqual({ retryAttemptsForCreated: 16, retryAttemptsForAssigned: 4, retryIntervalMs: 5_000 });
    expect(config).toMatchObject({ mode: 'standard', namespaced: false, micNamespace: 'default', watchNodeAssignmentsOnly: true, metadataHeaderRequired: true, blockInstanceMetadata: false, retryAfterSeconds: undefined });
    expect(config.tokens.imds).toEqual({ maxConcurrent: 5, maxPerSecond: 20 });
    expect(Object.isFrozen(config.iptables)).toBe(true);
  });

  it('accepts upstream flags by their names, --operation-mode in any case', () => {
    const config = parseNmiConfig(
      ['--node=n2', '--operation-mode', 'MANAGED', '--forceNamespaced', '--set-retry-after-header', '--block-instance-metadata', '--MICNamespace=kube-system', '--http-probe-port=8085', '--v=4', '--logtostderr'],
      env,
    );
    expect(config).toMatchObject({ nodeName: 'n2', mode: 'managed', namespaced: true, retryAfterSeconds: 20, blockInstanceMetadata: true, micNamespace: 'kube-system' });
    expect(config.healthServer.port).toBe(8085);
    expect(config.log.level).toBe('debug');
  });

  it('applies --enableProfile, the klog file flags and --metrics-operation-type as MIC does', () => {
    const defaults = parseNmiConfig([], env);
    expect(defaults).toMatchObject({ profileServer: undefined, metricsOperationType: 'route', log: { output: { kind: 'stderr' } } });
    const config = parseNmiConfig(['--enableProfile', '--profile-port=6061', '--logtostderr=false', '--log_dir=/var/log', '--metrics-operation-type=path'], env);
    expect(config.profileServer).toEqual({ host: '127.0.0.1', port: 6061 });
    expect(config.metricsOperationType).toBe('path');
    expect(config.log.output).toMatchObject({ kind: 'file', target: { kind: 'dir', dir: '/var/log', program: 'nmi' }, stderrThreshold: 'ERROR' });
    expect(config.notices).toEqual([]);
    const ignored = parseNmiConfig(['--log_file=/x.log', '--profile-port=1'], env);
    expect(ignored.notices.map((notice) => notice.setting)).toEqual(['--log_file', '--profile-port']);
    expect(() => parseNmiConfig(['--metrics-operation-type=url'], env)).toThrow(/--metrics-operation-type: "url" is not valid: expected one of route, path/);
  });

  it('FORCENAMESPACED=true turns namespaced mode on; other spellings leave a notice', () => {
    expect(parseNmiConfig([], { ...env, FORCENAMESPACED: 'true' }).namespaced).toBe(true);
    const config = parseNmiConfig([], { ...env, FORCENAMESPACED: 'True' });
    expect(config.namespaced).toBe(false);
    expect(config.notices.map((notice) => notice.setting)).toContain('FORCENAMESPACED');
  });

  it('upstream style --nmi-listen-address=127.0.0.1 DNATs there, with a route_localnet notice', () => {
    const config = parseNmiConfig(['--nmi-listen-address=127.0.0.1'], { NODE_NAME: 'n' });
    expect(config.iptables.dnatIp).toBe('127.0.0.1');
    expect(config.tokenListener.host).toBe('127.0.0.1');
    expect(config.notices.some((notice) => notice.message.includes('route_localnet'))).toBe(true);
  });

  it('lists every problem at once', () => {
    let error: unknown;
    try {
      parseNmiCommand(['--operation-mode=managed', '--nmi-port=x', '--bogus'], {});
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('--nmi-port');
    expect(message).toContain('bogus');
    expect(message).toContain('no node name');
    expect(message).toContain('managed mode requires namespaced mode');
    expect(message).toContain('no DNAT address');
  });

  it('refuses a listen address the DNAT rule would not reach', () => {
    expect(() => parseNmiConfig(['--nmi-listen-address=10.0.0.9'], env)).toThrow(/not the DNAT address/);
    expect(parseNmiConfig(['--nmi-listen-address=0.0.0.0'], env).tokenListener.host).toBe('0.0.0.0');
  });

  it('--help and --version ask for output', () => {
    expect(parseNmiCommand(['--help'], {}).kind).toBe('help');
    expect(parseNmiCommand(['--version'], {}).kind).toBe('version');
  });
});

describe('docs/nmi.md', () => {
  it('lists the flags exactly as the flag table defines them (regenerate with `node src/nmi/flags-doc.ts`)', async () => {
    const { readFileSync } = await import('node:fs');
    const { NMI_DOC_PATH, nmiGeneratedSection, renderNmiFlagsSection } = await import('../../../src/nmi/flags-doc.ts');
    expect(nmiGeneratedSection(readFileSync(NMI_DOC_PATH, 'utf8'))).toBe(renderNmiFlagsSection());
  });
});

describe('NMI handover configuration', () => {
  it('is off by default and takes seconds', () => {
    expect(parseNmiConfig([], env).handoverTimeoutMs).toBe(0);
    expect(parseNmiConfig(['--handover-timeout-sec=20'], env).handoverTimeoutMs).toBe(20_000);
  });

  it('refuses a handover together with removing the rules on exit', () => {
    expect(() => parseNmiConfig(['--handover-timeout-sec=5', '--cleanup-iptables-on-exit'], env)).toThrow(/--handover-timeout-sec and --cleanup-iptables-on-exit contradict/);
  });
});

describe('NMI redirect chain', () => {
  it('is upstream’s aad-metadata unless named (migration beside upstream’s NMI)', () => {
    expect(parseNmiConfig([], env).iptables.chain).toBe('aad-metadata');
    expect(parseNmiConfig(['--ipt-chain=pod-identity-metadata'], env).iptables.chain).toBe('pod-identity-metadata');
  });

  it('refuses names iptables would refuse, and the guard’s name', () => {
    expect(() => parseNmiConfig(['--ipt-chain=has space'], env)).toThrow(/--ipt-chain.*iptables chain name/);
    expect(() => parseNmiConfig([`--ipt-chain=${'x'.repeat(29)}`], env)).toThrow(/iptables chain name/);
    expect(() => parseNmiConfig(['--ipt-chain=aad-metadata-guard'], env)).toThrow(/other than the guard chain/);
  });
});
