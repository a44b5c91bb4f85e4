import assert from 'node:assert/strict';
import Database from '../../src/sqlite/driver.js';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createItemsDb } from '../support/db.js';
import { tempDir } from '../support/tmp.js';

const CHILD = fileURLToPath(new URL('../support/restore-child.ts', import.meta.url));
const STEPS = ['after-materialise', 'after-intent', 'after-keep-old', 'after-rename', 'after-marker'];

/** 'old', 'new', or a description of anything else (missing, mixed, corrupt). */
function stateOf(dbFile: string): string {
  if (!existsSync(dbFile)) return 'missing';
  try {
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      const ok = db.pragma('integrity_check', { simple: true });
      const names = (db.prepare('SELECT name FROM items ORDER BY id').pluck().all() as string[]).join(',');
      if (ok !== 'ok') return `corrupt: ${ok}`;
      if (names === 'old-0,old-1,old-2,old-3,old-wal') return 'old';
      if (names === 'new-0,new-1') return 'new';
      return `mixed: ${names}`;
    } finally {
      db.close();
    }
  } catch (err) {
    return `unreadable: ${(err as Error).message}`;
  }
}

function makeDb(path: string, names: string[], keepWal: boolean): void {
  createItemsDb(path, 0);
  const db = new Database(path);
  db.pragma('wal_autocheckpoint = 0');
  const insert = db.prepare('INSERT INTO items (name) VALUES (?)');
  for (const n of names) insert.run(n);
  if (!keepWal) db.pragma('journal_mode = DELETE');
  // Leave the WAL behind like a crashed application would: copy the files while open.
  if (keepWal) {
    const { copyFileSync } = require_fs();
    copyFileSync(path, `${path}.copy`);
    copyFileSync(`${path}-wal`, `${path}-wal.copy`);
  }
  db.close();
  if (keepWal) {
    const { renameSync } = require_fs();
    renameSync(`${path}.copy`, path);
    renameSync(`${path}-wal.copy`, `${path}-wal`);
  }
}
import * as fs from 'node:fs';
const require_fs = () => fs;

for (const step of STEPS) {
  test(`killed ${step}: the database is the complete old one or the complete new one, and a restart completes it`, () => {
    const dir = tempDir();
    const dbDir = join(dir, 'db');
    mkdirSync(dbDir);
    const dbFile = join(dbDir, 'hiqlite.db');
    makeDb(dbFile, ['old-0', 'old-1', 'old-2', 'old-3'], false);
    const live = new Database(dbFile);
    live.pragma('journal_mode = WAL');
    live.close();
    makeDb(join(dir, 'x.db'), [], false); // warm-up of the helper; unrelated file
    {
      // Add one row that lives only in the WAL.
      const db = new Database(dbFile);
      db.pragma('wal_autocheckpoint = 0');
      db.prepare('INSERT INTO items (name) VALUES (?)').run('old-wal');
      fs.copyFileSync(dbFile, `${dbFile}.c`);
      fs.copyFileSync(`${dbFile}-wal`, `${dbFile}-wal.c`);
      db.close();
      fs.renameSync(`${dbFile}.c`, dbFile);
      fs.renameSync(`${dbFile}-wal.c`, `${dbFile}-wal`);
    }
    assert.equal(stateOf(dbFile), 'old');
    const backup = join(dir, 'backup.sqlite');
    makeDb(backup, ['new-0', 'new-1'], false);

    const crashed = spawnSync(process.execPath, ['--import', 'tsx', CHILD, dbFile, `file:${backup}`], { env: { ...process.env, LIFEBOAT_TEST_CRASH_AT: step }, encoding: 'utf8' });
    assert.equal(crashed.signal, 'SIGKILL', `the child did not reach ${step}: ${crashed.stderr}`);
    const afterCrash = stateOf(dbFile);
    assert.ok(afterCrash === 'old' || afterCrash === 'new', `after a crash ${step}: ${afterCrash}`);

    const restarted = spawnSync(process.execPath, ['--import', 'tsx', CHILD, dbFile, `file:${backup}`], { env: { ...process.env, LIFEBOAT_TEST_CRASH_AT: '' }, encoding: 'utf8' });
    assert.equal(restarted.status, 0, restarted.stderr);
    assert.equal(stateOf(dbFile), 'new', 'a restart completes the restore');
    const aside = readdirSync(dbDir).filter((f) => f.includes('before-restore') && !f.endsWith('-wal') && !f.endsWith('-shm'));
    assert.equal(aside.length, 1, `the old database is kept aside: ${readdirSync(dbDir).join(', ')}`);
    assert.equal(stateOf(join(dbDir, aside[0]!)), 'old', 'the kept old database is complete, WAL included');
    assert.deepEqual(readdirSync(dbDir).filter((f) => f.includes('intent') || f.startsWith('.lifeboat-tmp')), []);
  });
}
