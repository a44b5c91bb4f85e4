import assert from 'node:assert/strict';
import { test } from 'node:test';
import { restoredFrom } from '../../src/pitr/capture/lineage.js';
import { baseName, metaName, segmentName } from '../../src/pitr/names.js';
import type { RestoreMarker } from '../../src/restore/swap.js';

/**
 * Which new generation is a restore's (capture/lineage.ts): the marker beside the database
 * against the newest time the bucket's names show for the database — pure, no I/O.
 */

const DB = '0123456789abcdef0123456789abcdef';
const OTHER = 'fedcba9876543210fedcba9876543210';
const GEN = '018f3a2b4c5d00112233445566778899';
const T = 1_800_000_000_000;

const marker = (appliedMs: number, origin: string): RestoreMarker => ({
  source: 'pitr:txid:42',
  origin,
  sha256: 'a'.repeat(64),
  appliedAt: new Date(appliedMs).toISOString(),
  movedAside: [],
});
const listed = (...keys: string[]) => keys.map((key) => ({ key, size: 1 }));

test('a restore after everything in the bucket: the new generation is its, with the restored point as parent', () => {
  const bucket = listed(metaName(DB, GEN), baseName(DB, GEN, 1, T - 60_000), segmentName(DB, GEN, 1, 50, T - 1000));
  assert.deepEqual(restoredFrom(marker(T, `pitr:${DB}/${GEN}/42`), DB, bucket), {
    source: 'pitr:txid:42',
    origin: `pitr:${DB}/${GEN}/42`,
    appliedMs: T,
    parent: { genId: GEN, txid: 42 },
  });
  // A snapshot restore, or a point of another database: restored, with no parent in this database.
  assert.equal(restoredFrom(marker(T, 'backup_node_1_1799999000.sqlite'), DB, bucket)?.parent, null);
  assert.equal(restoredFrom(marker(T, `pitr:${OTHER}/${GEN}/42`), DB, bucket)?.parent, null);
  // Nothing of the database in the bucket yet (a first start after a restore on a new host).
  assert.ok(restoredFrom(marker(T, `pitr:${DB}/${GEN}/42`), DB, listed(segmentName(OTHER, GEN, 1, 9, T + 5))));
});

test('a restore the bucket has moved past, no marker, or an unreadable time: not a restore’s generation', () => {
  const origin = `pitr:${DB}/${GEN}/42`;
  // Something was shipped after the restore: a generation already began from it.
  assert.equal(restoredFrom(marker(T, origin), DB, listed(segmentName(DB, GEN, 3, 70, T + 1))), undefined);
  assert.equal(restoredFrom(marker(T, origin), DB, listed(baseName(DB, GEN, 60, T))), undefined, 'the same ms');
  const laterGen = `${(T + 10).toString(16).padStart(12, '0')}${'0'.repeat(20)}`;
  assert.equal(restoredFrom(marker(T, origin), DB, listed(metaName(DB, laterGen))), undefined, 'a meta, by its genId');
  assert.equal(restoredFrom(undefined, DB, listed()), undefined);
  assert.equal(restoredFrom({ ...marker(T, origin), appliedAt: 'yesterday' }, DB, listed()), undefined);
});
