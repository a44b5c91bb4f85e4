import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { copySnapshot } from '../../src/snapshot/snapshot.js';
import { createItemsDb } from '../support/db.js';
import { tempDir } from '../support/tmp.js';

const copyReportsFinal =
  'a copy reports from 0 to the final size against the database size, never going back, before it resolves';
test(copyReportsFinal, async () => {
  const dir = tempDir();
  const db = join(dir, 'app.db');
  createItemsDb(db, 30_000);
  const seen: Array<[string, number, number | undefined]> = [];
  const result = await copySnapshot(db, join(dir, 'snap.sqlite'), {
    onProgress: (stage, bytes, total) => seen.push([stage, bytes, total]),
    progressIntervalMs: 1,
  });
  // The database was closed cleanly, so it has no -wal: its size is the whole of it.
  assert.deepEqual(seen[0], ['copy', 0, statSync(db).size]);
  assert.deepEqual(seen.at(-1), ['copy', result.bytes, result.bytes], 'the last report is the finished copy');
  const copies = seen.map(([, b]) => b);
  assert.deepEqual(
    copies,
    [...copies].sort((a, b) => a - b),
    'copy progress never goes back',
  );
});
