/**
 * The BackupStore contract (src/storage/store.ts) as tests any store must pass:
 *
 *   runStoreContract('local folder', () => new LocalStore(join(tempDir(), 'b')));
 *   runStoreContract('s3', async () => createS3Store(await s3.place()));
 *
 * `makeStore` is called once per test and must return an empty store of its own. Options:
 * `abort: true` also checks that `PutOptions.signal` interrupts a put and leaves nothing.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, test } from 'node:test';
import { LifeboatError } from '../../src/errors.js';
import type { BackupStore } from '../../src/storage/store.js';
import { patternSource } from './range-source.js';

export interface StoreContractOptions {
  /** The store honours `PutOptions.signal`. */
  readonly abort?: boolean;
}

const KiB = 1024;

/** `total` bytes in chunks of `chunk`, the same bytes every time for one seed. */
function chunks(total: number, seed: number, chunk = 64 * KiB): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0, i = 0; off < total; off += chunk, i++) {
    const n = Math.min(chunk, total - off);
    const piece = Buffer.alloc(n);
    const block = createHash('sha256').update(`${seed}:${i}`).digest();
    for (let j = 0; j < n; j += block.length) block.copy(piece, j);
    out.push(piece);
  }
  return out;
}

const isCode = (code: string) => (err: unknown) => err instanceof LifeboatError && err.code === code;

/** Emits `before` bytes, then fails with `error`. */
function failingBody(before: number, error: Error): Readable {
  const data = chunks(before, 99);
  return new Readable({
    read() {
      const next = data.shift();
      if (next) this.push(next);
      else this.destroy(error);
    },
  });
}

async function contentOf(store: BackupStore, name: string): Promise<Buffer | undefined> {
  try {
    return await buffer(await store.get(name));
  } catch (err) {
    if (isCode('NOT_FOUND')(err)) return undefined;
    throw err;
  }
}

export function runStoreContract(
  name: string,
  makeStore: () => BackupStore | Promise<BackupStore>,
  options: StoreContractOptions = {},
): void {
  describe(`BackupStore contract: ${name}`, () => {
    test('a new store lists nothing and describes itself', async () => {
      const store = await makeStore();
      assert.deepEqual(await store.list(), []);
      assert.ok(store.description.length > 0);
    });

    test('put stores the bytes of the stream under the name; get and list return them', async () => {
      const store = await makeStore();
      const data = chunks(300 * KiB + 7, 1);
      const put = await store.put('backup_node_1_1732415400.sqlite', Readable.from(data));
      assert.equal(put.name, 'backup_node_1_1732415400.sqlite');
      assert.equal(put.size, 300 * KiB + 7);
      assert.ok((await buffer(await store.get('backup_node_1_1732415400.sqlite'))).equals(Buffer.concat(data)));
      const listed = await store.list();
      assert.deepEqual(
        listed.map((o) => [o.name, o.size]),
        [['backup_node_1_1732415400.sqlite', 300 * KiB + 7]],
      );
      const modified = listed[0]?.modified;
      if (modified) assert.ok(Math.abs(modified.getTime() - Date.now()) < 15 * 60_000, 'modified is about now');
    });

    test('an empty stream stores an empty object', async () => {
      const store = await makeStore();
      assert.equal((await store.put('empty.sqlite', Readable.from([]))).size, 0);
      assert.equal((await buffer(await store.get('empty.sqlite'))).length, 0);
      assert.deepEqual(
        (await store.list()).map((o) => [o.name, o.size]),
        [['empty.sqlite', 0]],
      );
    });

    test('names list back exactly as they were put, also with spaces, "+" and non-ASCII', async () => {
      const store = await makeStore();
      const names = [
        'backup_node_1_1.sqlite',
        'backup_node_12_1732415400.sqlite',
        'a b.sqlite',
        'a+b.sqlite',
        'ünïcode-ß.sqlite',
        'x=1&y=2.sqlite',
      ];
      for (const [i, n] of names.entries()) await store.put(n, Readable.from([Buffer.from(`object ${i}`)]));
      assert.deepEqual((await store.list()).map((o) => o.name).sort(), [...names].sort());
      for (const [i, n] of names.entries())
        assert.equal((await buffer(await store.get(n))).toString(), `object ${i}`, n);
    });

    test('put of an existing name replaces the object', async () => {
      const store = await makeStore();
      await store.put('a.sqlite', Readable.from([Buffer.from('first version, longer')]));
      await store.put('a.sqlite', Readable.from([Buffer.from('second')]));
      assert.equal((await buffer(await store.get('a.sqlite'))).toString(), 'second');
      assert.deepEqual(
        (await store.list()).map((o) => [o.name, o.size]),
        [['a.sqlite', 6]],
      );
    });

    test('get of a missing name rejects with NOT_FOUND naming it', async () => {
      const store = await makeStore();
      await assert.rejects(
        store.get('backup_node_1_404.sqlite'),
        (err: unknown) => isCode('NOT_FOUND')(err) && (err as Error).message.includes('backup_node_1_404.sqlite'),
      );
    });

    test('delete removes only that name; deleting a missing name is not an error', async () => {
      const store = await makeStore();
      await store.put('keep.sqlite', Readable.from([Buffer.from('k')]));
      await store.put('gone.sqlite', Readable.from([Buffer.from('g')]));
      await store.delete('gone.sqlite');
      await store.delete('gone.sqlite');
      await store.delete('never-existed.sqlite');
      assert.deepEqual(
        (await store.list()).map((o) => o.name),
        ['keep.sqlite'],
      );
      await assert.rejects(store.get('gone.sqlite'), isCode('NOT_FOUND'));
    });

    test('a body that fails mid-stream: put rejects with its error and nothing half-written is visible', async () => {
      const store = await makeStore();
      await store.put('a.sqlite', Readable.from([Buffer.from('old and complete')]));
      const boom = new Error('disk on fire');
      await assert.rejects(store.put('a.sqlite', failingBody(512 * KiB, boom)), (err: unknown) => err === boom);
      await assert.rejects(store.put('b.sqlite', failingBody(512 * KiB, boom)), (err: unknown) => err === boom);
      // The contract allows the previous complete object to remain, never a partial one.
      const a = await contentOf(store, 'a.sqlite');
      assert.ok(a === undefined || a.toString() === 'old and complete', 'a.sqlite is the old object or absent');
      assert.equal(await contentOf(store, 'b.sqlite'), undefined);
      assert.deepEqual(
        (await store.list()).map((o) => o.name).filter((n) => n !== 'a.sqlite'),
        [],
      );
    });

    test('onProgress reports the bytes consumed so far, ending at the total', async () => {
      const store = await makeStore();
      const seen: number[] = [];
      await store.put('p.sqlite', Readable.from(chunks(200 * KiB, 3, 16 * KiB)), { onProgress: (n) => seen.push(n) });
      assert.ok(seen.length >= 2, 'called more than once');
      assert.deepEqual(
        seen,
        [...seen].sort((x, y) => x - y),
        'never goes back',
      );
      assert.equal(seen.at(-1), 200 * KiB);
    });

    test('a RangeSource body stores exactly its bytes (several parts where the store has parts)', async () => {
      const store = await makeStore();
      for (const [name, size] of [
        ['small.sqlite', 3 * KiB + 1],
        ['large.sqlite', 12 * 1024 * KiB + 5],
        ['zero.sqlite', 0],
      ] as const) {
        const source = patternSource(size, size);
        const seen: number[] = [];
        const put = await store.put(name, source, { onProgress: (n) => seen.push(n) });
        assert.equal(put.size, size, name);
        assert.equal(
          createHash('sha256')
            .update((await contentOf(store, name)) ?? Buffer.alloc(1))
            .digest('hex'),
          source.sha,
          name,
        );
        if (size > 0) assert.equal(seen.at(-1), size, `${name}: progress ends at the size`);
      }
      assert.deepEqual(
        (await store.list()).map((o) => [o.name, o.size]),
        [
          ['large.sqlite', 12 * 1024 * KiB + 5],
          ['small.sqlite', 3 * KiB + 1],
          ['zero.sqlite', 0],
        ],
      );
    });

    for (const kind of ['stream', 'range source'] as const) {
      for (const size of [40 * KiB, 11 * 1024 * KiB]) {
        const body = (seed: number) =>
          kind === 'stream' ? Readable.from(chunks(size, seed)) : patternSource(size, seed);
        test(`beforeCommit (${kind}, ${size / KiB} KiB): nothing is visible before it resolves; a rejection stores nothing and is put's error`, async () => {
          const store = await makeStore();
          let visibleBefore: string[] | undefined;
          await store.put('ok.sqlite', body(1), {
            beforeCommit: async () => {
              visibleBefore = (await store.list()).map((o) => o.name);
            },
          });
          assert.deepEqual(visibleBefore, [], 'the object was not visible while beforeCommit ran');
          assert.deepEqual(
            (await store.list()).map((o) => [o.name, o.size]),
            [['ok.sqlite', size]],
          );
          const refused = new Error('the local copy failed its check');
          await assert.rejects(
            store.put('refused.sqlite', body(2), { beforeCommit: () => Promise.reject(refused) }),
            (err: unknown) => err === refused,
          );
          assert.equal(await contentOf(store, 'refused.sqlite'), undefined);
          assert.deepEqual(
            (await store.list()).map((o) => o.name),
            ['ok.sqlite'],
          );
        });
      }
    }

    test('names that are not plain file names are refused with BAD_NAME', async () => {
      const store = await makeStore();
      for (const bad of ['', '.', '..', 'a/b', '../x', 'a\\b']) {
        await assert.rejects(
          store.put(bad, Readable.from([Buffer.from('x')])),
          isCode('BAD_NAME'),
          `put ${JSON.stringify(bad)}`,
        );
        await assert.rejects(store.get(bad), isCode('BAD_NAME'), `get ${JSON.stringify(bad)}`);
      }
      assert.deepEqual(await store.list(), []);
    });

    if (options.abort) {
      test('an aborted put rejects and leaves nothing', async () => {
        const store = await makeStore();
        const controller = new AbortController();
        let sent = 0;
        // 32 MiB made on demand; the abort comes from the put's own progress at 1 MiB. (Finite,
        // so a store that ignores the signal fails this test instead of filling a disk.)
        let left = 32 * 1024 * KiB;
        const body = new Readable({
          read() {
            const n = Math.min(64 * KiB, left);
            left -= n;
            this.push(n > 0 ? randomBytes(n) : null);
          },
        });
        await assert.rejects(
          store.put('aborted.sqlite', body, {
            signal: controller.signal,
            onProgress: (n) => {
              sent = n;
              if (n >= 1024 * KiB) controller.abort();
            },
          }),
          (err: unknown) => err instanceof Error && (isCode('ABORTED')(err) || err.name === 'AbortError'),
        );
        assert.ok(sent >= 1024 * KiB);
        assert.equal(await contentOf(store, 'aborted.sqlite'), undefined);
        assert.deepEqual(await store.list(), []);
      });
    }
  });
}
