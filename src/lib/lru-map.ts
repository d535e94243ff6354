/**
 * A Map bounded to `maxSize` entries that forgets the least recently used: `get` and `set` make a key
 * the newest, and the oldest beyond the bound is evicted (and handed to `onEvict`). Built on a Map's
 * insertion order. A key is moved by deleting and re-adding it, except when it already is the newest:
 * a hot key asked for again and again (one pod's token, one pod's rate limit) moves nothing, and a Map
 * whose only key is deleted and re-added shrinks and regrows its table every time.
 * @module
 */
export class LruMap<K, V> {
  private readonly entries = new Map<K, V>();
  private readonly maxSize: number;
  private readonly onEvict: ((key: K, value: V) => void) | undefined;
  /** The key last made newest; it may have been deleted since (then it is simply not found). */
  private newest: K | undefined;

  constructor(maxSize: number, onEvict?: (key: K, value: V) => void) {
    if (!Number.isInteger(maxSize) || maxSize < 1) throw new RangeError(`maxSize must be a positive integer, got ${String(maxSize)}`);
    this.maxSize = maxSize;
    this.onEvict = onEvict;
  }

  /** The value of `key`, which becomes the most recently used. */
  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined && key !== this.newest) {
      this.entries.delete(key);
      this.entries.set(key, value);
      this.newest = key;
    }
    return value;
  }

  /** The value of `key`, leaving its place as it is. */
  peek(key: K): V | undefined {
    return this.entries.get(key);
  }

  /** Sets `key` as the most recently used, then evicts the least recently used beyond the bound. */
  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    this.newest = key;
    while (this.entries.size > this.maxSize) {
      const oldest = this.entries.entries().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value[0]);
      this.onEvict?.(oldest.value[0], oldest.value[1]);
    }
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Entries from the least to the most recently used, without touching them; deleting while iterating is safe. */
  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries.entries();
  }
}
