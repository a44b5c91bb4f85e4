import { once } from 'node:events';
import { createReadStream, createWriteStream, type Dirent } from 'node:fs';
import { lstat, readdir, rm, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LifeboatError } from '../errors.js';
import { commitFile, ensureDir, TEMP_PREFIX, tempPathFor, writeFileAtomic } from '../fs/durable.js';
import { isMissing } from '../fs/errno.js';
import type { BackupStore, ByteRange, RangeSource, StagedObject, StageOptions, StoredObject } from './store.js';

/** A temp file in the store's folder that becomes `name` on commit; for writers that produce the file themselves. */
export interface StagedFile extends StagedObject {
  /** Where to write the bytes (a temp name the store owns; never listed). */
  readonly path: string;
}

/**
 * A plain folder as a BackupStore (the local backups folder, or any mounted disk). Staging is
 * a temp file in the folder; commit is fsync, rename, fsync of the folder.
 */
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
      if (isMissing(err)) return [];
      throw err;
    }
    const out: StoredObject[] = [];
    for (const e of entries) {
      if (!e.isFile() || e.name.startsWith('.')) continue;
      const found = await this.stat(e.name);
      if (found) out.push(found); // else deleted meanwhile
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async stat(name: string): Promise<StoredObject | undefined> {
    try {
      const s = await stat(this.pathOf(name));
      return s.isFile() ? { name, size: s.size, modified: s.mtime } : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async get(name: string, range?: ByteRange, options: { signal?: AbortSignal | undefined } = {}): Promise<Readable> {
    if (!(await this.stat(name))) {
      throw new LifeboatError('NOT_FOUND', `no backup "${name}" in ${this.description}`, {
        hint: 'run `lifeboat list` to see the backups that exist',
      });
    }
    const path = this.pathOf(name);
    const signal = options.signal ? { signal: options.signal } : {};
    if (!range) return createReadStream(path, signal);
    if (range.end <= range.start) return Readable.from([]);
    return createReadStream(path, { start: range.start, end: range.end - 1, ...signal });
  }

  /** A temp file to write `name` into directly (the snapshot copy), committed by rename. */
  stageFile(name: string): StagedFile {
    const target = this.pathOf(name);
    const path = tempPathFor(target);
    let state: 'staged' | 'committed' | 'aborted' = 'staged';
    // Every abort() waits for the one removal: a failed copy starts it on its own, and the
    // caller's abort() that follows must not return while the temp file is still there.
    let removal: Promise<void> | undefined;
    return {
      path,
      commit: async () => {
        if (state !== 'staged') throw new LifeboatError('STAGE_ENDED', `${name} was already ${state}`);
        await commitFile(path, target);
        state = 'committed';
        const s = await stat(target);
        return { name, size: s.size, modified: s.mtime };
      },
      abort: async () => {
        if (state === 'committed') return;
        state = 'aborted';
        removal ??= (async () => {
          await rm(path, { force: true });
          await rm(`${path}-journal`, { force: true });
        })();
        await removal;
      },
    };
  }

  stage(name: string, source: RangeSource, options: StageOptions = {}): StagedObject {
    const file = this.stageFile(name);
    const stop = new AbortController();
    const onOuterAbort = () => stop.abort(options.signal?.reason);
    if (options.signal?.aborted) onOuterAbort();
    else options.signal?.addEventListener('abort', onOuterAbort, { once: true });
    const copying = (async () => {
      await ensureDir(this.dir);
      let bytes = 0;
      const body = source.open(0, source.size);
      body.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        options.onProgress?.(bytes);
      });
      const out = createWriteStream(file.path, { flags: 'wx', mode: 0o600 });
      try {
        await pipeline(body, out, { signal: stop.signal });
      } catch (err) {
        // The file is opened asynchronously: an early failure must not remove it before it exists.
        if (!out.closed) await once(out, 'close');
        throw err;
      }
    })().finally(() => options.signal?.removeEventListener('abort', onOuterAbort));
    // A failed copy removes its temp file at once; commit() reports the failure. A temp file
    // that cannot be removed now is removed by the next run (removeLeftovers), never a crash.
    copying.catch(() => file.abort().catch(() => undefined));
    return {
      commit: async () => {
        try {
          await copying;
        } catch (err) {
          if (stop.signal.aborted) {
            throw new LifeboatError(
              'ABORTED',
              `writing ${name} to ${this.description} was interrupted; nothing was stored`,
              {
                cause: stop.signal.reason,
              },
            );
          }
          throw err;
        }
        return file.commit();
      },
      abort: async () => {
        stop.abort(new LifeboatError('ABORTED', `writing ${name} to ${this.description} was aborted`));
        await copying.catch(() => undefined);
        await file.abort();
      },
    };
  }

  async create(name: string, body: Buffer): Promise<StoredObject> {
    const path = this.pathOf(name);
    await ensureDir(this.dir);
    try {
      await writeFileAtomic(path, body, { noClobber: true });
    } catch (err) {
      if ((err as { code?: unknown }).code === 'EEXIST') {
        throw new LifeboatError('EXISTS', `${name} already exists in ${this.description}`);
      }
      throw err;
    }
    return { name, size: body.length, modified: new Date() };
  }

  async delete(name: string): Promise<void> {
    try {
      await unlink(this.pathOf(name));
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }

  /**
   * Removes temp files (`.lifeboat-tmp-{name}.{random}` and their `-journal`) last modified
   * before `olderThan` whose `{name}` `isOwn` accepts: what a run that died left behind.
   */
  async removeLeftovers(olderThan: Date, isOwn: (name: string) => boolean = () => true): Promise<string[]> {
    let entries: string[];
    try {
      entries = await readdir(this.dir);
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
    const removed: string[] = [];
    for (const entry of entries) {
      if (!entry.startsWith(TEMP_PREFIX)) continue;
      const name = entry
        .slice(TEMP_PREFIX.length)
        .replace(/(?:-journal|-wal|-shm)$/, '')
        .replace(/\.[^.]*$/, '');
      if (!isOwn(name)) continue;
      const path = join(this.dir, entry);
      const s = await lstat(path).catch(() => undefined);
      if (!s || !(s.mtime < olderThan)) continue;
      await rm(path, { force: true, recursive: true });
      removed.push(entry);
    }
    return removed;
  }

  /** Full path of a stored name; rejects names that would escape the folder or look like a temp file. */
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
