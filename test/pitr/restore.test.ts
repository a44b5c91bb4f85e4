// Point-in-time restore (src/pitr/restore/) over synthetic generations in the in-memory bucket
// double: every txid, time targets, late transactions, re-bases, generations, and the tamper
// suite — each refusal with its code and nothing left at the target path.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { KeySet } from '../../src/crypto/keys.js';
import { newGenId } from '../../src/pitr/names.js';
import { type PitrRestoreResult, restorePitr } from '../../src/pitr/restore/apply.js';
import { type PitrTarget, planRestore } from '../../src/pitr/restore/plan.js';
import { RollingChecksum } from '../../src/pitr/rolling.js';
import type { TxRecord } from '../../src/pitr/segment.js';
import { MemoryPitrStore } from '../support/memory-pitr-store.js';
import { isLifeboat } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';
import { Chain, DB_ID, GEN_ID, KEY_A, KEY_B, keySet, splitTx } from './fixtures.js';
import { Generation } from './restore-fixtures.js';

const KEYS = keySet(KEY_A);

/**
 * Base at txid 3, then 5 segments (txids 4–14): growth with a gap page, a shrink, a WAL restart
 * (EPOCH) inside segment 3, a transaction split across segments 4 and 5.
 */
async function sample(
  store = new MemoryPitrStore(),
  genId = GEN_ID,
  chain?: Chain,
): Promise<Generation<MemoryPitrStore>> {
  const g = new Generation(store, tempDir(), KEY_A, genId, DB_ID, chain);
  g.prelude([[1, 2], [3], [1]]);
  await g.base();
  await g.segment((x) => [x.tx([2, 4]), x.tx([7])]); // 4, 5: page 5 and 6 are zero pages
  await g.segment((x) => [x.tx([1, 3], { dbPages: 4 }), x.tx([2])]); // 6 shrinks to 4 pages, 7
  await g.segment((x) => [x.tx([4, 5]), x.chain.restart(), x.tx([1, 2, 3]), x.tx([6])]); // 8, epoch, 9, 10
  let rest: TxRecord | undefined;
  await g.segment((x) => {
    const before = x.tx([5]); // 11
    const [head, tail] = splitTx(x.tx([2, 3, 4, 8]), 2, 1024); // 12, split after 2 frames
    rest = tail;
    return [before, head];
  });
  await g.segment((x) => [{ type: 'cont', txid: rest!.txid }, rest!, x.tx([1]), x.tx([9], { dbPages: 9 })]); // 13, 14
  return g;
}

async function restore(
  store: MemoryPitrStore,
  target: PitrTarget,
  keys: KeySet = KEYS,
): Promise<PitrRestoreResult & { bytes: Buffer }> {
  const path = join(tempDir(), 'restored.db');
  const result = await restorePitr({ store, keys, dbId: DB_ID, target, path });
  assert.equal(result.path, path);
  return { ...result, bytes: readFileSync(path) };
}

test('restore to every txid from the base to the newest gives the database as of that txid', async () => {
  const g = await sample();
  assert.deepEqual([...g.images.keys()].slice(-12), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
  for (let txid = 3; txid <= 14; txid++) {
    g.store.calls.list = 0;
    const r = await restore(g.store, { kind: 'txid', txid });
    assert.equal(r.txid, txid);
    assert.equal(r.observedMs, g.times.get(txid));
    assert.ok(r.bytes.equals(g.images.get(txid)!), `image at txid ${txid}`);
    assert.equal(r.newestTxid, 14);
    assert.equal(g.store.calls.list, 1, 'planned from one LIST');
  }
  const latest = await restore(g.store, { kind: 'latest' });
  assert.equal(latest.txid, 14);
  assert.equal(latest.segments, 5);
  assert.ok(latest.bytes.equals(g.images.get(14)!));
});

// Capture sealed the segment going on with a split transaction with the first part's pages in its
// rollingBefore until 2026-12-06 (restores across one were refused); the spec's form is the last commit's.
test('a split transaction restores with either form of rollingBefore where it goes on; no other', async () => {
  for (const form of ['after the last commit', 'with the first part', 'neither'] as const) {
    const g = new Generation(new MemoryPitrStore(), tempDir(), KEY_A, GEN_ID, DB_ID);
    g.prelude([[1, 2], [3], [1]]);
    await g.base();
    await g.segment((x) => [x.tx([2, 4])]); // 4
    let rest: TxRecord | undefined;
    let withHead: Buffer | undefined;
    await g.segment((x) => {
      const [head, tail] = splitTx(x.tx([2, 3, 4]), 2, 1024); // 5, split after 2 frames
      rest = tail;
      const r = RollingChecksum.fromDatabaseImage(g.images.get(4)!, 1024);
      for (let o = 0; o < head.frames.length; o += 24 + 1024) {
        r.setPage(head.frames.readUInt32BE(o), head.frames.subarray(o + 24, o + 24 + 1024));
      }
      withHead = r.value();
      return [head];
    });
    await g.segment(
      (x) => [{ type: 'cont', txid: rest!.txid }, rest!, x.tx([1])], // 5's rest, 6
      (_, f) =>
        form === 'after the last commit'
          ? f
          : { ...f, rollingBefore: form === 'with the first part' ? withHead! : Buffer.alloc(16, 7) },
    );
    if (form === 'neither') {
      await assert.rejects(restore(g.store, { kind: 'latest' }), /PITR_OBJECT_MISMATCH|rollingBefore/);
      continue;
    }
    const latest = await restore(g.store, { kind: 'latest' });
    assert.equal(latest.txid, 6, form);
    assert.ok(latest.bytes.equals(g.images.get(6)!), form);
  }
});

test('segments are fetched while the base downloads, not after it', async () => {
  const events: string[] = [];
  class Recording extends MemoryPitrStore {
    override get(key: string) {
      events.push(`get ${key.split('/').pop()}`);
      return super.get(key);
    }
    override async getStream(key: string) {
      const stream = await super.getStream(key);
      stream?.on('end', () => events.push('base read'));
      return stream;
    }
  }
  const g = await sample(new Recording());
  const r = await restore(g.store, { kind: 'latest' });
  assert.ok(r.bytes.equals(g.images.get(14)!));
  const baseRead = events.indexOf('base read');
  assert.ok(baseRead > 0, events.join(', '));
  assert.deepEqual(
    events.slice(0, baseRead).filter((e) => e.startsWith('get ')).length,
    5,
    `all five segments (well inside the byte budget) requested before the base was read: ${events.join(', ')}`,
  );
});

test('progress: stored bytes of the base as it downloads, then of each segment applied, of the total', async () => {
  const g = await sample();
  const seen: Array<[number, number]> = [];
  const path = join(tempDir(), 'restored.db');
  await restorePitr({
    store: g.store,
    keys: KEYS,
    dbId: DB_ID,
    target: { kind: 'latest' },
    path,
    onProgress: (bytes, total) => seen.push([bytes, total]),
  });
  const sizes = [...g.store.objects].filter(([k]) => !k.includes('/holds/'));
  const base = sizes.find(([k]) => k.endsWith('.lbb'))![1].length;
  const segments = sizes.filter(([k]) => k.endsWith('.lbs')).map(([, b]) => b.length);
  const total = base + segments.reduce((a, b) => a + b, 0);
  const during = seen.slice(0, -segments.length).map(([b]) => b);
  assert.ok(during.length > 0 && during.every((b) => b <= base), `the base's reports: ${during}`);
  assert.equal(during.at(-1), base, 'the whole base, then the segments');
  assert.ok(
    seen.every(([, t]) => t === total),
    'one total',
  );
  assert.ok(
    seen.every(([b], i) => i === 0 || b >= seen[i - 1]![0]),
    'never goes back',
  );
  assert.deepEqual(seen.at(-1), [total, total]);
  // The last reports are the segments, one each, after the whole base.
  const tail = seen.slice(-segments.length).map(([b]) => b);
  let at = base;
  assert.deepEqual(
    tail,
    segments.map((n) => (at += n)),
  );
});

test('a split transaction completes in the segment after the one whose name ends with its txid', async () => {
  const g = await sample();
  const plan = planRestore(DB_ID, await g.store.list(''), { kind: 'txid', txid: 12 });
  assert.deepEqual(
    plan.segments.map((s) => s.seq),
    [1, 2, 3, 4],
    'segment 4 names lastTxid 12; 12 completes only in 5',
  );
  assert.deepEqual(
    plan.more.map((s) => s.seq),
    [5],
  );
  const r = await restore(g.store, { kind: 'txid', txid: 12 });
  assert.equal(r.segments, 5);
  assert.ok(r.bytes.equals(g.images.get(12)!));
});

test('time targets: the last transaction observed at or before the time', async () => {
  const g = await sample();
  const t = (txid: number) => g.times.get(txid)!;
  for (const txid of [3, 4, 8, 10, 12, 14]) {
    const exact = await restore(g.store, { kind: 'time', ms: t(txid) });
    assert.equal(exact.txid, txid, `at the observed time of ${txid}`);
    const between = await restore(g.store, { kind: 'time', ms: t(txid) + 1 });
    assert.equal(between.txid, txid, `just after ${txid}`);
    assert.ok(between.bytes.equals(g.images.get(txid)!));
  }
  const future = await restore(g.store, { kind: 'time', ms: t(14) + 86_400_000 });
  assert.equal(future.txid, 14, 'a time after the newest commit restores the newest (and says how old it is)');
  assert.equal(future.observedMs, t(14));
  await assert.rejects(restore(g.store, { kind: 'time', ms: t(3) - 1 }), (err) => {
    isLifeboat('PITR_TARGET_UNRESTORABLE')(err);
    assert.match((err as Error).message, /Restorable: txid 3 \(.*\) … txid 14 \(.*\) in generation/);
    return true;
  });
});

test('late transactions are reached by txid; a time that would land just before one is refused', async () => {
  const g = new Generation(new MemoryPitrStore(), tempDir());
  g.prelude([[1]]);
  await g.base();
  await g.segment((x) => [x.tx([1]), x.tx([2])]); // 2, 3
  // After downtime: 4 and 5 were committed at unknown times before capture saw them.
  await g.segment((x) => [x.tx([3], { late: true, stepMs: 60_000 }), x.tx([1], { late: true, stepMs: 0 }), x.tx([2])]);
  const t3 = g.times.get(3)!;
  await assert.rejects(restore(g.store, { kind: 'time', ms: t3 + 1000 }), (err) => {
    isLifeboat('PITR_TARGET_UNRESTORABLE')(err);
    assert.match((err as Error).message, /captured late: txid 4/);
    return true;
  });
  assert.equal((await restore(g.store, { kind: 'time', ms: t3 })).txid, 3, 'up to the last observation is fine');
  assert.ok((await restore(g.store, { kind: 'txid', txid: 4 })).bytes.equals(g.images.get(4)!));
  assert.equal((await restore(g.store, { kind: 'time', ms: g.times.get(5)! })).txid, 5, 'at or after a late one');
});

test('re-bases: a target after a later base starts from it; one before it from the older base', async () => {
  const g = new Generation(new MemoryPitrStore(), tempDir());
  g.prelude([[1, 2]]);
  const first = await g.base();
  await g.segment((x) => [x.tx([3]), x.tx([1])]); // 2, 3
  await g.segment((x) => [x.tx([4])]); // 4
  const rebase = await g.base(); // at 4, afterSeq 2
  await g.segment((x) => [x.tx([2]), x.tx([5])]); // 5, 6
  const listing = await g.store.list('');
  assert.equal(planRestore(DB_ID, listing, { kind: 'txid', txid: 3 }).base.name, first);
  const late = planRestore(DB_ID, listing, { kind: 'txid', txid: 6 });
  assert.equal(late.base.name, rebase);
  assert.deepEqual(
    late.segments.map((s) => s.seq),
    [3],
  );
  for (let txid = 1; txid <= 6; txid++)
    assert.ok((await restore(g.store, { kind: 'txid', txid })).bytes.equals(g.images.get(txid)!), `txid ${txid}`);
  // Without the first base, what it alone reached is gone; the rest restores from the re-base.
  g.store.objects.delete(first);
  await assert.rejects(restore(g.store, { kind: 'txid', txid: 3 }), isLifeboat('PITR_TARGET_UNRESTORABLE'));
  assert.ok((await restore(g.store, { kind: 'txid', txid: 5 })).bytes.equals(g.images.get(5)!));
});

test('generations: latest and time pick the newest that can serve them, txid the one holding it', async () => {
  const store = new MemoryPitrStore();
  const older = await sample(store, newGenId(1_700_000_000_000));
  // A new generation starts above the highest txid and later in time.
  const chain = new Chain(1024, 20, 1_800_000_000_000);
  const newer = new Generation(store, tempDir(), KEY_A, newGenId(1_800_000_000_000), DB_ID, chain);
  newer.prelude([[1, 2, 3]]);
  await newer.base(); // txid 20
  await newer.segment((x) => [x.tx([4]), x.tx([1])]); // 21, 22
  const latest = await restore(store, { kind: 'latest' });
  assert.equal(latest.genId, newer.genId);
  assert.equal(latest.txid, 22);
  const old = await restore(store, { kind: 'txid', txid: 9 });
  assert.equal(old.genId, older.genId);
  assert.ok(old.bytes.equals(older.images.get(9)!));
  const atTime = await restore(store, { kind: 'time', ms: older.times.get(7)! });
  assert.equal(atTime.genId, older.genId);
  assert.equal(atTime.txid, 7);
  // Between the older generation's last commit and the newer one's base: unknown, refused.
  await assert.rejects(restore(store, { kind: 'time', ms: 1_750_000_000_000 }), isLifeboat('PITR_TARGET_UNRESTORABLE'));
  await assert.rejects(restore(store, { kind: 'txid', txid: 16 }), isLifeboat('PITR_TARGET_UNRESTORABLE'));
  await assert.rejects(
    restorePitr({
      store,
      keys: KEYS,
      dbId: 'ff'.repeat(16),
      target: { kind: 'latest' },
      path: join(tempDir(), 'x.db'),
    }),
    (err) => isLifeboat('PITR_TARGET_UNRESTORABLE')(err) && /no continuous backup/.test((err as Error).message),
  );
});

/** The tamper suite: each attack is refused with its code, and nothing is left where the restore writes. */
test('tampering: each attack is refused with its own code and leaves no file', async () => {
  const cases: Array<[string, string, (g: Generation<MemoryPitrStore>) => Promise<KeySet | undefined>, PitrTarget?]> = [
    [
      'a missing middle segment',
      'PITR_CHAIN_GAP',
      async (g) => {
        g.store.objects.delete(g.names[3]!); // seq 3
        return undefined;
      },
    ],
    [
      'two segments swapped (each under the other name)',
      'PITR_OBJECT_TAMPERED',
      async (g) => {
        const [a, b] = [g.store.objects.get(g.names[2]!)!, g.store.objects.get(g.names[3]!)!];
        g.store.objects.set(g.names[2]!, b);
        g.store.objects.set(g.names[3]!, a);
        return undefined;
      },
    ],
    [
      'a segment of another generation copied under this one',
      'PITR_OBJECT_TAMPERED',
      async (g) => {
        const other = await sample(new MemoryPitrStore(), newGenId(1_600_000_000_000));
        g.store.objects.set(g.names[2]!, other.store.objects.get(other.names[2]!)!);
        return undefined;
      },
    ],
    [
      'a flipped byte in a segment',
      'PITR_OBJECT_TAMPERED',
      async (g) => {
        g.store.objects.get(g.names[4]!)![100]! ^= 0x40;
        return undefined;
      },
    ],
    [
      'a flipped byte in the base',
      'PITR_OBJECT_TAMPERED',
      async (g) => {
        const base = g.store.objects.get(g.names[0]!)!;
        base[base.length - 20]! ^= 1;
        return undefined;
      },
    ],
    ['a key set without the key', 'PITR_KEY_MISSING', async () => keySet(KEY_B)],
    ['the right key id with other key bytes', 'PITR_OBJECT_TAMPERED', async () => keySet({ ...KEY_B, id: KEY_A.id })],
    [
      // A writer that was fenced off (or a replay of an old attempt) made another, authentic seq 2:
      // seq 3 does not follow it.
      'an authentic segment of a forked chain in the middle',
      'PITR_OBJECT_MISMATCH',
      async (g) => {
        // The same generation up to seq 1, then another seq 2 (same txids and times, other pages).
        const fork = new Generation(new MemoryPitrStore(), tempDir());
        fork.prelude([[1, 2], [3], [1]]);
        await fork.base();
        await fork.segment((x) => [x.tx([2, 4]), x.tx([7])]);
        await fork.segment((x) => [x.tx([1, 2], { dbPages: 4 }), x.tx([3])]);
        assert.equal(fork.names[2], g.names[2], 'the forked seq 2 has the same name');
        g.store.objects.set(g.names[2]!, fork.store.objects.get(fork.names[2]!)!);
        return undefined;
      },
    ],
  ];
  for (const [what, code, attack, target] of cases) {
    const g = await sample();
    const keys = (await attack(g)) ?? KEYS;
    const dir = tempDir();
    const path = join(dir, 'restored.db');
    await assert.rejects(
      restorePitr({ store: g.store, keys, dbId: DB_ID, target: target ?? { kind: 'latest' }, path }),
      (err) => {
        isLifeboat(code)(err);
        assert.ok((err as Error).message.includes('lifeboat-pitr/'), `${what}: the message names the object`);
        return true;
      },
      what,
    );
    assert.ok(!existsSync(path), `${what}: no file at the target path`);
    assert.deepEqual(readdirSync(dir), [], `${what}: no temp file either`);
  }
});

/**
 * Authentic segments (written with the key) that break what only the applier can see: SQLite's
 * chain across and inside segments, and the rebuilt database's checksum. A capture bug, not an
 * attacker, makes these; each is refused with its code, naming the segment.
 */
test("the applier's own checks: SQLite's WAL chain and the rolling checksum", async () => {
  type Edit = Parameters<Generation['segment']>[1];
  const build = async (edit2: Edit, edit3: Edit) => {
    const g = new Generation(new MemoryPitrStore(), tempDir());
    g.prelude([[1, 2]]);
    await g.base();
    await g.segment((x) => [x.tx([1]), x.tx([3])]);
    await g.segment((x) => [x.tx([2]), x.tx([4])], edit2);
    await g.segment((x) => [x.chain.restart(), x.tx([1, 5])], edit3);
    return g;
  };
  const same: Edit = (_, f) => f;
  const cases: Array<[string, string, RegExp, Edit, Edit]> = [
    [
      'a segment that does not start at the running checksum the one before it ended with',
      'PITR_OBJECT_MISMATCH',
      /SQLite's chain is broken/,
      (_, f) => ({ ...f, s0: (f.s0 + 1) >>> 0 }),
      same,
    ],
    [
      'a segment that skips a frame index',
      'PITR_OBJECT_MISMATCH',
      /starts at WAL frame 4/,
      (_, f) => ({ ...f, startFrame: f.startFrame + 1 }),
      same,
    ],
    [
      'a frame whose checksum is not SQLite running checksum',
      'PITR_OBJECT_MALFORMED',
      /fails SQLite's running checksum/,
      (records, f) => {
        const tx = records[1] as TxRecord;
        tx.frames[20]! ^= 1;
        return f;
      },
      same,
    ],
    [
      'an EPOCH whose header fails its own checksum',
      'PITR_OBJECT_MALFORMED',
      /a WAL header it carries: the WAL header checksum does not match/,
      same,
      (records, f) => {
        const epoch = records[0] as { type: 'epoch'; walHeader: Buffer };
        records[0] = { type: 'epoch', walHeader: Buffer.from(epoch.walHeader) };
        (records[0] as { walHeader: Buffer }).walHeader[31]! ^= 1;
        return f;
      },
    ],
    [
      'a transaction whose recorded checksum is not that of the database it builds',
      'PITR_CHECKSUM_MISMATCH',
      /after transaction 5 .* is not the/,
      (records, f) => {
        records[1] = { ...(records[1] as TxRecord), rollingAfter: Buffer.alloc(16, 9) };
        return f;
      },
      same,
    ],
  ];
  for (const [what, code, message, edit2, edit3] of cases) {
    const g = await build(edit2, edit3);
    const dir = tempDir();
    const path = join(dir, 'x.db');
    await assert.rejects(
      restorePitr({ store: g.store, keys: KEYS, dbId: DB_ID, target: { kind: 'latest' }, path }),
      (err) => {
        isLifeboat(code)(err);
        assert.match((err as Error).message, message, what);
        assert.match((err as Error).message, /segment lifeboat-pitr\//, `${what}: names the segment`);
        return true;
      },
      what,
    );
    assert.deepEqual(readdirSync(dir), [], `${what}: nothing left`);
  }
  // And unedited, the same generation restores.
  const g = await build(same, same);
  assert.ok((await restore(g.store, { kind: 'latest' })).bytes.equals(g.images.get(6)!));
  await assert.rejects(restore(g.store, { kind: 'txid', txid: 7 }), isLifeboat('PITR_TARGET_UNRESTORABLE'));
});

test('the rolling checksum is compared where the restore ends: each segment’s last commit and the target', async () => {
  const g = new Generation(new MemoryPitrStore(), tempDir());
  g.prelude([[1, 2]]);
  await g.base();
  await g.segment((x) => [x.tx([1]), x.tx([3])]);
  // Transaction 4 records a checksum that is not its database's; 5, after it, records the right one.
  await g.segment(
    (x) => [x.tx([2]), x.tx([4])],
    (records, f) => {
      records[0] = { ...(records[0] as TxRecord), rollingAfter: Buffer.alloc(16, 9) };
      return f;
    },
  );
  await assert.rejects(restore(g.store, { kind: 'txid', txid: 4 }), (err) => {
    isLifeboat('PITR_CHECKSUM_MISMATCH')(err);
    assert.match((err as Error).message, /after transaction 4 .*the first wrong one is in 4…4/);
    return true;
  });
  // Past it, the database each restore builds is the one its writer recorded: checked, and exact.
  assert.ok((await restore(g.store, { kind: 'latest' })).bytes.equals(g.images.get(5)!));
  assert.ok((await restore(g.store, { kind: 'txid', txid: 3 })).bytes.equals(g.images.get(3)!));
});
