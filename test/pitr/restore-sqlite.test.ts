// End to end with a real SQLite: a database written through better-sqlite3, its WAL frames
// shipped as segments (test/pitr/sqlite-chain.ts), restored to every txid — the rows must be
// exactly those committed at that txid, and SQLite must find the file sound.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { restorePitr } from '../../src/pitr/restore/apply.js';
import { validateBackup } from '../../src/restore/validate.js';
import { pragmaCheck } from '../support/db.js';
import { MemoryPitrStore } from '../support/memory-pitr-store.js';
import { tempDir } from '../support/tmp.js';
import { DB_ID, GEN_ID, KEY_A, keySet } from './fixtures.js';
import { itemsOf, shipRealDatabase } from './sqlite-chain.js';

test('a real SQLite database restores to every txid with exactly the rows committed then', async () => {
  const store = new MemoryPitrStore();
  const shipped = await shipRealDatabase(store, tempDir(), KEY_A, { dbId: DB_ID, genId: GEN_ID });
  assert.equal(shipped.lastTxid - shipped.baseTxid, 11, 'eleven transactions (two steps were checkpoints)');
  assert.equal(shipped.restartedAt.length, 2, 'the WAL restarted twice: EPOCH records were shipped');
  assert.equal(shipped.segments, 4);
  const dir = tempDir();
  const sizes: number[] = [];
  for (let txid = shipped.baseTxid; txid <= shipped.lastTxid; txid++) {
    const path = join(dir, `at-${txid}.db`);
    const r = await restorePitr({ store, keys: keySet(KEY_A), dbId: DB_ID, target: { kind: 'txid', txid }, path });
    assert.equal(r.txid, txid);
    assert.equal(r.observedMs, shipped.times.get(txid));
    assert.equal(itemsOf(path), shipped.rows.get(txid), `rows at txid ${txid}`);
    assert.deepEqual(pragmaCheck(path, 'integrity_check'), ['ok'], `integrity at txid ${txid}`);
    sizes.push(statSync(path).size);
  }
  // The chain grew the file and the incremental vacuum shrank it: both directions were applied.
  assert.ok(
    sizes.some((size, i) => i > 0 && size > sizes[i - 1]!),
    `grows: ${sizes}`,
  );
  assert.ok(
    sizes.some((size, i) => i > 0 && size < sizes[i - 1]!),
    `shrinks: ${sizes}`,
  );
  const distinct = new Set([...shipped.rows.values()]).size;
  assert.equal(distinct, shipped.rows.size - 1, 'every transaction but the vacuum changed the rows');
  // The project's own restore validation (header, integrity_check, expected tables) on the newest.
  const latest = join(dir, 'latest.db');
  const r = await restorePitr({ store, keys: keySet(KEY_A), dbId: DB_ID, target: { kind: 'latest' }, path: latest });
  assert.equal(r.txid, shipped.lastTxid);
  const outcome = await validateBackup(latest, { skipValidation: false, expectTables: ['items'] });
  assert.ok(outcome.ok);
  // A time between two commits restores the earlier one.
  const t = shipped.times.get(shipped.baseTxid + 4)!;
  const atTime = join(dir, 'at-time.db');
  await restorePitr({ store, keys: keySet(KEY_A), dbId: DB_ID, target: { kind: 'time', ms: t + 500 }, path: atTime });
  assert.equal(itemsOf(atTime), shipped.rows.get(shipped.baseTxid + 4));
});
