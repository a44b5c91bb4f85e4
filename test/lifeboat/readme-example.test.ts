import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generateKey } from '../../src/crypto/keys.js';
import { getTestS3, s3Env, type TestS3 } from '../support/s3.js';
import { tempDir } from '../support/tmp.js';

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

const README = fileURLToPath(new URL('../../README.md', import.meta.url));
const INDEX = fileURLToPath(new URL('../../src/index.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

/** The ```ts block under "Three ways to run it", as a reader copies it. */
function libraryExample(): string {
  const readme = readFileSync(README, 'utf8');
  const section = readme.slice(readme.indexOf('## Three ways to run it'));
  const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, 'README.md has a ```ts block under "Three ways to run it"');
  assert.match(block, /from 'lifeboat'/);
  return block.replace(/from 'lifeboat'/, `from ${JSON.stringify(INDEX)}`);
}

function run(file: string, cwd: string, env: Record<string, string | undefined>) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, file], {
      cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
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
    const res = await run(file, cwd, { ...s3Env(config), ENC_KEYS: generateKey('readme'), ENC_KEY_ACTIVE: 'readme' });
    assert.equal(res.code, 0, `run ${i}: ${res.stderr}`);
    // list() printed the start-up backup and the on-demand one, locally and in the bucket.
    const local = readdirSync(join(cwd, 'data', 'state_machine', 'backups')).filter((f) => f.startsWith('backup_'));
    assert.equal(local.length, 2, `run ${i}: ${local.join(', ')}`);
    for (const name of local) assert.ok(res.stdout.includes(name), `run ${i}: list() shows ${name}`);
  }
});
