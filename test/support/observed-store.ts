import type { BackupStore } from '../../src/storage/store.js';

/**
 * `real`, unchanged, except that `onStage` hears each stage() before it starts: for tests
 * that check whether a push began (a spy on a real store, not a mock of one).
 */
export function observeStage(real: BackupStore, onStage: (name: string) => void): BackupStore {
  return {
    description: real.description,
    list: () => real.list(),
    stat: (n) => real.stat(n),
    get: (n, r, o) => real.get(n, r, o),
    create: (n, b) => real.create(n, b),
    delete: (n) => real.delete(n),
    stage: (n, source, o) => {
      onStage(n);
      return real.stage(n, source, o);
    },
  };
}

/**
 * `real` as it is, except for the methods in `overrides` (a spy on a real store, or a fault a real
 * server cannot be made to produce on demand — not a mock of one). The others are the real
 * store's own, bound to it (its private fields need that).
 */
export function overriding<T extends object>(real: T, overrides: Partial<T>): T {
  return new Proxy(real, {
    get(target, prop) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof T];
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
