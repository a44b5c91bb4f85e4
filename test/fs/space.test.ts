import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LifeboatError } from '../../src/errors.js';
import { ensureFreeSpace, formatSize, freeSpace, isDiskFull, spaceNeededFor } from '../../src/fs/space.js';
import { SqliteWorkerError } from '../../src/sqlite/client.js';
import { mountTmpfs } from '../support/tmpfs.js';

const MiB = 1024 * 1024;

test('what a write needs: the bytes + 10% + 64 MiB', () => {
  assert.equal(spaceNeededFor(0), 64 * MiB);
  assert.equal(spaceNeededFor(100 * MiB), 110 * MiB + 64 * MiB);
  assert.equal(spaceNeededFor(1), 64 * MiB + 2, 'rounded up');
  assert.equal(formatSize(64 * MiB), '64.0 MiB');
  assert.equal(formatSize(1536), '1.50 KiB');
});

test('a full disk is recognised from errno and from SQLite', () => {
  assert.ok(isDiskFull(Object.assign(new Error('x'), { code: 'ENOSPC' })));
  assert.ok(isDiskFull(Object.assign(new Error('x'), { code: 'EDQUOT' })));
  assert.ok(isDiskFull(new SqliteWorkerError('SQLITE_FULL', 'database or disk is full')));
  assert.ok(!isDiskFull(new SqliteWorkerError('SQLITE_IOERR', 'disk I/O error')));
  assert.ok(!isDiskFull(Object.assign(new Error('x'), { code: 'EACCES' })));
  assert.ok(!isDiskFull(new LifeboatError('EXISTS', 'x')));
  assert.ok(!isDiskFull(undefined));
});

test('ensureFreeSpace measures the folder’s own file system and refuses with NO_SPACE', async (t) => {
  const fs = mountTmpfs(80);
  if ('skip' in fs) return t.skip(fs.skip);
  try {
    const free = await freeSpace(fs.dir);
    assert.ok(free > 79 * MiB && free <= 80 * MiB, `free ${free}`);
    assert.deepEqual(await ensureFreeSpace(fs.dir, 10 * MiB, 'a test'), { needed: 75 * MiB, free });
    writeFileSync(join(fs.dir, 'ballast'), Buffer.alloc(10 * MiB));
    await assert.rejects(ensureFreeSpace(fs.dir, 10 * MiB, 'a snapshot of /x/app.db'), (err: unknown) => {
      assert.ok(err instanceof LifeboatError);
      assert.equal(err.code, 'NO_SPACE');
      assert.equal(
        err.message,
        `not enough free space in ${fs.dir} for a snapshot of /x/app.db: 75.0 MiB needed ` +
          '(10.0 MiB + 10% + 64 MiB), 70.0 MiB free; nothing was written',
      );
      return true;
    });
  } finally {
    fs.unmount();
  }
});
