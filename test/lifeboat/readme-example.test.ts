import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generateKey } from '../../src/crypto/keys.js';
import { fromCheckout, runTs, tsExamples } from '../support/doc-examples.js';
import { getTestS3, s3Env, type TestS3 } from '../support/s3.js';
import { tempDir } from '../support/tmp.js';

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

const README = fileURLToPath(new URL('../../README.md', import.meta.url));

/** The ```ts block under "Three ways to run it", as a reader copies it. */
function libraryExample(): string {
  const block = tsExamples(README).find((e) => e.heading === 'Three ways to run it')?.code;
  assert.ok(block, 'README.md has a ```ts block under "Three ways to run it"');
  assert.match(block, /from 'lifeboat'/);
  return fromCheckout(block);
}

const asWritten =
  "README's library example runs as written on a fresh data dir (start-up backup, backup(), restore('s3:latest'))," +
  ' three times in a row';
test(asWritten, async () => {
  const example = libraryExample();
  for (let i = 1; i <= 3; i++) {
    const config = await s3.place();
    const cwd = tempDir();
    const file = join(cwd, 'example.mts');
    writeFileSync(file, example);
    const res = await runTs(file, cwd, { ...s3Env(config), ENC_KEYS: generateKey('readme'), ENC_KEY_ACTIVE: 'readme' });
    assert.equal(res.code, 0, `run ${i}: ${res.stderr}`);
    // list() printed the start-up backup and the on-demand one, locally and in the bucket.
    const local = readdirSync(join(cwd, 'data', 'state_machine', 'backups')).filter((f) => f.startsWith('backup_'));
    assert.equal(local.length, 2, `run ${i}: ${local.join(', ')}`);
    for (const name of local) assert.ok(res.stdout.includes(name), `run ${i}: list() shows ${name}`);
  }
});
