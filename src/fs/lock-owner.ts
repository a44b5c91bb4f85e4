import { readFileSync, rmSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { tempPathFor } from './durable.js';

/**
 * Who holds a lock, for error messages only: the lock itself is an OS lock (lock.ts), and
 * these details live in a separate JSON file beside it, written after the lock is taken.
 * Nothing here decides whether a lock is held.
 */

export interface LockOwner {
  /** The pid as its own process sees it (1 for a container's main process); 0 when unknown. */
  readonly pid: number;
  readonly host: string;
  /** Linux boot id, so an operator reading the file can tell details from an earlier boot. */
  readonly boot?: string;
  readonly since: string;
  readonly purpose: string;
}

/** A held lock whose details are missing (its holder is between taking it and writing them). */
export const UNKNOWN_OWNER: LockOwner = { pid: 0, host: 'unknown', since: 'unknown', purpose: 'unknown' };

export function ownerFileOf(lockPath: string): string {
  return `${lockPath}.owner.json`;
}

function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined; // not Linux
  }
}

export function currentOwner(purpose: string): LockOwner {
  const boot = bootId();
  return {
    pid: process.pid,
    host: hostname(),
    ...(boot ? { boot } : {}),
    since: new Date().toISOString(),
    purpose,
  };
}

/**
 * Best effort: the lock works without its details, so a failure here (a full disk) must not
 * fail the lock. Temp + rename, so a reader never sees a torn file. No fsync: after a power
 * loss the details describe a process that is gone anyway.
 */
export async function writeOwner(lockPath: string, owner: LockOwner): Promise<void> {
  const target = ownerFileOf(lockPath);
  const temp = tempPathFor(target);
  try {
    await writeFile(temp, `${JSON.stringify(owner)}\n`, { mode: 0o600, flag: 'wx' });
    await rename(temp, target);
  } catch {
    await rm(temp, { force: true }).catch(() => undefined);
  }
}

/** Called while the lock is still held, so it never removes a successor's details. */
export function removeOwner(lockPath: string): void {
  try {
    rmSync(ownerFileOf(lockPath), { force: true });
  } catch {
    // informational file: a leftover is overwritten by the next holder
  }
}

function asOwner(value: unknown): LockOwner | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const o = value as Record<string, unknown>;
  if (typeof o.pid !== 'number' || typeof o.host !== 'string') return undefined;
  if (typeof o.since !== 'string' || typeof o.purpose !== 'string') return undefined;
  return {
    pid: o.pid,
    host: o.host,
    ...(typeof o.boot === 'string' ? { boot: o.boot } : {}),
    since: o.since,
    purpose: o.purpose,
  };
}

/** The recorded details of a held lock, or UNKNOWN_OWNER when they are missing or unreadable. */
export function readOwner(lockPath: string): LockOwner {
  try {
    return asOwner(JSON.parse(readFileSync(ownerFileOf(lockPath), 'utf8'))) ?? UNKNOWN_OWNER;
  } catch {
    return UNKNOWN_OWNER;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A lock file in the format of older Lifeboat versions (`{"pid","host",…}`, no OS lock):
 * its owner if that may still be an older Lifeboat running, by the old rule; else undefined
 * (stale: the file may be taken over). Our own pid cannot be an older Lifeboat: that is the
 * container restart of issue #14, where the dead holder was pid 1 and so are we.
 */
export function legacyOwner(text: string): LockOwner | undefined {
  let owner: LockOwner | undefined;
  try {
    owner = asOwner(JSON.parse(text));
  } catch {
    return undefined; // torn, or empty: nobody holds it
  }
  if (!owner || owner.pid === process.pid) return undefined;
  if (owner.host === hostname() && !isAlive(owner.pid)) return undefined;
  return owner;
}
