/**
 * One shared, frozen instance per distinct JSON value. Every AAI embeds a copy of its identity and
 * binding, so the 10 pods of one identity carried 10 equal copies of each in MIC's cache; interned,
 * they carry one. Entries go once no cached object holds the value any more (weak references).
 * @module
 */
export class ValueInterner<T extends object> {
  private readonly byKey = new Map<string, WeakRef<T>>();
  private readonly registry = new FinalizationRegistry<string>((key) => {
    if (this.byKey.get(key)?.deref() === undefined) this.byKey.delete(key);
  });

  /** The shared instance equal to `value` (`value` itself, frozen, when it is the first). */
  intern(value: T): T {
    const key = JSON.stringify(value);
    const existing = this.byKey.get(key)?.deref();
    if (existing !== undefined) return existing;
    deepFreeze(value);
    this.byKey.set(key, new WeakRef(value));
    this.registry.register(value, key);
    return value;
  }

  /** Distinct values currently held (for tests). */
  get size(): number {
    return this.byKey.size;
  }
}

/** Shared instances must not change under their other holders. */
function deepFreeze(value: object): void {
  Object.freeze(value);
  for (const child of Object.values(value)) {
    if (typeof child === 'object' && child !== null && !Object.isFrozen(child)) deepFreeze(child as object);
  }
}
