import { createReadStream, type Dirent } from 'node:fs';
import { readdir, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { LifeboatError } from '../errors.js';
import { ensurePrivateDir, TEMP_PREFIX, writeFileAtomic } from '../fs/durable.js';
import { type BackupStore, isRangeSource, type PutBody, type PutOptions, type StoredObject } from './store.js';

/** A plain folder as a BackupStore (the local backups folder, or any mounted disk). */
export class LocalStore implements BackupStore {
  readonly dir: string;
  readonly description: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
    this.description = `local folder ${this.dir}`;
  }

  async list(): Promise<StoredObject[]> {
    let entries: Dirent[];
    try {
      entries = await readdir(this.dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: StoredObject[] = [];
    for (const e of entries) {
      if (!e.isFile() || e.name.startsWith('.')) continue;
      try {
        const s = await stat(join(this.dir, e.name));
        out.push({ name: e.name, size: s.size, modified: s.mtime });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // deleted meanwhile
      }
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async put(name: string, body: PutBody, options: PutOptions = {}): Promise<StoredObject> {
    const path = this.pathOf(name);
    await ensurePrivateDir(this.dir);
    const stream = isRangeSource(body) ? body.open(0, body.size) : body;
    try {
      const size = await writeFileAtomic(path, stream, { mode: 0o600, ...options });
      return { name, size, modified: new Date() };
    } catch (err) {
      if (options.signal?.aborted) {
        throw new LifeboatError(
          'ABORTED',
          `writing ${name} to ${this.description} was interrupted; nothing was stored`,
          { cause: options.signal.reason },
        );
      }
      throw err;
    }
  }

  async get(name: string): Promise<Readable> {
    const path = this.pathOf(name);
    try {
      await stat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new LifeboatError('NOT_FOUND', `no backup "${name}" in ${this.description}`, {
          hint: 'run `lifeboat list` to see the backups that exist',
        });
      }
      throw err;
    }
    return createReadStream(path);
  }

  async delete(name: string): Promise<void> {
    try {
      await unlink(this.pathOf(name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  /** Full path of a stored name; rejects names that would escape the folder. */
  pathOf(name: string): string {
    if (
      name === '' ||
      name.includes('/') ||
      name.includes('\\') ||
      name === '.' ||
      name === '..' ||
      name.startsWith(TEMP_PREFIX) ||
      name.includes('\0')
    ) {
      throw new LifeboatError('BAD_NAME', `"${name}" is not a valid backup name`, {
        hint: 'backup names look like backup_node_1_1732415400.sqlite',
      });
    }
    return join(this.dir, name);
  }
}
