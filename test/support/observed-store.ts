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
