import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TEMP_PREFIX } from '../../src/fs/durable.js';
import { silentLogger } from '../../src/log.js';
import { holdDatabase, swapForward } from '../../src/restore/swap.js';
import Database from '../../src/sqlite/driver.js';
import { createItemsDb, itemNames } from '../support/db.js';
import { tempDir } from '../support/tmp.js';

const EARLY_OPENER = fileURLToPath(new URL('../support/early-opener.ts', import.meta.url));

/** The application switching the database back to WAL and committing, as one that opens it per transaction does. */
function switchBackToWal(dbFile: string, row: string): void {
  const app = new Database(dbFile);
  app.pragma('journal_mode = WAL');
  app.prepare('INSERT INTO items (name) VALUES (?)').run(row);
  app.close();
}

for (const when of ['before settling', 'between settling and the lock'] as const) {
  test(
    `a connection opened on the old database during the hold cannot commit into the new one's WAL ` +
      `(application switched to WAL ${when})`,
    async () => {
      const dir = tempDir();
      const dbFile = join(dir, 'app.db');
      createItemsDb(dbFile, 3);
      if (when === 'before settling') switchBackToWal(dbFile, 'switched');
      const held = await holdDatabase(dbFile, silentLogger(), {
        beforeLock: () => {
          if (when === 'between settling and the lock' && !itemNames(dbFile).includes('switched')) {
            switchBackToWal(dbFile, 'switched');
          }
        },
      });

      // The application opens the database (still the old file) and then waits for the hold.
      const app = spawn(process.execPath, ['--import', 'tsx', EARLY_OPENER, dbFile, 'late'], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      const lines = createInterface({ input: app.stdout })[Symbol.asyncIterator]();
      assert.equal((await lines.next()).value, 'opened');

      const temp = join(dir, `${TEMP_PREFIX}app.db.test`);
      createItemsDb(temp, 2);
      new Database(temp).pragma('journal_mode = DELETE');
      const aside = `${dbFile}.before-restore-test`;
      const marker = { source: 'test', origin: 'test', sha256: '', appliedAt: '', movedAside: [aside] };
      try {
        await swapForward(dbFile, { temp, aside, marker, live: held.live }, undefined);
      } finally {
        app.stdin.write('go\n');
        held.release();
      }
      const outcome = (await lines.next()).value as string;
      await once(app, 'exit').catch(() => undefined);

      // SQLite refuses the old file's connection a journal once the file has moved; in WAL mode
      // nothing would stop it, and its commit would go to app.db-wal: the new database's.
      assert.equal(outcome, 'refused SQLITE_READONLY_DBMOVED');
      assert.deepEqual(itemNames(dbFile), ['item-0', 'item-1'], 'the new database is the restored one, nothing else');
      assert.deepEqual(itemNames(aside), ['item-0', 'item-1', 'item-2', 'switched'], 'the old one is kept whole');
      const wal = `${dbFile}-wal`;
      assert.ok(!existsSync(wal) || statSync(wal).size === 0, 'no WAL of the old database beside the new one');
    },
  );
}

test('an application switching back to WAL before every lock gets DB_IN_USE; its database is unchanged', async () => {
  const dir = tempDir();
  const dbFile = join(dir, 'app.db');
  createItemsDb(dbFile, 3);
  let switches = 0;
  await assert.rejects(
    holdDatabase(dbFile, silentLogger(), { beforeLock: () => switchBackToWal(dbFile, `switched-${++switches}`) }),
    (err: Error & { code?: string }) =>
      err.code === 'DB_IN_USE' && /switched back to WAL mode while being settled/.test(err.message),
  );
  assert.equal(switches, 3);
  assert.deepEqual(itemNames(dbFile), ['item-0', 'item-1', 'item-2', 'switched-1', 'switched-2', 'switched-3']);
});
