import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { holdName, newRandomId } from '../../src/pitr/names.js';
import { placeHold, readHolds } from '../../src/pitr/restore/hold.js';
import { MemoryPitrStore } from '../support/memory-pitr-store.js';
import { DB_ID } from './fixtures.js';

/** The hold's rules without a server (its place in restore and retention is tested against radosgw). */

test('holds are read by their expiry: in force, ran out, or unreadable (in force, and said)', async () => {
  const store = new MemoryPitrStore();
  const put = (body: string) => {
    const key = holdName(DB_ID, newRandomId());
    store.objects.set(key, Buffer.from(body));
    return key;
  };
  const live = put(JSON.stringify({ expiresMs: 2_000 }));
  const ran = put(JSON.stringify({ expiresMs: 1_000 }));
  const garbage = put('not json');
  const noNumber = put(JSON.stringify({ expiresMs: 'soon' }));
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
  const keys = [live, ran, garbage, noNumber, `lifeboat-pitr/${DB_ID}/meta-not-a-hold`, holdName(DB_ID, newRandomId())];
  const seen = await readHolds(store, keys, 1_000, log);
  assert.deepEqual(seen.expired, [ran], 'expiresMs = now has run out');
  assert.deepEqual(
    seen.inForce.map((h) => h.key).sort(),
    [live, garbage, noNumber].sort(),
    'unreadable holds count, a vanished one does not',
  );
  assert.equal(lines.filter((l) => l.includes('does not parse')).length, 2);
});

test('a hold is placed with an expiry, renewed as a new object, and released', async () => {
  const store = new MemoryPitrStore();
  const hold = await placeHold(store, DB_ID, { ttlMs: 60_000, now: () => 5_000 });
  const first = hold.key!;
  assert.deepEqual(JSON.parse(store.objects.get(first)!.toString()), { expiresMs: 65_000 });
  await hold.renew();
  assert.notEqual(hold.key, first);
  assert.deepEqual([...store.objects.keys()], [hold.key], 'the old hold is deleted after the new one is placed');
  await hold.release();
  assert.equal(hold.key, undefined);
  assert.equal(store.objects.size, 0);
  await hold.renew();
  assert.equal(store.objects.size, 0, 'no renewal after release');
});
