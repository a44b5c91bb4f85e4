import { closeSync, constants, existsSync, openSync, readFileSync, truncateSync } from 'node:fs';
import { dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { LifeboatError } from '../errors.js';
import Database from '../sqlite/driver.js';
import {
  currentOwner,
  type LockOwner,
  legacyOwner,
  ownerFileOf,
  readOwner,
  removeOwner,
  UNKNOWN_OWNER,
  writeOwner,
} from './lock-owner.js';

/**
 * Locks that die with their process. A pid in a file cannot tell a dead holder from a new
 * process that got the same pid: after a container restart the dead holder and its
 * successor are both pid 1, and the lock was held forever (issue #14). So the lock is an
 * OS lock, which the kernel drops when its process dies, whatever the PID namespace: Node
 * has no flock/fcntl, but SQLite's locks are fcntl locks, so the lock file is an empty
 * SQLite database held in an exclusive transaction until release().
 *
 * The lock file is never deleted: a holder keeps it open, and a new file at the same path
 * could be locked by a third process, giving two holders. It is also never opened with
 * plain `fs` calls once it may be held, because closing any descriptor of a file drops all
 * of this process's POSIX locks on it (SQLite's own connections coordinate and are safe).
 * Who holds it is recorded beside it (lock-owner.ts), for messages only.
 */

export type { LockOwner } from './lock-owner.js';

export interface LockHandle {
  readonly path: string;
  release(): Promise<void>;
}

/**
 * How long to wait for a lock held only for an instant. Taking SQLite's exclusive lock
 * passes through a shared one, so two processes racing for a free lock would otherwise both
 * fail, each seeing the other's shared lock; a lockOwner probe also holds one briefly. A
 * held lock answers LOCKED after this wait (it blocks the thread: SQLite's calls are sync).
 */
const BRIEF_WAIT_MS = 100;

/**
 * Strong references: a handle dropped without release() must not let the garbage collector
 * close its connection, which would release the lock silently.
 */
const held = new Set<LockHandle>();

/** Takes the lock at once or fails with LOCKED, naming the holder; `purpose` is shown to others. */
export async function acquireLock(path: string, purpose: string): Promise<LockHandle> {
  const db = takeLock(path);
  if (!db) throw lockedError(path, readOwner(path), 'wait for it to finish or stop that process');
  let released = false;
  const handle: LockHandle = {
    path,
    release: async () => {
      if (released) return;
      released = true;
      held.delete(handle);
      removeOwner(path); // while still held, so a successor's details are never removed
      db.close(); // ends the transaction and drops the lock
    },
  };
  held.add(handle);
  await writeOwner(path, currentOwner(purpose));
  return handle;
}

/**
 * The live owner of a lock, or undefined when it is free: asks the OS lock without waiting,
 * then reads the recorded details. A missing lock file is free, and is not created.
 */
export async function lockOwner(path: string): Promise<LockOwner | undefined> {
  const state = probe(path);
  if (state === 'held') return readOwner(path);
  if (state === 'not a database') return legacyOwner(readLegacy(path));
  return undefined;
}

/** A shared lock taken and dropped at once: refused while anyone holds the lock. */
function probe(path: string): 'free' | 'held' | 'not a database' {
  if (!existsSync(path)) return 'free';
  let db: BetterSqlite3.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: 0 });
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return 'free';
  } catch (err) {
    const code = codeOf(err);
    if (code === 'SQLITE_BUSY') return 'held';
    if (code === 'SQLITE_NOTADB') return 'not a database';
    if (code === 'SQLITE_CANTOPEN' && !existsSync(path)) return 'free';
    throw lockFailed(path, err);
  } finally {
    db?.close();
  }
}

/** The connection holding the lock, or undefined when another connection or process holds it. */
function takeLock(path: string): BetterSqlite3.Database | undefined {
  createLockFile(path);
  for (let attempt = 0; ; attempt++) {
    let db: BetterSqlite3.Database | undefined;
    try {
      db = new Database(path, { timeout: BRIEF_WAIT_MS });
      db.pragma('locking_mode = EXCLUSIVE');
      // Nothing is ever committed; a memory journal leaves no -journal file beside the lock.
      db.pragma('journal_mode = MEMORY');
      db.exec('BEGIN EXCLUSIVE');
      // On a file SQLite could only open read-only (a read-only mount), BEGIN EXCLUSIVE quietly
      // becomes a read transaction that locks nothing; a write, never committed, proves the lock.
      db.pragma('user_version = 1');
      return db;
    } catch (err) {
      db?.close();
      const code = codeOf(err);
      if (code === 'SQLITE_BUSY') return undefined;
      if (code !== 'SQLITE_NOTADB' || attempt > 0) throw lockFailed(path, err);
      adoptLegacy(path);
    }
  }
}

/**
 * O_EXCL never opens an existing file, so this closes no descriptor of a file this process
 * may hold; a new file is empty, which SQLite reads as an empty database.
 */
function createLockFile(path: string): void {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600));
  } catch (err) {
    if (codeOf(err) !== 'EEXIST') throw lockFailed(path, err);
  }
}

/**
 * The content of a lock file that SQLite calls "not a database". Reading it with fs is safe:
 * this process can hold no SQLite lock on a file that is not a database.
 */
function readLegacy(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw lockFailed(path, err);
  }
}

/**
 * A lock file from an older Lifeboat (JSON, no OS lock): refused while its owner may live,
 * else emptied in place. Truncating by path, not deleting, keeps the one inode every process
 * locks; a racing process that emptied it first leaves nothing to change.
 */
function adoptLegacy(path: string): void {
  const owner = legacyOwner(readLegacy(path));
  if (owner) {
    throw lockedError(
      path,
      owner,
      'this lock file is in the format of an older Lifeboat: stop that process; ' +
        `if no older Lifeboat runs, delete ${path}`,
    );
  }
  try {
    truncateSync(path, 0);
  } catch (err) {
    throw lockFailed(path, err);
  }
}

function lockedError(path: string, owner: LockOwner, hint: string): LifeboatError {
  const holder =
    owner === UNKNOWN_OWNER
      ? `another process (its details in ${ownerFileOf(path)} are not written yet or were lost)`
      : `process ${owner.pid} on ${owner.host} (${owner.purpose}, since ${owner.since})`;
  return new LifeboatError('LOCKED', `${path} is held by ${holder}`, {
    hint: `${hint}; the lock is released the moment that process exits (in a container, the pid is the one inside it)`,
  });
}

function codeOf(err: unknown): string {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : '';
}

function lockFailed(path: string, err: unknown): LifeboatError {
  const [reason, hint] = failureOf(codeOf(err), path, err);
  return new LifeboatError('LOCK_FAILED', `cannot lock ${path}: ${reason}`, { hint, cause: err });
}

/** What went wrong, and what the operator can do about it. */
function failureOf(code: string, path: string, err: unknown): [string, string] {
  const folder = dirname(path);
  if (code === 'ENOENT')
    return [`the folder ${folder} does not exist`, 'create the folder, or check the configured paths'];
  if (code === 'ENOTDIR') return [`a part of ${folder} is a file, not a folder`, 'check the configured paths'];
  if (code === 'EACCES' || code === 'EPERM') {
    return [`this user cannot create files in ${folder}`, `give this user write access to ${folder}`];
  }
  if (code === 'EROFS') return [`${folder} is on a read-only file system`, 'keep the data on a writable file system'];
  if (code.startsWith('SQLITE_READONLY')) {
    return [
      'this user cannot write to it (a read-only file, or a read-only file system)',
      `give this user write access to ${path}`,
    ];
  }
  if (code === 'ENOLCK' || code.startsWith('SQLITE_IOERR')) {
    return [
      `the file system refused to lock it (${code})`,
      'keep the data on a local file system; some network file systems have no working locks',
    ];
  }
  return [(err as Error).message, `check that ${path} is a file this user can read and write`];
}
