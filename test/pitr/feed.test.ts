// The restore's segment feed (src/pitr/restore/feed.ts): what it fetches ahead and when, in
// order, and how a failed fetch surfaces. The bucket is the in-memory double; its GETs are
// held until a test releases them (GatedStore), to fix the order in which answers arrive —
// timing a real server cannot be made to produce on demand.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LifeboatError } from '../../src/errors.js';
import { parseSegmentName } from '../../src/pitr/names.js';
import { SegmentFeed } from '../../src/pitr/restore/feed.js';
import type { PlannedSegment } from '../../src/pitr/restore/plan.js';
import type { Etag } from '../../src/storage/object-store.js';
import { MemoryPitrStore } from '../support/memory-pitr-store.js';
import { tempDir } from '../support/tmp.js';
import { DB_ID, GEN_ID, KEY_A, keySet } from './fixtures.js';
import { Generation } from './restore-fixtures.js';

type Answer = { body: Buffer; etag: Etag } | undefined;

class GatedStore extends MemoryPitrStore {
  readonly requested: string[] = [];
  readonly #held = new Map<string, { resolve: (gone: boolean) => void; reject: (e: Error) => void }>();

  override get(key: string): Promise<Answer> {
    this.requested.push(key);
    const answer = super.get(key);
    return new Promise<Answer>((resolve, reject) =>
      this.#held.set(key, { resolve: (gone) => resolve(gone ? undefined : answer), reject }),
    );
  }

  /** Answers the held GET of `key` with the object, with nothing (gone), or with an error. */
  release(key: string, how: 'object' | 'gone' | Error = 'object'): void {
    const held = this.#held.get(key);
    assert.ok(held, `a GET of ${key} is held`);
    this.#held.delete(key);
    if (how instanceof Error) held.reject(how);
    else held.resolve(how === 'gone');
  }
}

async function generation(segments: number): Promise<{ store: GatedStore; planned: PlannedSegment[] }> {
  const g = new Generation(new GatedStore(), tempDir());
  g.prelude([[1, 2]]);
  await g.base();
  for (let i = 0; i < segments; i++) await g.segment((x) => [x.tx([1, 2 + i])]);
  const planned = g.names.flatMap((name) => {
    const seg = parseSegmentName(name);
    return seg ? [{ ...seg, name, size: g.store.objects.get(name)!.length }] : [];
  });
  assert.equal(planned.length, segments);
  return { store: g.store, planned };
}

const feedOf = (
  store: GatedStore,
  planned: PlannedSegment[],
  more: Partial<ConstructorParameters<typeof SegmentFeed>[1]>,
) => new SegmentFeed(planned, { store, keys: keySet(KEY_A), dbId: DB_ID, genId: GEN_ID, ...more });

/** Lets every settled promise's handlers run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

test('fetches ahead within its byte budget and GET limit, and hands segments out in seq order', async () => {
  const { store, planned } = await generation(6);
  const names = planned.map((s) => s.name);
  // Room for two segments' ciphertext: the third waits for the first body to be handed to decoding.
  const feed = feedOf(store, planned, { aheadBytes: planned[0]!.size + planned[1]!.size, gets: 4 });
  assert.deepEqual(store.requested, names.slice(0, 2));
  assert.equal(feed.remaining, 6);
  // Answers out of order: the second first; the feed still waits for the first.
  store.release(names[1]!);
  await settle();
  assert.deepEqual(store.requested, names.slice(0, 3), "the second's bytes left the budget: the third is fetched");
  store.release(names[0]!);
  const first = await feed.next();
  assert.equal(first?.seg.name, names[0]);
  assert.equal(first?.segment.header.seq, 1);
  assert.equal((await feed.next())?.seg.name, names[1]);
  for (const name of names.slice(2)) {
    await settle();
    store.release(name);
    assert.equal((await feed.next())?.seg.name, name);
  }
  assert.deepEqual(store.requested, names, 'each segment fetched once');
  assert.equal(await feed.next(), undefined);
  assert.equal(feed.remaining, 0);
});

test('at most `gets` GETs in flight; one segment is fetched even when it alone exceeds the budget', async () => {
  const { store, planned } = await generation(5);
  const names = planned.map((s) => s.name);
  feedOf(store, planned, { aheadBytes: 1 << 30, gets: 3 });
  assert.deepEqual(store.requested, names.slice(0, 3));
  const tiny = await generation(2);
  const feed = feedOf(tiny.store, tiny.planned, { aheadBytes: 1 });
  assert.deepEqual(tiny.store.requested, [tiny.planned[0]!.name]);
  tiny.store.release(tiny.planned[0]!.name);
  await settle();
  assert.deepEqual(
    tiny.store.requested,
    tiny.planned.map((s) => s.name),
  );
  assert.equal((await feed.next())?.segment.header.seq, 1);
});

test('a failed or missing fetch is reported at its turn, after the segments before it', async () => {
  const { store, planned } = await generation(4);
  const names = planned.map((s) => s.name);
  const feed = feedOf(store, planned, {});
  await settle();
  store.release(names[2]!, new Error('connection reset'));
  store.release(names[3]!, 'gone');
  store.release(names[1]!);
  store.release(names[0]!);
  assert.equal((await feed.next())?.segment.header.seq, 1);
  assert.equal((await feed.next())?.segment.header.seq, 2);
  await assert.rejects(feed.next(), /connection reset/);
  await assert.rejects(feed.next(), (err: unknown) => {
    assert.ok(err instanceof LifeboatError);
    assert.equal(err.code, 'PITR_OBJECT_MISSING');
    assert.match(err.message, new RegExp(`segment ${names[3]}`));
    return true;
  });
});

test('after stop() no further segment is fetched; appended segments come after the planned ones', async () => {
  const { store, planned } = await generation(4);
  const names = planned.map((s) => s.name);
  const stopped = feedOf(store, planned.slice(0, 3), { gets: 1 });
  assert.deepEqual(store.requested, names.slice(0, 1));
  stopped.stop();
  store.release(names[0]!);
  await settle();
  assert.deepEqual(store.requested, names.slice(0, 1));
  assert.equal(stopped.remaining, 1, 'only the segment already decoding is left; nothing more is fetched');

  const again = await generation(3);
  const feed = feedOf(again.store, again.planned.slice(0, 2), {});
  feed.append(again.planned[2]!);
  for (const s of again.planned) again.store.release(s.name);
  const seqs: number[] = [];
  for (let next = await feed.next(); next; next = await feed.next()) seqs.push(next.segment.header.seq);
  assert.deepEqual(seqs, [1, 2, 3]);
});
