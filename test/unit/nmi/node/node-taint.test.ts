import { describe, expect, it } from 'vitest';
import { parseNmiConfig } from '../../../../src/nmi/config.ts';
import { checkTaintKey, DEFAULT_NOT_READY_TAINT, withoutTaint } from '../../../../src/nmi/node/node-taint.ts';

const env = { NODE_NAME: 'node-1', NODE_IP: '10.240.0.4' };

describe('the not-ready taint', () => {
  it('accepts qualified names and refuses others', () => {
    for (const key of [DEFAULT_NOT_READY_TAINT, 'nmi-not-ready', 'example.com/a_b.c', '']) expect(checkTaintKey(key)).toBeUndefined();
    for (const key of ['/x', 'Example.com/x', 'a/b/c', 'x'.repeat(64), 'a b', 'x/']) expect(checkTaintKey(key), key).toBeDefined();
  });

  it('drops every taint with the key, whatever its value and effect; undefined when none had it', () => {
    const taints = [
      { key: DEFAULT_NOT_READY_TAINT, value: 'true', effect: 'NoSchedule' },
      { key: 'other', effect: 'NoExecute', timeAdded: '2026-01-01T00:00:00Z' },
      { key: DEFAULT_NOT_READY_TAINT, effect: 'NoExecute' },
    ];
    expect(withoutTaint(taints, DEFAULT_NOT_READY_TAINT)).toEqual([taints[1]]);
    expect(withoutTaint([taints[1]!], DEFAULT_NOT_READY_TAINT)).toBeUndefined();
    expect(withoutTaint([], DEFAULT_NOT_READY_TAINT)).toBeUndefined();
  });

  it('is off by default and set by --not-ready-taint', () => {
    expect(parseNmiConfig([], env).iptables.notReadyTaint).toBeUndefined();
    expect(parseNmiConfig([`--not-ready-taint=${DEFAULT_NOT_READY_TAINT}`], env).iptables.notReadyTaint).toBe(DEFAULT_NOT_READY_TAINT);
    expect(() => parseNmiConfig(['--not-ready-taint=Bad Key'], env)).toThrow(/taint key/);
  });
});
