import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { countItems, createItemsDb } from '../support/db.js';
import { tempDir } from '../support/tmp.js';

const ENTRY = fileURLToPath(new URL('../../src/cli/entry.ts', import.meta.url));

test('serve as a sidecar: first backup at once, logs where things are, stops cleanly on SIGTERM', async () => {
  const cwd = tempDir();
  const db = join(cwd, 'app.db');
  createItemsDb(db, 400);
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), ENTRY, 'serve', '--db', db], {
    cwd,
    env: { PATH: process.env.PATH, HQL_DATA_DIR: join(cwd, 'data'), LIFEBOAT_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const messages: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for await (const line of createInterface({ input: child.stderr })) {
    const rec = JSON.parse(line) as Record<string, unknown>;
    messages.push(rec);
    if (rec.msg === 'backup finished') child.kill('SIGTERM');
  }
  assert.equal(await exited, 0);
  const started = messages.find((m) => String(m.msg).startsWith('Lifeboat started'));
  assert.ok(started, 'a start-up line');
  assert.equal(started.database, db);
  assert.equal(started.backups, join(cwd, 'data', 'state_machine', 'backups'));
  assert.match(String(started.nextBackup), /^\d{4}-\d\d-\d\dT02:30:00\.000Z$|^\d{4}-\d\d-\d\dT\d\d:30:00\.000Z$/);
  assert.ok(messages.some((m) => m.msg === 'Lifeboat stopped'));
  const backups = readdirSync(join(cwd, 'data', 'state_machine', 'backups')).filter((f) => !f.startsWith('.'));
  assert.equal(backups.length, 1);
  assert.equal(countItems(join(cwd, 'data', 'state_machine', 'backups', backups[0]!)), 400);
});
