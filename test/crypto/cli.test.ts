import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { test } from 'node:test';
import type { EncryptionKey, KeySet } from '../../src/crypto/keys.js';
import { createDecryptStream, createEncryptStream } from '../../src/crypto/stream.js';
import { type CliResult, runCli } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const A: EncryptionKey = { id: 'a1', key: randomBytes(32) };
const B: EncryptionKey = { id: 'b2', key: randomBytes(32) };
const line = (k: EncryptionKey) => `${k.id}/${k.key.toString('base64')}`;
const ONLY_A = { ENC_KEYS: line(A), ENC_KEY_ACTIVE: 'a1' };
const ROTATED = { ENC_KEYS: `${line(A)}\n${line(B)}\n`, ENC_KEY_ACTIVE: 'b2' };
const ONLY_B = { ENC_KEYS: line(B), ENC_KEY_ACTIVE: 'b2' };

function keySet(active: EncryptionKey, ...others: EncryptionKey[]): KeySet {
  const all = [active, ...others];
  return { active, ids: all.map((k) => k.id), get: (id) => all.find((k) => k.id === id) };
}

/** No form of any key may ever reach a terminal or a log. */
function assertNoKeyMaterial(results: readonly CliResult[], extra: readonly string[] = []): void {
  const secrets = [A, B]
    .flatMap((k) => [
      k.key.toString('base64'),
      k.key.toString('base64').slice(0, 16),
      k.key.toString('hex').slice(0, 16),
    ])
    .concat(extra);
  for (const r of results) {
    for (const s of secrets)
      assert.ok(!(r.stdout + r.stderr).includes(s), `key material in output: ${r.stdout}${r.stderr}`);
  }
}

const encryptDecryptCli =
  'encrypt and decrypt with the CLI: summary line, rotation, --force, files written only when complete';
test(encryptDecryptCli, async () => {
  const dir = tempDir();
  const plain = randomBytes(400_000);
  writeFileSync(join(dir, 'plain.bin'), plain);
  const enc = await runCli(['encrypt', 'plain.bin', 'plain.enc', '--chunk-kib', '64'], { cwd: dir, env: ONLY_A });
  assert.equal(enc.code, 0, enc.stderr);
  assert.match(
    enc.stdout,
    new RegExp(
      /^encrypted plain\.bin \(390\.6 KiB\) /.source +
        /-> plain\.enc \(390\.[67] KiB\) in \d+( ms|\.\d s), [\d.]+ MB\/s, key id a1\n$/.source,
    ),
  );
  // Not a terminal: no progress line, but progress records in the JSON log at 10% steps (the
  // file is read in 1 MiB pieces, so this small one jumps straight to 100%).
  assert.ok(!enc.stderr.includes('\r'), 'no progress line when stderr is not a terminal');
  const steps = enc.stderr
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { stage: string; percent: number; total: number });
  assert.deepEqual(
    steps.map((r) => [r.stage, r.percent, r.total]),
    [['encrypting plain.bin', 100, plain.length]],
  );
  const encrypted = readFileSync(join(dir, 'plain.enc'));
  assert.equal(encrypted.readUInt16BE(4), 64, 'the chunk size asked for');
  assert.ok(
    (await buffer(Readable.from([encrypted]).pipe(createDecryptStream(keySet(A))))).equals(plain),
    'the library reads what the CLI wrote',
  );

  // B is active now; the header still names a1, which is in the set.
  const dec = await runCli(['decrypt', 'plain.enc', 'out.bin'], { cwd: dir, env: ROTATED });
  assert.equal(dec.code, 0, dec.stderr);
  assert.match(dec.stdout, /^decrypted plain\.enc .* key id a1\n$/);
  assert.ok(readFileSync(join(dir, 'out.bin')).equals(plain));

  // And the CLI reads what the library wrote with the default chunk size.
  writeFileSync(join(dir, 'lib.enc'), await buffer(Readable.from([plain]).pipe(createEncryptStream(B))));
  const [again, forced, fromLib] = await Promise.all([
    runCli(['decrypt', 'plain.enc', 'out.bin'], { cwd: dir, env: ROTATED }),
    runCli(['encrypt', 'plain.bin', 'plain.enc', '--force'], { cwd: dir, env: ROTATED }),
    runCli(['decrypt', 'lib.enc', 'lib.out'], { cwd: dir, env: ROTATED }),
  ]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /out\.bin already exists; nothing was written\n {2}hint: .*--force/);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, /key id b2\n$/, 'encrypts with the active key');
  assert.equal(readFileSync(join(dir, 'plain.enc')).subarray(6, 8).toString(), 'b2');
  assert.equal(fromLib.code, 0, fromLib.stderr);
  assert.ok(readFileSync(join(dir, 'lib.out')).equals(plain));
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.startsWith('.')),
    [],
    'no temp files',
  );
  assertNoKeyMaterial([enc, dec, again, forced, fromLib]);
});

test('CLI failures: clear message, exit code, no output and no temp file, never a key', async () => {
  const dir = tempDir();
  const plain = randomBytes(100_000);
  writeFileSync(join(dir, 'plain.bin'), plain);
  // header: 6 + 2 + 7 = 15 bytes
  const good = await buffer(Readable.from([plain]).pipe(createEncryptStream(A, { chunkSizeKiB: 16 })));
  const tampered = Buffer.from(good);
  tampered[15 + 16400 + 5]! ^= 1;
  writeFileSync(join(dir, 'tampered.enc'), tampered);
  writeFileSync(join(dir, 'truncated.enc'), good.subarray(0, 15 + 2 * 16400));
  writeFileSync(join(dir, 'good.enc'), good);
  const badKey = `a1/${randomBytes(31).toString('base64')}`;
  const [unknown, bad, cut, none, chunk, malformed, usage] = await Promise.all([
    runCli(['decrypt', 'good.enc', 'o1'], { cwd: dir, env: ONLY_B }),
    runCli(['decrypt', 'tampered.enc', 'o2'], { cwd: dir, env: ROTATED }),
    runCli(['decrypt', 'truncated.enc', 'o3'], { cwd: dir, env: ONLY_A }),
    runCli(['encrypt', 'plain.bin', 'o4'], { cwd: dir }),
    runCli(['encrypt', 'plain.bin', 'o5', '--chunk-kib', '2000'], { cwd: dir, env: ONLY_A }),
    runCli(['encrypt', 'plain.bin', 'o6'], { cwd: dir, env: { ENC_KEYS: badKey, ENC_KEY_ACTIVE: 'a1' } }),
    runCli(['decrypt', 'good.enc'], { cwd: dir, env: ONLY_A }),
  ]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /key id "a1", which is not in the key set \(configured ids: b2\)/);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /authentication failed at chunk 1/);
  assert.equal(cut.code, 1);
  assert.match(cut.stderr, /ends after chunk 1, which is not the final chunk/);
  assert.equal(none.code, 2, 'no keys configured is a configuration error');
  assert.match(none.stderr, /ENC_KEYS.*ENC_KEY_ACTIVE/);
  assert.equal(chunk.code, 2);
  assert.match(chunk.stderr, /--chunk-kib: "2000" must be a whole number from 1 to 1024/);
  assert.equal(malformed.code, 2);
  assert.equal(usage.code, 2);
  for (const o of ['o1', 'o2', 'o3', 'o4', 'o5', 'o6']) assert.ok(!existsSync(join(dir, o)), `${o} must not exist`);
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.startsWith('.')),
    [],
    'no temp files',
  );
  assertNoKeyMaterial([unknown, bad, cut, none, chunk, malformed, usage], [badKey.slice(3), badKey.slice(3, 19)]);
});

test('keys from a config file (--config) work like the environment', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'plain.bin'), 'hello from a config file');
  writeFileSync(join(dir, 'lifeboat.toml'), `[encryption]\nkeys = ["${line(A)}", "${line(B)}"]\nkey_active = "b2"\n`);
  const enc = await runCli(['encrypt', 'plain.bin', 'x.enc', '--config', 'lifeboat.toml'], { cwd: dir });
  assert.equal(enc.code, 0, enc.stderr);
  assert.match(enc.stdout, /key id b2\n$/);
  const dec = await runCli(['decrypt', 'x.enc', 'x.out', '--config', 'lifeboat.toml'], { cwd: dir });
  assert.equal(dec.code, 0, dec.stderr);
  assert.equal(readFileSync(join(dir, 'x.out'), 'utf8'), 'hello from a config file');
  assertNoKeyMaterial([enc, dec]);
});
