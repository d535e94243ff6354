import { describe, expect, it } from 'vitest';
import { LruMap } from '../../../src/lib/lru-map.ts';

describe('LruMap', () => {
  it('evicts the least recently used beyond its size; get makes a key the newest, peek does not', () => {
    const evicted: string[] = [];
    const map = new LruMap<string, number>(2, (key, value) => {
      evicted.push(`${key}=${String(value)}`);
    });
    map.set('a', 1);
    map.set('b', 2);
    expect(map.get('a')).toBe(1);
    map.set('c', 3);
    expect(evicted).toEqual(['b=2']);
    expect(map.peek('a')).toBe(1);
    map.set('d', 4);
    expect(evicted).toEqual(['b=2', 'a=1']);
    expect([...map].map(([key]) => key)).toEqual(['c', 'd']);
  });

  it('keeps the order right when the newest key is asked for again, deleted or set anew', () => {
    const map = new LruMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    expect(map.get('b')).toBe(2);
    expect(map.get('b')).toBe(2);
    expect([...map].map(([key]) => key)).toEqual(['a', 'b']);
    expect(map.delete('b')).toBe(true);
    expect(map.get('b')).toBeUndefined();
    expect(map.get('a')).toBe(1);
    map.set('b', 3);
    map.set('a', 4);
    expect([...map]).toEqual([['b', 3], ['a', 4]]);
    map.clear();
    expect(map.size).toBe(0);
  });

  it('refuses a size that is not a positive integer', () => {
    expect(() => new LruMap(0)).toThrow(/positive integer/);
    expect(() => new LruMap(1.5)).toThrow(/positive integer/);
  });
});
