// Whole base objects (src/pitr/base-object.ts) through the in-memory bucket double: what is
// uploaded is one cryptr stream of header ‖ image, and what a restore reads back is checked.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { test } from 'node:test';
import { createDecryptStream } from '../../src/crypto/stream.js';
import { BASE_HEADER_BYTES } from '../../src/pitr/base.js';
import { type BaseFields, readBase, rollingOfFile, writeBase } from '../../src/pitr/base-object.js';
import { deriveObjectKey } from '../../src/pitr/derive.js';
import { RollingChecksum } from '../../src/pitr/rolling.js';
import { MemoryPitrStore } from '../support/memory-pitr-store.js';
import { isLifeboat } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';
import { DB_ID, GEN_ID, KEY_A, KEY_B, keySet, pageOf } from './fixtures.js';

const PAGE = 4096;

function image(pages: number, tag = 'img'): Buffer {
  return Buffer.concat(Array.from({ length: pages }, (_, i) => pageOf(PAGE, `${tag}/${i}`)));
}

function fieldsFor(img: Buffer, over: Partial<BaseFields> = {}): BaseFields {
  return {
    dbId: DB_ID,
    genId: GEN_ID,
    txid: 41,
    observedMs: 1_700_000_000_500,
    pageSize: PAGE,
    rolling: RollingChecksum.fromDatabaseImage(img, PAGE).value(),
    afterSeq: 0,
    chainDigest: Buffer.alloc(32),
    ...over,
  };
}

function imageFile(img: Buffer): string {
  const path = join(tempDir(), 'image.db');
  writeFileSync(path, img);
  return path;
}

test('rollingOfFile is the checksum of the whole image, page by page', async () => {
  // 300 pages: more than one read step of 1 MiB (256 pages of 4 KiB).
  const img = image(300);
  const r = await rollingOfFile(imageFile(img), PAGE);
  assert.ok(r.value().equals(RollingChecksum.fromDatabaseImage(img, PAGE).value()));
  assert.equal(r.dbPages, 300);
  await assert.rejects(rollingOfFile(imageFile(Buffer.alloc(PAGE + 1)), PAGE), /not a whole number/);
});

test('writeBase uploads header ‖ image as one stream under the derived key; readBase gets it back', async () => {
  for (const pages of [0, 1, 33, 300]) {
    const store = new MemoryPitrStore();
    const img = image(pages);
    const fields = fieldsFor(img);
    const written = await writeBase(store, KEY_A, imageFile(img), fields);
    assert.equal(written.name, `lifeboat-pitr/${DB_ID}/g/${GEN_ID}/b/0000000000000029-1700000000500.lbb`);
    const stored = store.objects.get(written.name)!;
    assert.equal(written.size, stored.length);
    // Decrypted independently: the header, then the image, and the digest is their SHA-256.
    const key = deriveObjectKey(KEY_A, { kind: 'LBB1', dbId: DB_ID, genId: GEN_ID, n: 41 });
    const plain = await buffer(Readable.from([stored]).pipe(createDecryptStream(() => key)));
    assert.equal(plain.length, BASE_HEADER_BYTES + img.length);
    assert.ok(plain.subarray(BASE_HEADER_BYTES).equals(img));
    assert.ok(written.digest.equals(createHash('sha256').update(plain).digest()));
    assert.equal(written.header.dbPages, pages);

    const target = join(tempDir(), 'restored.db');
    const got = await readBase(store, keySet(KEY_A), { name: written.name, dbId: DB_ID, genId: GEN_ID }, target);
    assert.ok(readFileSync(target).equals(img), `image of ${pages} pages`);
    assert.equal(statSync(target).mode & 0o777, 0o600);
    assert.ok(got.digest.equals(written.digest));
    assert.ok(got.rolling.value().equals(fields.rolling));
    assert.equal(got.header.txid, 41);
    assert.equal(store.calls.getStream, 1, 'one streamed GET');
  }
});

test('writeBase refuses an image whose rolling checksum is not the one stated, and uploads nothing', async () => {
  const store = new MemoryPitrStore();
  const img = image(5);
  const stated = fieldsFor(image(5, 'other'));
  await assert.rejects(writeBase(store, KEY_A, imageFile(img), stated), isLifeboat('PITR_CHECKSUM_MISMATCH'));
  assert.equal(store.objects.size, 0);
});

test('readBase: each failure has its code, names the object, and leaves no file', async () => {
  const img = image(40);
  const fields = fieldsFor(img);
  const fresh = async () => {
    const store = new MemoryPitrStore();
    const written = await writeBase(store, KEY_A, imageFile(img), fields);
    return { store, name: written.name };
  };
  const dir = tempDir();
  let n = 0;
  const fails = async (
    store: MemoryPitrStore,
    name: string,
    code: string,
    keys = keySet(KEY_A),
    genId = GEN_ID,
  ): Promise<void> => {
    const target = join(dir, `t${n++}.db`);
    await assert.rejects(readBase(store, keys, { name, dbId: DB_ID, genId }, target), (err) => {
      isLifeboat(code)(err);
      assert.ok((err as Error).message.includes(name), (err as Error).message);
      return true;
    });
    assert.ok(!existsSync(target), `${code}: no file left`);
  };

  const flipped = await fresh();
  const body = flipped.store.objects.get(flipped.name)!;
  body[body.length - 5000]! ^= 1;
  await fails(flipped.store, flipped.name, 'PITR_OBJECT_TAMPERED');

  const cut = await fresh();
  cut.store.objects.set(cut.name, cut.store.objects.get(cut.name)!.subarray(0, 70_000));
  await fails(cut.store, cut.name, 'PITR_OBJECT_TAMPERED');

  const keyless = await fresh();
  await fails(keyless.store, keyless.name, 'PITR_KEY_MISSING', keySet(KEY_B));
  // Same id, other bytes: not a missing key, an object that does not authenticate.
  await fails(keyless.store, keyless.name, 'PITR_OBJECT_TAMPERED', keySet({ id: KEY_A.id, key: KEY_B.key }));

  const moved = await fresh();
  const other = moved.name.replace('0000000000000029-', '000000000000002a-');
  moved.store.objects.set(other, moved.store.objects.get(moved.name)!);
  await fails(moved.store, other, 'PITR_OBJECT_TAMPERED');

  const gone = await fresh();
  gone.store.objects.delete(gone.name);
  await fails(gone.store, gone.name, 'PITR_OBJECT_MISSING');

  // A base of another generation named as this one's: refused before anything is read.
  const foreign = await fresh();
  await fails(foreign.store, foreign.name, 'PITR_OBJECT_MISMATCH', keySet(KEY_A), '11'.repeat(16));

  // An existing target is never written over.
  const kept = await fresh();
  const target = join(dir, 'exists.db');
  writeFileSync(target, 'precious');
  await assert.rejects(readBase(kept.store, keySet(KEY_A), { name: kept.name, dbId: DB_ID, genId: GEN_ID }, target));
  assert.equal(readFileSync(target, 'utf8'), 'precious');
});
