import { describe, expect, it } from 'vitest';
import { TerminalError } from '../../../../src/lib/errors.ts';
import { isMissingChain, isTransientFailure, restoreInput } from '../../../../src/nmi/node/iptables/iptables.ts';
import { expectedChainRules, expectedGuardRules, jumpPositions, planCleanup, planGuard, planGuardCleanup, planSync, preroutingJumpTargets, redirectsMetadata, validateIptablesConfig, type IptablesConfig } from '../../../../src/nmi/node/iptables/rules.ts';

const config: IptablesConfig = { chain: 'aad-metadata', metadataIp: '169.254.169.254', metadataPort: 80, targetIp: '10.244.1.1', targetPort: 2579 };

const GOOD_CHAIN = `-N aad-metadata
-A aad-metadata ! -s 127.0.0.1/32 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.1:2579
-A aad-metadata -j RETURN
`;
const PREROUTING_OK = '-P PREROUTING ACCEPT\n-A PREROUTING -j aad-metadata\n-A PREROUTING -j KUBE-SERVICES\n';
const FIX_CONTENT = [
  ['-A', 'aad-metadata', '!', '-s', '127.0.0.1/32', '-d', '169.254.169.254/32', '-p', 'tcp', '-m', 'tcp', '--dport', '80', '-j', 'DNAT', '--to-destination', '10.244.1.1:2579'],
  ['-A', 'aad-metadata', '-j', 'RETURN'],
];
const INSERT_JUMP = ['-I', 'PREROUTING', '1', '-j', 'aad-metadata'];
const DELETE_JUMP = ['-D', 'PREROUTING', '-j', 'aad-metadata'];

describe('expected chain', () => {
  it('is the exact upstream text, with the configured target', () => {
    expect(expectedChainRules(config).join('\n') + '\n').toBe(GOOD_CHAIN);
    expect(expectedChainRules({ ...config, targetIp: '127.0.0.1', metadataPort: 8080 })[1]).toBe(
      '-A aad-metadata ! -s 127.0.0.1/32 -d 169.254.169.254/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 127.0.0.1:2579',
    );
  });

  it('rejects configurations that cannot make a valid rule', () => {
    expect(() => validateIptablesConfig({ ...config, targetIp: '0.0.0.0' })).toThrow(TerminalError);
    expect(() => validateIptablesConfig({ ...config, metadataIp: 'fd00::1' })).toThrow(/IPv4/);
    expect(() => validateIptablesConfig({ ...config, targetPort: 0 })).toThrow(/target port/);
    expect(() => validateIptablesConfig({ ...config, chain: 'a b' })).toThrow(/chain name/);
    expect(validateIptablesConfig(config)).toBe(config);
  });
});

describe('planSync', () => {
  it('creates a missing chain and the jump', () => {
    const plan = planSync(config, { chain: undefined, prerouting: '-P PREROUTING ACCEPT\n' });
    expect(plan.commands).toEqual([['-N', 'aad-metadata'], ...FIX_CONTENT, INSERT_JUMP]);
    expect(plan.reasons).toEqual(['chain aad-metadata missing', 'jump to aad-metadata missing from PREROUTING']);
  });

  it('does nothing when everything matches (blank lines and spacing do not matter)', () => {
    expect(planSync(config, { chain: GOOD_CHAIN, prerouting: PREROUTING_OK })).toEqual({ commands: [], reasons: [] });
    expect(planSync(config, { chain: `\n${GOOD_CHAIN.replace('-j RETURN', '-j  RETURN  ')}\n`, prerouting: PREROUTING_OK }).commands).toEqual([]);
  });

  it('flushes and re-appends a flushed chain', () => {
    const plan = planSync(config, { chain: '-N aad-metadata\n', prerouting: PREROUTING_OK });
    expect(plan.commands).toEqual([['-F', 'aad-metadata'], ...FIX_CONTENT]);
    expect(plan.reasons).toEqual(['chain aad-metadata content differs (0 rules, expected 2)']);
  });

  it('fixes a drifted rule: an extra rule before ours', () => {
    const chain = GOOD_CHAIN.replace('-N aad-metadata\n', '-N aad-metadata\n-A aad-metadata -j ACCEPT\n');
    expect(planSync(config, { chain, prerouting: PREROUTING_OK }).commands).toEqual([['-F', 'aad-metadata'], ...FIX_CONTENT]);
  });

  it('fixes a wrong DNAT target (e.g. after --nmi-port changed)', () => {
    const chain = GOOD_CHAIN.replace('10.244.1.1:2579', '127.0.0.1:2579');
    expect(planSync(config, { chain, prerouting: PREROUTING_OK }).commands).toEqual([['-F', 'aad-metadata'], ...FIX_CONTENT]);
  });

  it('fixes a missing RETURN', () => {
    const chain = GOOD_CHAIN.replace('-A aad-metadata -j RETURN\n', '');
    expect(planSync(config, { chain, prerouting: PREROUTING_OK }).commands).toEqual([['-F', 'aad-metadata'], ...FIX_CONTENT]);
  });

  it('inserts a missing jump first', () => {
    const plan = planSync(config, { chain: GOOD_CHAIN, prerouting: '-P PREROUTING ACCEPT\n-A PREROUTING -j KUBE-SERVICES\n' });
    expect(plan.commands).toEqual([INSERT_JUMP]);
  });

  it('moves a jump that is not first (deleted by text, not position)', () => {
    const prerouting = '-P PREROUTING ACCEPT\n-A PREROUTING -s 10.0.0.0/8 -j ACCEPT\n-A PREROUTING -j aad-metadata\n';
    expect(jumpPositions(config, prerouting)).toEqual([2]);
    const plan = planSync(config, { chain: GOOD_CHAIN, prerouting });
    expect(plan.commands).toEqual([DELETE_JUMP, INSERT_JUMP]);
    expect(plan.reasons).toEqual(['jump to aad-metadata is rule 2 of PREROUTING, not 1']);
  });

  it('removes duplicate jumps, leaving exactly one first', () => {
    const prerouting = '-P PREROUTING ACCEPT\n-A PREROUTING -j aad-metadata\n-A PREROUTING -j KUBE-SERVICES\n-A PREROUTING -j aad-metadata\n';
    const plan = planSync(config, { chain: GOOD_CHAIN, prerouting });
    expect(plan.commands).toEqual([DELETE_JUMP, DELETE_JUMP, INSERT_JUMP]);
    expect(plan.reasons).toEqual(['2 jumps to aad-metadata in PREROUTING']);
  });

  it('ignores conditional jumps and other chains with a similar name', () => {
    const prerouting = '-A PREROUTING -i eth0 -j aad-metadata\n-A PREROUTING -j aad-metadata-2\n-A PREROUTING -j aad-metadata\n';
    expect(jumpPositions(config, prerouting)).toEqual([3]);
  });
});

describe('planCleanup', () => {
  it('deletes every jump, then flushes and deletes the chain', () => {
    const prerouting = '-A PREROUTING -j aad-metadata\n-A PREROUTING -j aad-metadata\n';
    expect(planCleanup(config, { chain: GOOD_CHAIN, prerouting })).toEqual([DELETE_JUMP, DELETE_JUMP, ['-F', 'aad-metadata'], ['-X', 'aad-metadata']]);
  });

  it('is empty when nothing is installed, and handles a chain without jump', () => {
    expect(planCleanup(config, { chain: undefined, prerouting: '-P PREROUTING ACCEPT\n' })).toEqual([]);
    expect(planCleanup(config, { chain: '-N aad-metadata\n', prerouting: '' })).toEqual([['-F', 'aad-metadata'], ['-X', 'aad-metadata']]);
  });
});

describe('iptables output classification', () => {
  it('recognises a missing chain (legacy and nft wording)', () => {
    expect(isMissingChain(1, 'iptables: No chain/target/match by that name.\n')).toBe(true);
    expect(isMissingChain(1, "iptables v1.8.9 (nf_tables): chain `aad-metadata' in table `nat' is incompatible, use 'nft' tool.\n")).toBe(true);
    expect(isMissingChain(2, 'iptables v1.8.9: unknown option')).toBe(false);
  });

  it('classifies a held lock and resource problems as transient', () => {
    expect(isTransientFailure(4, 'Another app is currently holding the xtables lock. Stopped waiting after 5s.')).toBe(true);
    expect(isTransientFailure(1, 'Another app is currently holding the xtables lock; waiting')).toBe(true);
    expect(isTransientFailure(4, 'CHAIN_DEL failed (Device or resource busy)')).toBe(true);
    expect(isTransientFailure(1, "line 3 failed: Bad rule")).toBe(false);
  });

  it('builds one restore transaction', () => {
    expect(restoreInput([['-N', 'aad-metadata'], INSERT_JUMP])).toBe('*nat\n-N aad-metadata\n-I PREROUTING 1 -j aad-metadata\nCOMMIT\n');
  });
});

describe('planGuard (filter table)', () => {
  const guarded = { ...config, guardChain: 'aad-metadata-guard' };
  const REJECT = ['-A', 'aad-metadata-guard', '-d', '169.254.169.254/32', '!', '-i', 'lo', '-p', 'tcp', '-m', 'tcp', '--dport', '80', '-j', 'REJECT', '--reject-with', 'tcp-reset'];
  const GOOD = expectedGuardRules(guarded).join('\n');

  it('is nothing without a guard chain', () => {
    expect(planGuard(config, { chain: undefined, hooks: { INPUT: '', FORWARD: '' } })).toEqual({ commands: [], reasons: [] });
  });

  it('creates the chain with the reject rule (in -S order) and jumps first in INPUT and FORWARD', () => {
    const plan = planGuard(guarded, { chain: undefined, hooks: { INPUT: '-P INPUT ACCEPT\n-A INPUT -j KUBE-FIREWALL\n', FORWARD: '-P FORWARD ACCEPT\n' } });
    expect(plan.commands).toEqual([
      ['-N', 'aad-metadata-guard'],
      REJECT,
      ['-A', 'aad-metadata-guard', '-j', 'RETURN'],
      ['-I', 'INPUT', '1', '-j', 'aad-metadata-guard'],
      ['-I', 'FORWARD', '1', '-j', 'aad-metadata-guard'],
    ]);
    expect(GOOD).toContain('-A aad-metadata-guard -d 169.254.169.254/32 ! -i lo -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset');
  });

  it('is quiet when right; moves a jump pushed down; refills a flushed chain', () => {
    const hooks = { INPUT: '-P INPUT ACCEPT\n-A INPUT -j aad-metadata-guard\n', FORWARD: '-P FORWARD ACCEPT\n-A FORWARD -j aad-metadata-guard\n-A FORWARD -j KUBE-FORWARD\n' };
    expect(planGuard(guarded, { chain: GOOD, hooks }).commands).toEqual([]);
    const pushed = { ...hooks, FORWARD: '-P FORWARD ACCEPT\n-A FORWARD -j ACCEPT\n-A FORWARD -j aad-metadata-guard\n' };
    expect(planGuard(guarded, { chain: GOOD, hooks: pushed }).commands).toEqual([
      ['-D', 'FORWARD', '-j', 'aad-metadata-guard'],
      ['-I', 'FORWARD', '1', '-j', 'aad-metadata-guard'],
    ]);
    expect(planGuard(guarded, { chain: '-N aad-metadata-guard\n', hooks }).commands).toEqual([['-F', 'aad-metadata-guard'], REJECT, ['-A', 'aad-metadata-guard', '-j', 'RETURN']]);
  });

  it('cleanup removes both jumps, then the chain', () => {
    const hooks = { INPUT: '-A INPUT -j aad-metadata-guard\n', FORWARD: '-A FORWARD -j aad-metadata-guard\n' };
    expect(planGuardCleanup(guarded, { chain: GOOD, hooks })).toEqual([
      ['-D', 'INPUT', '-j', 'aad-metadata-guard'],
      ['-D', 'FORWARD', '-j', 'aad-metadata-guard'],
      ['-F', 'aad-metadata-guard'],
      ['-X', 'aad-metadata-guard'],
    ]);
    expect(planGuardCleanup(guarded, { chain: undefined, hooks: { INPUT: '', FORWARD: '' } })).toEqual([]);
  });

  it('rejects a guard chain named like the redirect chain', () => {
    expect(() => validateIptablesConfig({ ...config, guardChain: 'aad-metadata' })).toThrow(/guard chain/);
  });

  it('restore input names the table', () => {
    expect(restoreInput([['-N', 'x']], 'filter')).toBe('*filter\n-N x\nCOMMIT\n');
  });
});

describe('other redirects of the metadata address', () => {
  it('PREROUTING’s unconditional jumps, in order; conditional ones (kube-proxy’s) are not NMI redirects', () => {
    const listing = '-P PREROUTING ACCEPT\n-A PREROUTING -j pod-identity-metadata\n-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n-A PREROUTING -j aad-metadata\n';
    expect(preroutingJumpTargets(listing)).toEqual(['pod-identity-metadata', 'aad-metadata']);
    expect(preroutingJumpTargets('-P PREROUTING ACCEPT\n')).toEqual([]);
  });

  it('a DNAT of the metadata address and port, as upstream’s and ours write it, is a redirect; others are not', () => {
    expect(redirectsMetadata(config, GOOD_CHAIN)).toBe(true);
    expect(redirectsMetadata(config, '-N aad-metadata\n-A aad-metadata ! -s 127.0.0.1/32 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 127.0.0.1:2579\n')).toBe(true);
    expect(redirectsMetadata(config, '-N x\n-A x -d 169.254.169.254/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.1:80\n')).toBe(false);
    expect(redirectsMetadata(config, '-N x\n-A x -d 10.0.0.1/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.0.2:80\n')).toBe(false);
    expect(redirectsMetadata(config, '-N x\n-A x -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j RETURN\n')).toBe(false);
  });
});
