import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkSnapshot, copySnapshot } from '../../src/snapshot/snapshot.js';
import { bankTotals, createBank, START_BALANCE } from '../support/bank.js';
import { tempDir } from '../support/tmp.js';

const WRITER = fileURLToPath(new URL('../support/bank-writer.ts', import.meta.url));
const COMPARISON_COMMITS = 10_000;
const ACCOUNTS = 110_000; // 1000-byte pad each → a database over 100 MiB

/** Longest time without a commit inside [from, to]; with `edges`, the window ends count too. */
function maxGap(times: readonly number[], from: number, to: number, edges: boolean): { gap: number; count: number } {
  const inside = times.filter((t) => t >= from && t <= to);
  let gap = 0;
  let prev = edges ? from : (inside[0] ?? from);
  for (const t of inside) {
    gap = Math.max(gap, t - prev);
    prev = t;
  }
  return { gap: edges ? Math.max(gap, to - prev) : gap, count: inside.length };
}

test('a snapshot of a 100 MB database is consistent while another process commits throughout', async (t) => {
  const dir = tempDir();
  const db = join(dir, 'bank.db');
  createBank(db, ACCOUNTS);
  assert.ok(statSync(db).size >= 100 * 1024 * 1024, 'the database must be at least 100 MB');

  const writer = spawn(process.execPath, ['--import', 'tsx', WRITER, db, String(ACCOUNTS)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.after(() => writer.kill());
  const lines = createInterface({ input: writer.stdout });
  const iterator = lines[Symbol.asyncIterator]();
  assert.equal((await iterator.next()).value, 'ready', 'the writer commits before the snapshot starts');

  const target = join(dir, 'snapshot.sqlite');
  const snapFrom = performance.timeOrigin + performance.now();
  const result = await copySnapshot(db, target);
  const checked = await checkSnapshot(target, db, ['accounts']);
  const snapTo = performance.timeOrigin + performance.now();

  // As many commits again after the snapshot, with nothing else running: the baseline.
  writer.stdin.write(`stop ${COMPARISON_COMMITS}\n`);
  const report = JSON.parse((await iterator.next()).value as string) as { commits: number[] };
  await once(writer, 'exit');

  const during = maxGap(report.commits, snapFrom, snapTo, true);
  const before = maxGap(report.commits, snapTo, Infinity, false);
  t.diagnostic(
    `snapshot ${(result.bytes / 1048576).toFixed(1)} MiB ` +
      `(copy ${result.ms.toFixed(0)} ms, check ${checked.ms.toFixed(0)} ms); ` +
      `writer commits during snapshot: ${during.count}, longest writer stall during ` +
      `snapshot: ${during.gap.toFixed(1)} ms (after it, writer alone ` +
      `for ${before.count} commits: ${before.gap.toFixed(1)} ms)`,
  );

  assert.equal(result.journalMode, 'wal');
  assert.equal(result.method, 'file', `the file-speed copy was used (fallback: ${result.fallback})`);
  assert.ok(during.count > 0, 'the writer kept committing while the snapshot ran');
  assert.ok(during.gap < 1000, `the writer was never blocked for long (longest stall ${during.gap.toFixed(1)} ms)`);
  const totals = bankTotals(target);
  assert.equal(totals.accounts, ACCOUNTS);
  assert.equal(totals.total, ACCOUNTS * START_BALANCE, 'the snapshot saw whole transactions only');
  assert.equal((statSync(target).mode & 0o777).toString(8), '600');
  // The live database also still satisfies the invariant after all those commits.
  assert.equal(bankTotals(db).total, ACCOUNTS * START_BALANCE);
});

test('back-to-back snapshots stay consistent while the application checkpoints and grows the database', async (t) => {
  const dir = tempDir();
  const db = join(dir, 'bank.db');
  const accounts = 20_000;
  createBank(db, accounts);
  // A PASSIVE checkpoint every 25 commits and a new account every 5: checkpoints copy frames
  // into the file while it is read, and the newest pages exist only in the WAL.
  const writer = spawn(process.execPath, ['--import', 'tsx', WRITER, db, String(accounts), '25', '5'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.after(() => writer.kill());
  const lines = createInterface({ input: writer.stdout });
  const iterator = lines[Symbol.asyncIterator]();
  assert.equal((await iterator.next()).value, 'ready');
  const sizes: number[] = [];
  for (let i = 0; i < 8; i++) {
    const target = join(dir, `snapshot-${i}.sqlite`);
    const result = await copySnapshot(db, target);
    assert.equal(result.method, 'file', `snapshot ${i} used the file-speed copy (fallback: ${result.fallback})`);
    await checkSnapshot(target, db, ['accounts']);
    const totals = bankTotals(target);
    assert.ok(totals.accounts >= accounts);
    assert.equal(totals.total, accounts * START_BALANCE, `snapshot ${i} saw whole transactions only`);
    sizes.push(totals.accounts);
  }
  writer.stdin.write('stop 0\n');
  await iterator.next();
  await once(writer, 'exit');
  assert.ok(sizes.at(-1)! > sizes[0]!, `the database grew between the snapshots (${sizes.join(', ')} accounts)`);
});
