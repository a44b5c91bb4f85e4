import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decryptFile, encryptFile } from '../../src/crypto/file.js';
import type { EncryptionKey, KeySet } from '../../src/crypto/keys.js';
import { LifeboatError } from '../../src/errors.js';
import { tempDir } from '../support/tmp.js';

const KEY_A: EncryptionKey = { id: 'keyA', key: randomBytes(32) };
const KEY_B: EncryptionKey = { id: 'keyB', key: randomBytes(32) };

function keySet(active: EncryptionKey, ...others: EncryptionKey[]): KeySet {
  const all = [active, ...others];
  return { active, ids: all.map((k) => k.id), get: (id) => all.find((k) => k.id === id) };
}

async function rejectsWith(p: Promise<unknown>, code: string, pattern?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof LifeboatError, String(err));
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

/** Names in the folder other than the ones expected: any leftover temp file shows up here. */
function listing(dir: string): string[] {
  return readdirSync(dir).sort();
}

const encryptDecryptFile =
  'encrypt then decrypt a file: same bytes, private mode, progress up to the total, a result to report';
test(encryptDecryptFile, async () => {
  const dir = tempDir();
  const plain = randomBytes(3 * 1024 * 1024 + 11);
  writeFileSync(join(dir, 'db.sqlite'), plain);
  const seen: Array<[number, number]> = [];
  const enc = await encryptFile(join(dir, 'db.sqlite'), join(dir, 'db.enc'), KEY_A, {
    chunkSizeKiB: 64,
    onProgress: (d, t) => seen.push([d, t]),
  });
  assert.equal(enc.keyId, 'keyA');
  assert.equal(enc.inputBytes, plain.length);
  assert.equal(enc.outputBytes, statSync(join(dir, 'db.enc')).size);
  assert.equal(enc.outputBytes, 6 + 4 + 7 + plain.length + 16 * Math.ceil(plain.length / 65536));
  assert.equal(statSync(join(dir, 'db.enc')).mode & 0o777, 0o600);
  assert.ok(seen.length >= 3, 'progress during the work');
  assert.ok(
    seen.every(([d, t], i) => t === plain.length && d <= t && (i === 0 || d >= seen[i - 1]![0])),
    'monotonic, never past the total',
  );
  assert.deepEqual(seen.at(-1), [plain.length, plain.length]);
  const dec = await decryptFile(join(dir, 'db.enc'), join(dir, 'db.out'), keySet(KEY_B, KEY_A));
  assert.equal(dec.keyId, 'keyA', 'the key the header named, not the active one');
  assert.ok(readFileSync(join(dir, 'db.out')).equals(plain));
  assert.deepEqual(listing(dir), ['db.enc', 'db.out', 'db.sqlite']);
});

test('an existing output is refused without overwrite, replaced with it', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'in'), 'new contents');
  writeFileSync(join(dir, 'out'), 'old contents');
  await rejectsWith(encryptFile(join(dir, 'in'), join(dir, 'out'), KEY_A), 'OUTPUT_EXISTS', /already exists/);
  assert.equal(readFileSync(join(dir, 'out'), 'utf8'), 'old contents');
  await encryptFile(join(dir, 'in'), join(dir, 'out'), KEY_A, { overwrite: true });
  await decryptFile(join(dir, 'out'), join(dir, 'back'), keySet(KEY_A));
  assert.equal(readFileSync(join(dir, 'back'), 'utf8'), 'new contents');
  assert.deepEqual(listing(dir), ['back', 'in', 'out']);
});

test('a failed decrypt leaves no output and no temp file, and an existing output untouched', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'plain'), randomBytes(500_000));
  await encryptFile(join(dir, 'plain'), join(dir, 'good.enc'), KEY_A, { chunkSizeKiB: 16 });
  const good = readFileSync(join(dir, 'good.enc'));
  // Flip bits, not set a value: a byte set to 0x55 that already was 0x55 (1 in 256) is no tampering.
  const tampered = Buffer.from(good);
  tampered[tampered.length - 40]! ^= 0x55;
  const cases: Array<[string, Buffer, string]> = [
    ['tampered.enc', tampered, 'AUTH_FAILED'],
    ['truncated.enc', good.subarray(0, 17 + 16400 * 3), 'TRUNCATED'],
    ['trailing.enc', Buffer.concat([good, Buffer.from('\n')]), 'TRAILING_DATA'],
    ['header.enc', Buffer.concat([Buffer.from([2]), good.subarray(1)]), 'BAD_HEADER'],
  ];
  for (const [name, bytes, code] of cases) {
    writeFileSync(join(dir, name), bytes);
    await rejectsWith(decryptFile(join(dir, name), join(dir, 'new.out'), keySet(KEY_A)), code);
    assert.ok(!existsSync(join(dir, 'new.out')), `${name}: no output`);
    // With overwrite, a failure must still keep what was there.
    writeFileSync(join(dir, 'kept.out'), 'precious');
    await rejectsWith(decryptFile(join(dir, name), join(dir, 'kept.out'), keySet(KEY_A), { overwrite: true }), code);
    assert.equal(readFileSync(join(dir, 'kept.out'), 'utf8'), 'precious', `${name}: existing output untouched`);
  }
  await rejectsWith(
    decryptFile(join(dir, 'good.enc'), join(dir, 'new.out'), keySet(KEY_B)),
    'KEY_UNKNOWN',
    /"keyA".*configured ids: keyB/,
  );
  assert.deepEqual(
    listing(dir),
    ['good.enc', 'header.enc', 'kept.out', 'plain', 'tampered.enc', 'trailing.enc', 'truncated.enc'],
    'no temp files left',
  );
});

test('aborting removes the temp file; bad paths fail before anything is written', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'big'), randomBytes(8 * 1024 * 1024));
  const controller = new AbortController();
  const work = encryptFile(join(dir, 'big'), join(dir, 'big.enc'), KEY_A, {
    signal: controller.signal,
    onProgress: () => controller.abort(),
  });
  await rejectsWith(work, 'ABORTED', /interrupted; nothing was written/);
  assert.deepEqual(listing(dir), ['big']);
  await rejectsWith(encryptFile(join(dir, 'missing'), join(dir, 'x'), KEY_A), 'NOT_FOUND', /no file at/);
  await rejectsWith(encryptFile(dir, join(dir, 'x'), KEY_A), 'NOT_A_FILE');
  await rejectsWith(encryptFile(join(dir, 'big'), join(dir, 'big'), KEY_A, { overwrite: true }), 'SAME_FILE');
  await rejectsWith(encryptFile(join(dir, 'big'), join(dir, 'no-such-dir', 'x'), KEY_A), 'NOT_FOUND', /output folder/);
  await rejectsWith(encryptFile(join(dir, 'big'), dir, KEY_A, { overwrite: true }), 'OUTPUT_IS_DIRECTORY');
  await rejectsWith(encryptFile(join(dir, 'big'), join(dir, 'x'), KEY_A, { chunkSizeKiB: 0 }), 'BAD_CHUNK_SIZE');
  assert.deepEqual(listing(dir), ['big']);
});
