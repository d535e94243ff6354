import { describe, expect, it } from 'vitest';
import { bySpellingPrecedence, findField, isJsonObject, isSpellingOf, ObjectReader, withoutUndefined } from '../../../src/api/index.ts';

describe('findField', () => {
  it('finds a field under any casing', () => {
    expect(findField({ CLIENTID: 'x' }, 'clientID')).toEqual({ key: 'CLIENTID', value: 'x' });
    expect(findField({ other: 'x' }, 'clientID')).toBeUndefined();
  });

  it('prefers the current name, then the spelling that sorts last (upstream decoder over sorted JSON)', () => {
    expect(findField({ ClientID: 1, clientID: 2, clientid: 3 }, 'clientID')?.key).toBe('clientID');
    expect(findField({ ClientID: 1, clientid: 3, ClientId: 2 }, 'clientID')?.key).toBe('clientid');
  });

  it('skips null values but keeps other falsy ones', () => {
    expect(findField({ clientID: null, ClientID: 'x' }, 'clientID')?.key).toBe('ClientID');
    expect(findField({ clientID: '' }, 'clientID')).toEqual({ key: 'clientID', value: '' });
    expect(findField({ type: 0 }, 'type')).toEqual({ key: 'type', value: 0 });
  });
});

describe('bySpellingPrecedence', () => {
  it('orders the current name first, then descending code-unit order', () => {
    expect(['ResourceID', 'resourceid', 'resourceID', 'ResourceId', 'resourceId'].sort(bySpellingPrecedence('resourceID'))).toEqual([
      'resourceID',
      'resourceid',
      'resourceId',
      'ResourceId',
      'ResourceID',
    ]);
  });
});

describe('small helpers', () => {
  it('isJsonObject accepts only non-null, non-array objects', () => {
    expect([{}, [], null, 'x', 1].map(isJsonObject)).toEqual([true, false, false, false, false]);
  });

  it('isSpellingOf ignores case only', () => {
    expect(isSpellingOf('TenantId', 'tenantID')).toBe(true);
    expect(isSpellingOf('tenant_id', 'tenantID')).toBe(false);
  });

  it('withoutUndefined drops only undefined values', () => {
    expect(withoutUndefined({ a: undefined, b: null, c: 0, d: '' })).toEqual({ b: null, c: 0, d: '' });
    expect(Object.keys(withoutUndefined({ a: undefined }))).toEqual([]);
  });

  it('ObjectReader paths quote keys that are not identifiers', () => {
    const reader = new ObjectReader({ kind: 'K', name: 'n' }, 'spec', {});
    expect(reader.pathOf('podLabels')).toBe('spec.podLabels');
    expect(reader.pathOf('a/b')).toBe('spec["a/b"]');
    expect(new ObjectReader({ kind: 'K' }, '', {}).pathOf('spec')).toBe('spec');
  });
});
