import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createBank } from '../support/bank.js';
import { tempDir } from '../support/tmp.js';

/**
 * A copy whose parent is killed (a sidecar's kill -9 while continuous backup copies a base): the
 * copy process stops at once, quietly — its read transaction would otherwise keep the
 * application's WAL from restarting until the copy ended, and each progress message it sent to
 * the dead parent failed with EPIPE and crashed it with an unhandled error on stderr.
 */

const PARENT = fileURLToPath(new URL('../support/copy-parent.ts', import.meta.url));

test('the copy process stops quietly when its parent is killed mid-copy', async () => {
  const dir = tempDir();
  const db = join(dir, 'big.db');
  createBank(db, 150_000); // ~150 MB: the copy reports progress several times
  const parent = spawn(process.execPath, ['--import', 'tsx', PARENT, db, join(dir, 'copy.db')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  parent.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  // The copy process inherits the parent's stderr: it ends only when that process has exited too.
  const stderrEnded = once(parent.stderr, 'end');
  const lines = createInterface({ input: parent.stdout });
  const [first] = (await once(lines, 'line')) as [string];
  assert.equal(first, 'copying');
  parent.kill('SIGKILL');
  await stderrEnded;
  assert.doesNotMatch(stderr, /Error|EPIPE/, 'nothing crashed in the orphaned copy process');
});
