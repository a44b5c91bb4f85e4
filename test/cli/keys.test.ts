import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { generateKey } from '../../src/crypto/keys.js';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

test('lifeboat keys generate: one id/base64key line that loads as a valid key set; bad ids exit 2', async () => {
  const [named, random, bad] = await Promise.all([
    runCli(['keys', 'generate', '--id', 'ops-2026']),
    runCli(['keys', 'generate']),
    runCli(['keys', 'generate', '--id', 'no/slash']),
  ]);
  assert.equal(named.code, 0, named.stderr);
  assert.match(named.stdout, /^ops-2026\/[A-Za-z0-9+/]{43}=\n$/);
  assert.equal(random.code, 0, random.stderr);
  assert.match(random.stdout, /^[a-zA-Z0-9]{8}\/[A-Za-z0-9+/]{43}=\n$/);
  assert.notEqual(named.stdout.slice(9), random.stdout.slice(9));
  const c = loadConfig({
    cwd: tempDir(),
    env: { ENC_KEYS: `${named.stdout}${random.stdout}`, ENC_KEY_ACTIVE: 'ops-2026' },
  });
  assert.deepEqual(c.encryption?.ids, ['ops-2026', random.stdout.slice(0, 8)]);
  assert.equal(c.encryption?.active.key.length, 32);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /--id: the key id contains "\/"; it must be 2-20 characters/);
});

const lifeboatKeysList =
  'lifeboat keys list: ids and the active one from env or --config, never key material; none configured exits 2';
test(lifeboatKeysList, async () => {
  const cwd = tempDir();
  const old = generateKey('old');
  const cur = generateKey('current');
  writeFileSync(join(cwd, 'keys.toml'), `[encryption]\nkeys = ["${old}", "${cur}"]\nkey_active = "old"\n`);
  const [fromEnv, fromFile, none, invalid] = await Promise.all([
    runCli(['keys', 'list'], { cwd, env: { ENC_KEYS: `${old}\r\n${cur}\r\n`, ENC_KEY_ACTIVE: 'current' } }),
    runCli(['keys', 'list', '--config', 'keys.toml'], { cwd }),
    runCli(['keys', 'list'], { cwd }),
    runCli(['keys', 'list'], { cwd, env: { ENC_KEYS: `${old} ${cur}`, ENC_KEY_ACTIVE: 'old' } }),
  ]);
  assert.equal(fromEnv.code, 0, fromEnv.stderr);
  assert.equal(fromEnv.stdout, 'old\ncurrent  (active)\n');
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.equal(fromFile.stdout, 'old  (active)\ncurrent\n');
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no encryption keys are configured; set ENC_KEYS and ENC_KEY_ACTIVE/);
  assert.equal(invalid.code, 2);
  assert.match(
    invalid.stderr,
    /entry 1 \(id "old"\): the key contains whitespace; put every id\/base64key entry on its own line/,
  );
  for (const r of [fromEnv, fromFile, none, invalid]) {
    for (const m of [old.slice(4), cur.slice(8), old.slice(4, 20)])
      assert.ok(!(r.stdout + r.stderr).includes(m), 'key material printed');
  }
});
