import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateKey } from '../../src/crypto/keys.js';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const SECRET = 'sekret-value-never-shown-123';

const configPrintsEffective =
  'config prints the effective values with origins and *** for secrets; invalid config exits 2 with every problem';
test(configPrintsEffective, async () => {
  const cwd = tempDir();
  const key = generateKey('k1');
  const env = {
    HQL_S3_URL: 'http://127.0.0.1:1',
    HQL_S3_BUCKET: 'b',
    HQL_S3_REGION: 'r',
    HQL_S3_KEY: 'AKIAEXAMPLE',
    HQL_S3_SECRET: SECRET,
    ENC_KEYS: key,
    ENC_KEY_ACTIVE: 'k1',
  };
  const ok = await runCli(['config'], { cwd, env });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /cluster\.backup_cron\s+= "0 30 2 \* \* \* \*"\s+# default, HQL_BACKUP_CRON/);
  assert.match(ok.stdout, /cluster\.s3_secret\s+= "\*\*\*"\s+# env/);
  assert.match(ok.stdout, /encryption\.keys\s+= \["k1\/\*\*\*"\]/);
  const json = await runCli(['config', '--json'], { cwd, env });
  assert.ok(JSON.parse(json.stdout).entries.length > 5);
  const bad = await runCli(['config'], {
    cwd,
    env: { ...env, HQL_BACKUP_KEEP_DAYS: 'thirty', HQL_NODE_ID: '-1', HQL_S3_SECRET: SECRET },
  });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /HQL_BACKUP_KEEP_DAYS/);
  assert.match(bad.stderr, /HQL_NODE_ID/);
  for (const r of [ok, json, bad]) {
    assert.ok(!(r.stdout + r.stderr).includes(SECRET), 'the S3 secret was printed');
    assert.ok(!(r.stdout + r.stderr).includes(key.slice(3)), 'key material was printed');
  }
  const help = await runCli(['config', '--help'], { env });
  assert.ok(!help.stdout.includes(SECRET));
});

test('keys generate prints a usable line; keys list shows ids only', async () => {
  const gen = await runCli(['keys', 'generate', '--id', 'ops-2026']);
  assert.equal(gen.code, 0);
  const line = gen.stdout.trim();
  assert.match(line, /^ops-2026\/[A-Za-z0-9+/]{43}=$/);
  const list = await runCli(['keys', 'list'], {
    env: { ENC_KEYS: `${generateKey('old')}\n${line}`, ENC_KEY_ACTIVE: 'ops-2026' },
  });
  assert.equal(list.code, 0, list.stderr);
  assert.equal(list.stdout, 'old\nops-2026  (active)\n');
  const json = await runCli(['keys', 'list', '--json'], {
    env: { ENC_KEYS: `${generateKey('old')}\n${line}`, ENC_KEY_ACTIVE: 'ops-2026' },
  });
  assert.deepEqual(JSON.parse(json.stdout), { ids: ['old', 'ops-2026'], active: 'ops-2026' });
  assert.equal((await runCli(['keys', 'generate', '--id', 'x'])).code, 2);
  assert.equal((await runCli(['keys', 'list'])).code, 2);
});

test('encrypt and decrypt files; rotation; failures leave no output and no temp file', async () => {
  const dir = tempDir();
  const a = generateKey('a1');
  const b = generateKey('b2');
  const plain = randomBytes(300_000);
  writeFileSync(join(dir, 'plain.bin'), plain);
  const envA = { ENC_KEYS: a, ENC_KEY_ACTIVE: 'a1' };
  const enc = await runCli(['encrypt', 'plain.bin', 'plain.bin.enc', '--chunk-kib', '64'], { cwd: dir, env: envA });
  assert.equal(enc.code, 0, enc.stderr);
  assert.match(enc.stdout, /encrypted .* key id a1/);
  // Rotated: b2 is active, a1 is still in the set.
  const rotated = { ENC_KEYS: `${a}\n${b}`, ENC_KEY_ACTIVE: 'b2' };
  const dec = await runCli(['decrypt', 'plain.bin.enc', 'out.bin'], { cwd: dir, env: rotated });
  assert.equal(dec.code, 0, dec.stderr);
  assert.match(dec.stdout, /decrypted .* key id a1\n/, 'names the key the header chose');
  assert.ok(readFileSync(join(dir, 'out.bin')).equals(plain));
  // Existing output is kept unless --force.
  const again = await runCli(['decrypt', 'plain.bin.enc', 'out.bin'], { cwd: dir, env: rotated });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists.*--force/s);
  // a1 retired from the set: clear error, nothing written.
  const unknown = await runCli(['decrypt', 'plain.bin.enc', 'x.bin'], {
    cwd: dir,
    env: { ENC_KEYS: b, ENC_KEY_ACTIVE: 'b2' },
  });
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /key id "a1".*not in the key set/);
  // Tampered: authentication fails, no output, no temp file.
  const tampered = readFileSync(join(dir, 'plain.bin.enc'));
  tampered[tampered.length - 100]! ^= 1;
  writeFileSync(join(dir, 'tampered.enc'), tampered);
  const bad = await runCli(['decrypt', 'tampered.enc', 'y.bin'], { cwd: dir, env: rotated });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /authentication failed at chunk 4/);
  assert.ok(!existsSync(join(dir, 'y.bin')) && !existsSync(join(dir, 'x.bin')));
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.startsWith('.')),
    [],
    'no temp files left',
  );
  for (const r of [enc, dec, again, unknown, bad])
    assert.ok(
      !(r.stdout + r.stderr).includes(a.slice(3)) && !(r.stdout + r.stderr).includes(b.slice(3)),
      'key material printed',
    );
  // No keys configured: a configuration error.
  const none = await runCli(['encrypt', 'plain.bin', 'z.enc'], { cwd: dir });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /ENC_KEYS/);
});
