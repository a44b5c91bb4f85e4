import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LifeboatError } from '../../src/errors.js';
import { acquireLock, lockOwner } from '../../src/fs/lock.js';
import { UNSHARE, unshareUnavailable } from '../support/namespaces.js';
import { tempDir } from '../support/tmp.js';

// Locks with real processes: holders are children that are SIGKILLed, some of them pid 1 of
// their own PID namespace, as in a container (issue #14).

const HOLDER = fileURLToPath(new URL('../support/lock-holder.ts', import.meta.url));
const noUnshare = unshareUnavailable();

/** Why a read-only mount cannot be made here (it takes root and a mount namespace), or undefined. */
function readOnlyMountUnavailable(): string | undefined {
  const dir = tempDir();
  const probe = spawnSync('unshare', ['--mount', 'sh', '-c', 'mount -t tmpfs -o ro tmpfs "$1"', 'sh', dir], {
    encoding: 'utf8',
  });
  if (probe.error) return `unshare is not available: ${probe.error.message}`;
  if (probe.status !== 0) return `cannot mount a read-only file system here: ${probe.stderr.trim()}`;
  return undefined;
}
const noReadOnlyMount = readOnlyMountUnavailable();

interface Holder {
  /** The first line the child printed: `locked <pid>` or `failed <code> <message>`. */
  readonly line: string;
  /** SIGKILL the process that holds the lock; resolves once it is gone. */
  kill(): Promise<void>;
}

/** Starts a lock holder, in a fresh PID namespace when `namespaced`, and waits for its report. */
async function startHolder(path: string, purpose: string, namespaced: boolean): Promise<Holder> {
  const command = [...(namespaced ? UNSHARE : []), process.execPath, '--import', 'tsx', HOLDER, path, purpose];
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout });
  const line = await Promise.race([
    once(lines, 'line').then(([text]) => text as string),
    exited.then(([code, signal]) => {
      throw new Error(`the lock holder exited (${code ?? signal}) without a report: ${stderr}`);
    }),
  ]);
  return {
    line,
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(namespaced ? namespaceInit(child) : child.pid!, 'SIGKILL');
      // unshare waits for its child: once unshare exits, the holder is gone and its locks with it.
      await exited;
    },
  };
}

/** The host pid of the process unshare forked (pid 1 in its namespace). */
function namespaceInit(unshare: ChildProcess): number {
  const pid = unshare.pid!;
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/);
  assert.equal(children.length, 1, `unshare ${pid} has one child: ${children.join(' ')}`);
  return Number(children[0]);
}

const isLocked = (pattern: RegExp) => (err: unknown) =>
  err instanceof LifeboatError && err.code === 'LOCKED' && pattern.test(err.message);

test('container restart: a SIGKILLed pid 1 leaves no lock behind for the next pid 1', {
  skip: noUnshare,
  timeout: 60_000,
}, async () => {
  const path = join(tempDir(), 'hiqlite.db.lifeboat.lock');
  const crashed = await startHolder(path, 'serve', true);
  assert.equal(crashed.line, 'locked 1', 'the first holder is pid 1 of its namespace');
  await crashed.kill();

  const restarted = await startHolder(path, 'serve', true);
  try {
    assert.equal(restarted.line, 'locked 1', 'the restarted pid 1 takes the lock');
  } finally {
    await restarted.kill();
  }
});

test('a live holder in another PID namespace is respected', { skip: noUnshare, timeout: 60_000 }, async () => {
  const path = join(tempDir(), 'hiqlite.db.lifeboat.lock');
  const holder = await startHolder(path, 'embedded database', true);
  try {
    assert.equal(holder.line, 'locked 1');
    await assert.rejects(acquireLock(path, 'restore'), isLocked(/ held by process 1 on .*\(embedded database, since /));
    const owner = await lockOwner(path);
    assert.equal(owner?.pid, 1);
    assert.equal(owner?.purpose, 'embedded database');
  } finally {
    await holder.kill();
  }
  assert.equal(await lockOwner(path), undefined, 'free once the holder is gone');
});

test('SIGKILL of a plain holder frees the lock at once', { timeout: 60_000 }, async () => {
  const path = join(tempDir(), 'backup.lock');
  const holder = await startHolder(path, 'backup', false);
  assert.match(holder.line, /^locked \d+$/);
  const pid = Number(holder.line.split(' ')[1]);
  assert.equal((await lockOwner(path))?.pid, pid);
  await assert.rejects(acquireLock(path, 'second'), isLocked(new RegExp(`process ${pid} on .*\\(backup, since `)));

  await holder.kill();
  const lock = await acquireLock(path, 'after the crash');
  assert.equal((await lockOwner(path))?.purpose, 'after the crash');
  await lock.release();
});

test('in one process: a second acquire is LOCKED; release is idempotent and frees it', async () => {
  const dir = tempDir();
  const path = join(dir, 'db.lock');
  const first = await acquireLock(path, 'first');
  const owner = await lockOwner(path);
  assert.equal(owner?.pid, process.pid);
  assert.equal(owner?.host, hostname());
  assert.equal(owner?.purpose, 'first');
  await assert.rejects(
    acquireLock(path, 'second'),
    isLocked(new RegExp(`^${path} is held by process ${process.pid} on .*\\(first, since `)),
  );
  assert.equal((await lockOwner(path))?.purpose, 'first', 'the failed attempt did not drop the lock');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(`${path}.owner.json`).mode & 0o777, 0o600);

  await first.release();
  await first.release();
  assert.equal(await lockOwner(path), undefined);
  assert.ok(existsSync(path), 'the lock file stays: only the lock goes');
  assert.ok(!existsSync(`${path}.owner.json`), 'no stale owner details after a release');

  const second = await acquireLock(path, 'second');
  assert.equal((await lockOwner(path))?.purpose, 'second');
  await second.release();
});

test('lockOwner of a lock that was never taken is undefined and creates nothing', async () => {
  const path = join(tempDir(), 'never.lock');
  assert.equal(await lockOwner(path), undefined);
  assert.ok(!existsSync(path));
});

test('a folder that does not exist or is not a folder: a clear error naming the path', async () => {
  const dir = tempDir();
  const missing = join(dir, 'no-such-folder', 'db.lock');
  await assert.rejects(acquireLock(missing, 'test'), (err: unknown) => {
    assert.ok(err instanceof LifeboatError, String(err));
    assert.equal(err.code, 'LOCK_FAILED');
    assert.ok(err.message.includes(missing), err.message);
    assert.match(err.hint ?? '', /folder/);
    return true;
  });
  const file = join(dir, 'a-file');
  writeFileSync(file, 'not a folder');
  const underFile = join(file, 'db.lock');
  await assert.rejects(acquireLock(underFile, 'test'), (err: unknown) => {
    assert.ok(err instanceof LifeboatError, String(err));
    assert.equal(err.code, 'LOCK_FAILED');
    assert.ok(err.message.includes(underFile), err.message);
    return true;
  });
});

test('a read-only mount: a clear error, never a lock that locks nothing', { skip: noReadOnlyMount }, () => {
  // SQLite opens a file it cannot write read-only, where BEGIN EXCLUSIVE locks nothing.
  const dir = tempDir();
  const script =
    'mount -t tmpfs tmpfs "$1" && : > "$1/existing.lock" && mount -o remount,ro "$1" && ' +
    'for f in existing new; do "$2" --import tsx "$3" "$1/$f.lock" test once; done';
  const run = spawnSync('unshare', ['--mount', 'sh', '-c', script, 'sh', dir, process.execPath, HOLDER], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  const lines = run.stdout.trim().split('\n');
  assert.equal(lines.length, 2, `${run.stdout}${run.stderr}`);
  for (const [i, name] of ['existing', 'new'].entries()) {
    const path = join(dir, `${name}.lock`);
    assert.ok(lines[i]!.startsWith(`failed LOCK_FAILED cannot lock ${path}: `), lines[i]);
    assert.match(lines[i]!, /read-only file system/);
  }
});

test('a lock file in the old JSON format: stale ones are taken over, a live older Lifeboat is respected', async () => {
  const dir = tempDir();
  const legacy = (pid: number) => JSON.stringify({ pid, host: hostname(), since: 'then', purpose: 'old serve' });

  // pid 1 "alive" is the container case; this process cannot be an older Lifeboat either.
  for (const pid of [2 ** 22 + 12345, process.pid]) {
    const path = join(dir, `stale-${pid}.lock`);
    writeFileSync(path, legacy(pid));
    assert.equal(await lockOwner(path), undefined, `pid ${pid}`);
    const lock = await acquireLock(path, 'new');
    assert.equal((await lockOwner(path))?.purpose, 'new');
    await lock.release();
  }

  const path = join(dir, 'live.lock');
  writeFileSync(path, legacy(process.ppid)); // a live process that is not this one
  assert.equal((await lockOwner(path))?.pid, process.ppid);
  await assert.rejects(acquireLock(path, 'new'), (err: unknown) => {
    assert.ok(isLocked(new RegExp(`held by process ${process.ppid} .*old serve`))(err), String(err));
    assert.match((err as LifeboatError).hint ?? '', /older Lifeboat/);
    return true;
  });
  assert.equal(readFileSync(path, 'utf8'), legacy(process.ppid), 'a live older lock is left as it is');
});
