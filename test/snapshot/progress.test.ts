import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type SnapshotStage, snapshotDatabase } from '../../src/snapshot/snapshot.js';
import { createItemsDb } from '../support/db.js';
import { tempDir } from '../support/tmp.js';

test('a snapshot reports its copy from 0 to the final size against the database size, then its check, before it resolves', async () => {
  const dir = tempDir();
  const db = join(dir, 'app.db');
  createItemsDb(db, 30_000);
  const seen: Array<[SnapshotStage, number, number | undefined]> = [];
  const result = await snapshotDatabase(db, join(dir, 'snap.sqlite'), {
    onProgress: (...r) => seen.push(r),
    progressIntervalMs: 1,
  });
  // The database was closed cleanly, so it has no -wal: its size is the whole of it.
  assert.deepEqual(seen[0], ['copy', 0, statSync(db).size]);
  assert.deepEqual(seen.at(-2), ['copy', result.bytes, result.bytes], 'the last copy report is the finished copy');
  assert.deepEqual(seen.at(-1), ['check', 0, undefined]);
  const copies = seen.filter(([s]) => s === 'copy').map(([, b]) => b);
  assert.deepEqual(
    copies,
    [...copies].sort((a, b) => a - b),
    'copy progress never goes back',
  );
});
