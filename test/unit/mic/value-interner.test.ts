import { describe, expect, it } from 'vitest';
import { withoutManagedFields } from '../../../src/mic/informers.ts';
import { ValueInterner } from '../../../src/mic/value-interner.ts';

describe('ValueInterner', () => {
  it('returns one frozen instance for equal values', () => {
    const interner = new ValueInterner<{ metadata: { name: string }; spec: { id: string } }>();
    const first = interner.intern({ metadata: { name: 'a' }, spec: { id: 'x' } });
    const second = interner.intern({ metadata: { name: 'a' }, spec: { id: 'x' } });
    const other = interner.intern({ metadata: { name: 'b' }, spec: { id: 'x' } });
    expect(second).toBe(first);
    expect(other).not.toBe(first);
    expect(Object.isFrozen(first.spec)).toBe(true);
    expect(interner.size).toBe(2);
  });
});

describe('withoutManagedFields', () => {
  it('drops metadata.managedFields and keeps the rest', () => {
    const raw = { kind: 'AzureIdentity', metadata: { name: 'a', managedFields: [{ manager: 'm' }], labels: { l: 'v' } }, spec: { type: 0 } };
    expect(withoutManagedFields(raw)).toEqual({ kind: 'AzureIdentity', metadata: { name: 'a', labels: { l: 'v' } }, spec: { type: 0 } });
    const plain = { metadata: { name: 'b' } };
    expect(withoutManagedFields(plain)).toBe(plain);
  });
});
