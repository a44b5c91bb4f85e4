/**
 * The BackupStore contract (src/storage/store.ts) as tests any store must pass:
 *
 *   runStoreContract('local folder', () => new LocalStore(join(tempDir(), 'b')));
 *   runStoreContract('s3', async () => new S3Store(await s3.place()), { leftovers });
 *
 * `makeStore` is called once per test and must return an empty store of its own. `leftovers`
 * (optional) counts what a store may hold invisibly after an abort (S3: unfinished multipart
 * uploads); the contract requires none.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import { describe, test } from 'node:test';
import { LifeboatError } from '../../src/errors.js';
import { type BackupStore, storeObject } from '../../src/storage/store.js';
import { bufferSource, patternSource } from './range-source.js';

export interface StoreContractOptions {
  /** Invisible leftovers of the store given (e.g. unfinished multipart uploads); must be 0 after an abort. */
  readonly leftovers?: (store: BackupStore) => Promise<number>;
}

const KiB = 1024;
/** More than two parts of 5 MiB (the S3 contract's part size), so a multipart upload goes up in several. */
const MULTIPART = 12 * 1024 * KiB + 5;

const isCode = (code: string) => (err: unknown) => err instanceof LifeboatError && err.code === code;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function contentOf(store: BackupStore, name: string): Promise<Buffer | undefined> {
  try {
    return await buffer(await store.get(name));
  } catch (err) {
    if (isCode('NOT_FOUND')(err)) return undefined;
    throw err;
  }
}

const listed = async (store: BackupStore) => (await store.list()).map((o) => [o.name, o.size] as const);

export function runStoreContract(
  name: string,
  makeStore: () => BackupStore | Promise<BackupStore>,
  options: StoreContractOptions = {},
): void {
  const leftovers = async (store: BackupStore) => (options.leftovers ? options.leftovers(store) : 0);

  describe(`BackupStore contract: ${name}`, () => {
    test('a new store lists nothing and describes itself', async () => {
      const store = await makeStore();
      assert.deepEqual(await store.list(), []);
      assert.ok(store.description.length > 0);
    });

    const stageCommitStores =
      'stage + commit stores exactly the bytes, small, in several parts, and empty; get, stat and list agree';
    test(stageCommitStores, async () => {
      const store = await makeStore();
      for (const [object, size] of [
        ['small.sqlite', 3 * KiB + 1],
        ['large.sqlite', MULTIPART],
        ['zero.sqlite', 0],
      ] as const) {
        const source = patternSource(size, size);
        const seen: number[] = [];
        const stored = await storeObject(store, object, source, { onProgress: (n) => seen.push(n) });
        assert.equal(stored.name, object);
        assert.equal(stored.size, size, object);
        assert.equal(sha((await contentOf(store, object)) ?? Buffer.alloc(1)), source.sha, object);
        if (size > 0) assert.equal(seen.at(-1), size, `${object}: progress ends at the size`);
        assert.equal((await store.stat(object))?.size, size, `${object}: stat`);
      }
      assert.deepEqual(await listed(store), [
        ['large.sqlite', MULTIPART],
        ['small.sqlite', 3 * KiB + 1],
        ['zero.sqlite', 0],
      ]);
      const modified = (await store.list())[0]?.modified;
      if (modified) assert.ok(Math.abs(modified.getTime() - Date.now()) < 15 * 60_000, 'modified is about now');
    });

    test('names list back exactly as they were stored, also with spaces, "+" and non-ASCII', async () => {
      const store = await makeStore();
      const names = [
        'backup_node_1_1.sqlite',
        'backup_node_12_1732415400.sqlite',
        'a b.sqlite',
        'a+b.sqlite',
        'ünïcode-ß.sqlite',
        'x=1&y=2.sqlite',
      ];
      for (const [i, n] of names.entries()) await storeObject(store, n, bufferSource(`object ${i}`));
      assert.deepEqual((await store.list()).map((o) => o.name).sort(), [...names].sort());
      for (const [i, n] of names.entries()) assert.equal((await contentOf(store, n))?.toString(), `object ${i}`, n);
    });

    test('committing an existing name replaces the object', async () => {
      const store = await makeStore();
      await storeObject(store, 'a.sqlite', bufferSource('first version, longer'));
      await storeObject(store, 'a.sqlite', bufferSource('second'));
      assert.equal((await contentOf(store, 'a.sqlite'))?.toString(), 'second');
      assert.deepEqual(await listed(store), [['a.sqlite', 6]]);
    });

    test('get of a missing name rejects with NOT_FOUND naming it; stat says undefined', async () => {
      const store = await makeStore();
      await assert.rejects(
        store.get('backup_node_1_404.sqlite'),
        (err: unknown) => isCode('NOT_FOUND')(err) && (err as Error).message.includes('backup_node_1_404.sqlite'),
      );
      assert.equal(await store.stat('backup_node_1_404.sqlite'), undefined);
    });

    test('get of a range returns exactly those bytes', async () => {
      const store = await makeStore();
      const source = patternSource(300 * KiB + 11, 5);
      await storeObject(store, 'r.sqlite', source);
      const whole = (await contentOf(store, 'r.sqlite'))!;
      for (const [start, end] of [
        [0, 1],
        [0, 64 * KiB],
        [100_000, 200_003],
        [whole.length - 7, whole.length],
        [17, 17],
      ] as const) {
        const got = await buffer(await store.get('r.sqlite', { start, end }));
        assert.ok(got.equals(whole.subarray(start, end)), `[${start}, ${end})`);
      }
    });

    test('delete removes only that name; deleting a missing name is not an error', async () => {
      const store = await makeStore();
      await storeObject(store, 'keep.sqlite', bufferSource('k'));
      await storeObject(store, 'gone.sqlite', bufferSource('g'));
      await store.delete('gone.sqlite');
      await store.delete('gone.sqlite');
      await store.delete('never-existed.sqlite');
      assert.deepEqual(await listed(store), [['keep.sqlite', 1]]);
      await assert.rejects(store.get('gone.sqlite'), isCode('NOT_FOUND'));
    });

    for (const size of [40 * KiB, MULTIPART]) {
      const outcome = 'nothing is visible before commit, even with every byte sent; then it is';
      test(`staged (${size} bytes): ${outcome}`, async () => {
        const store = await makeStore();
        const source = patternSource(size, 9);
        let sent = 0;
        const staged = store.stage('s.sqlite', source, { onProgress: (n) => (sent = n) });
        // A store may send before commit (S3 parts) or wait for it (a single PUT): either way nothing shows.
        await new Promise((resolve) => setImmediate(resolve));
        assert.deepEqual(await store.list(), [], `not visible (${sent} bytes sent so far)`);
        assert.equal(await store.stat('s.sqlite'), undefined);
        await staged.commit();
        assert.equal(sha((await contentOf(store, 's.sqlite'))!), source.sha);
      });

      test(`abort (${size} bytes): nothing stored, nothing left over, an older object of the name intact`, async () => {
        const store = await makeStore();
        await storeObject(store, 'a.sqlite', bufferSource('old and complete'));
        const staged = store.stage('a.sqlite', patternSource(size, 3));
        const fresh = store.stage('b.sqlite', patternSource(size, 4));
        await staged.abort();
        await fresh.abort();
        await fresh.abort(); // idempotent
        assert.equal((await contentOf(store, 'a.sqlite'))?.toString(), 'old and complete');
        assert.equal(await contentOf(store, 'b.sqlite'), undefined);
        assert.deepEqual(await listed(store), [['a.sqlite', 16]]);
        assert.equal(await leftovers(store), 0, 'no invisible leftovers');
      });

      test(`a source that fails (${size} bytes): commit rejects with its error; nothing half-written`, async () => {
        const store = await makeStore();
        await storeObject(store, 'a.sqlite', bufferSource('old and complete'));
        const boom = new Error('disk on fire');
        for (const object of ['a.sqlite', 'b.sqlite']) {
          const source = patternSource(size, 6);
          source.failAt(Math.floor(size / 2), boom);
          const staged = store.stage(object, source);
          await assert.rejects(staged.commit(), (err: unknown) => err === boom, object);
          await staged.abort();
        }
        assert.equal((await contentOf(store, 'a.sqlite'))?.toString(), 'old and complete');
        assert.equal(await contentOf(store, 'b.sqlite'), undefined);
        assert.equal(await leftovers(store), 0, 'no invisible leftovers');
      });
    }

    test('failing or aborted at once, before anything is written: abort leaves nothing behind', async () => {
      // The narrow case behind a rare CI failure: the caller's abort() returned while the store's
      // own clean-up of the failed transfer was still running, or before its temp file existed.
      const store = await makeStore();
      for (let round = 0; round < 20; round++) {
        const source = patternSource(MULTIPART, round);
        source.failAt(0, new Error('unreadable'));
        const failing = store.stage(`failing-${round}`, source);
        await assert.rejects(failing.commit(), /unreadable/);
        await failing.abort();
        const stopped = store.stage(`stopped-${round}`, patternSource(MULTIPART, round), {
          signal: AbortSignal.abort(),
        });
        await assert.rejects(stopped.commit(), isCode('ABORTED'));
        await stopped.abort();
        assert.equal(await leftovers(store), 0, `no invisible leftovers (round ${round})`);
      }
      assert.deepEqual(await store.list(), []);
    });

    test('a signal stops the transfer: commit rejects with ABORTED and nothing is stored', async () => {
      const store = await makeStore();
      const controller = new AbortController();
      const staged = store.stage('aborted.sqlite', patternSource(MULTIPART, 8), {
        signal: controller.signal,
        onProgress: (n) => {
          if (n >= 1024 * KiB) controller.abort();
        },
      });
      await assert.rejects(staged.commit(), isCode('ABORTED'));
      await staged.abort();
      assert.equal(await contentOf(store, 'aborted.sqlite'), undefined);
      assert.deepEqual(await store.list(), []);
      assert.equal(await leftovers(store), 0, 'no invisible leftovers');
    });

    test('create writes a new object, and refuses with EXISTS (changing nothing) when the name is taken', async () => {
      const store = await makeStore();
      const made = await store.create('lease-1', Buffer.from('first'));
      assert.deepEqual([made.name, made.size], ['lease-1', 5]);
      await assert.rejects(store.create('lease-1', Buffer.from('second')), isCode('EXISTS'));
      assert.equal((await contentOf(store, 'lease-1'))?.toString(), 'first');
      await storeObject(store, 'staged', bufferSource('a staged object'));
      await assert.rejects(store.create('staged', Buffer.from('x')), isCode('EXISTS'));
      assert.equal((await contentOf(store, 'staged'))?.toString(), 'a staged object');
    });

    test("concurrent creates of one name: exactly one wins, the object is the winner's", async () => {
      const store = await makeStore();
      const bodies = Array.from({ length: 6 }, (_, i) => Buffer.from(`writer ${i}`));
      const results = await Promise.allSettled(bodies.map((b) => store.create('seq-00000001', b)));
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      assert.equal(won.length, 1, `exactly one create succeeds: ${results.map((r) => r.status).join(', ')}`);
      for (const r of results) if (r.status === 'rejected') assert.ok(isCode('EXISTS')(r.reason), String(r.reason));
      assert.equal((await contentOf(store, 'seq-00000001'))?.toString(), `writer ${won[0]}`);
    });

    test('names that are not plain file names are refused with BAD_NAME', async () => {
      const store = await makeStore();
      for (const bad of ['', '.', '..', 'a/b', '../x', 'a\\b']) {
        const shown = JSON.stringify(bad);
        assert.throws(() => store.stage(bad, bufferSource('x')), isCode('BAD_NAME'), `stage ${shown}`);
        await assert.rejects(store.get(bad), isCode('BAD_NAME'), `get ${shown}`);
        await assert.rejects(store.create(bad, Buffer.from('x')), isCode('BAD_NAME'), `create ${shown}`);
      }
      assert.deepEqual(await store.list(), []);
    });
  });
}
