import { open, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { LifeboatError } from '../errors.js';

/**
 * Advisory lock files (`{"pid":…,"host":…}` created with O_EXCL). A lock whose process is
 * gone on this host is stale and taken over; one from another host is never taken over,
 * because we cannot tell whether it is still alive.
 */

export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly since: string;
  readonly purpose: string;
}

export interface LockHandle {
  readonly path: string;
  release(): Promise<void>;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live owner of a lock, or undefined when the lock is free or stale. */
export async function lockOwner(path: string): Promise<LockOwner | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let owner: LockOwner;
  try {
    owner = JSON.parse(text) as LockOwner;
  } catch {
    return undefined; // a torn write from a crash: nobody holds it
  }
  if (owner.host === hostname() && !isAlive(owner.pid)) return undefined;
  return owner;
}

export async function acquireLock(path: string, purpose: string): Promise<LockHandle> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      const owner: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString(), purpose };
      await fh.writeFile(JSON.stringify(owner));
      await fh.sync();
      await fh.close();
      let released = false;
      return {
        path,
        release: async () => {
          if (released) return;
          released = true;
          await rm(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = await lockOwner(path);
      if (owner) {
        throw new LifeboatError(
          'LOCKED',
          `${path} is held by process ${owner.pid} on ${owner.host} (${owner.purpose}, since ${owner.since})`,
          {
            hint:
              owner.host === hostname()
                ? 'wait for it to finish or stop that process'
                : 'if that process is gone, delete the lock file by hand',
          },
        );
      }
      await rm(path, { force: true }); // stale: its process is gone
    }
  }
  throw new LifeboatError('LOCKED', `could not take the lock ${path}`, {
    hint: 'another process keeps taking it; try again',
  });
}
