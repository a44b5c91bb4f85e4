import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { type EncryptedFileSource, openEncryptedFile } from '../crypto/encrypted-file.js';
import type { EncryptionKey } from '../crypto/keys.js';
import { LifeboatError } from '../errors.js';
import { ensurePrivateDir, TEMP_PREFIX } from '../fs/durable.js';
import { acquireLock } from '../fs/lock.js';
import { type SnapshotStage, snapshotDatabase } from '../snapshot/snapshot.js';
import type { CheckMode } from '../snapshot/worker-client.js';
import type { LocalStore } from '../storage/local.js';
import type { BackupStore } from '../storage/store.js';
import { backupName } from './naming.js';
import { expiredBackups } from './retention.js';

export interface RemoteTarget {
  readonly store: BackupStore;
  /** The active key: every object that leaves the machine is encrypted with it. */
  readonly key: EncryptionKey;
}

export type BackupStage = SnapshotStage | 'upload';

export interface BackupJobOptions {
  readonly dbFile: string;
  readonly nodeId: number;
  readonly local: LocalStore;
  readonly keepDaysLocal: number;
  readonly remote?: RemoteTarget | undefined;
  readonly keepDaysRemote: number;
  readonly check: CheckMode;
  readonly now: () => Date;
  readonly logger: Logger;
  /** `copy` and `check` come from the snapshot; `upload` (encrypted bytes) overlaps `check`. */
  readonly onProgress?: ((stage: BackupStage, bytes: number, total: number | undefined) => void) | undefined;
}

export interface RemoteReport {
  readonly object: string;
  readonly plainBytes: number;
  readonly durationMs: number;
  readonly expired: readonly string[];
}

export interface BackupReport {
  readonly name: string;
  readonly path: string;
  readonly bytes: number;
  readonly startedAt: Date;
  readonly durationMs: number;
  readonly snapshotMs: number;
  readonly sourceJournalMode: string;
  readonly expiredLocal: readonly string[];
  readonly remote: RemoteReport | undefined;
  /** Problems that did not fail the backup (e.g. an expired backup that could not be deleted). */
  readonly warnings: readonly string[];
}

/** The remote push failed for good; the local backup exists and is kept. */
export class RemotePushError extends LifeboatError {
  readonly report: BackupReport;
  constructor(report: BackupReport, cause: unknown) {
    super(
      'REMOTE_PUSH_FAILED',
      `backup ${report.name} was saved locally at ${report.path} but the push to the remote store failed: ${(cause as Error)?.message ?? String(cause)}`,
      {
        hint: 'check the S3 settings (HQL_S3_*) and `lifeboat list --remote`; the local backup is kept and the next run pushes a new one',
        cause,
      },
    );
    this.report = report;
  }
}

/**
 * One backup run: snapshot → local file (verified, durable) → optional encrypted push →
 * local and remote retention. Retention runs only after the new backup is safely stored,
 * and never deletes the newest backup.
 */
export async function runBackup(options: BackupJobOptions): Promise<BackupReport> {
  await ensurePrivateDir(options.local.dir);
  // One backup at a time per folder, across processes (serve + an operator's `lifeboat backup`).
  const lock = await acquireLock(join(options.local.dir, BACKUP_LOCK), 'backup');
  try {
    return await backupLocked(options);
  } finally {
    await lock.release();
  }
}

/** Lock file inside the backups folder; a dot name, so it is never listed as a backup. */
export const BACKUP_LOCK = '.lifeboat-backup.lock';

async function backupLocked(options: BackupJobOptions): Promise<BackupReport> {
  const { logger, local } = options;
  const startedAt = options.now();
  const t0 = performance.now();
  const name = backupName(options.nodeId, Math.floor(startedAt.getTime() / 1000));
  const path = local.pathOf(name);
  const warnings: string[] = [];

  await removeStaleTemps(local.dir, logger);
  if ((await local.list()).some((o) => o.name === name)) {
    throw new LifeboatError('BACKUP_EXISTS', `a backup named ${name} already exists in ${local.dir}`, {
      hint: 'two backups started in the same second; wait a second and run it again',
    });
  }

  logger.info({ db: options.dbFile, backup: path }, 'backup started');
  // With a remote store the push starts as soon as the snapshot's bytes are final and runs
  // while the snapshot is checked and made durable; the object is committed only once the
  // local backup is (beforeCommit), so a backup that fails its check never reaches the store.
  const push = options.remote ? new Push(name, options.remote, options.onProgress) : undefined;
  let snap: Awaited<ReturnType<typeof snapshotDatabase>>;
  try {
    snap = await snapshotDatabase(options.dbFile, path, {
      check: options.check,
      ...(push ? { onCopied: (copy: string) => push.start(copy) } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
  } catch (err) {
    push?.cancel(err);
    await push?.settled();
    throw err;
  }
  push?.localCommitted();
  if (snap.journalMode !== 'wal') {
    warnings.push(
      `the database is in ${snap.journalMode} journal mode, so writers waited during the snapshot; WAL mode lets them continue`,
    );
  }
  logger.info(
    { backup: name, bytes: snap.bytes, ms: Math.round(snap.durationMs) },
    'local backup written and verified',
  );

  const expiredLocal = await applyRetention(local, options.keepDaysLocal, name, options.now(), logger, warnings);

  const baseReport = {
    name,
    path,
    bytes: snap.bytes,
    startedAt,
    snapshotMs: snap.durationMs,
    sourceJournalMode: snap.journalMode,
    expiredLocal,
    warnings,
  };

  let remote: RemoteReport | undefined;
  if (push && options.remote) {
    try {
      // Started from the copy, or (if the copy was never announced) from the finished file.
      await push.finish(path);
    } catch (err) {
      throw new RemotePushError({ ...baseReport, durationMs: performance.now() - t0, remote: undefined }, err);
    }
    const pushMs = push.elapsedMs();
    logger.info(
      { object: name, store: options.remote.store.description, ms: Math.round(pushMs) },
      'encrypted backup pushed',
    );
    const expired = await applyRetention(
      options.remote.store,
      options.keepDaysRemote,
      name,
      options.now(),
      logger,
      warnings,
    );
    remote = { object: name, plainBytes: snap.bytes, durationMs: pushMs, expired };
  }

  const report: BackupReport = { ...baseReport, durationMs: performance.now() - t0, remote };
  logger.info(
    {
      backup: name,
      ms: Math.round(report.durationMs),
      expiredLocal: expiredLocal.length,
      expiredRemote: remote?.expired.length ?? 0,
    },
    'backup finished',
  );
  return report;
}

/**
 * The encrypted push of one backup, started early from the snapshot's temp file. The store
 * reads the file as a RangeSource (encrypted on the fly, parts in parallel, a failed part
 * read again) and commits the object only after `localCommitted()`; `cancel()` stops it.
 */
class Push {
  private readonly stop = new AbortController();
  private readonly local: { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void };
  private running: Promise<void> | undefined;
  private startedAt = 0;

  constructor(
    private readonly name: string,
    private readonly remote: RemoteTarget,
    private readonly onProgress: BackupJobOptions['onProgress'],
  ) {
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => undefined); // observed through the store's beforeCommit
    this.local = { promise, resolve, reject };
  }

  /** Opens `file` and starts sending it; resolves once the file is open (it may be renamed then). */
  start(file: string): Promise<void> {
    let opened!: () => void;
    const isOpen = new Promise<void>((res) => (opened = res));
    this.running = this.run(file, opened);
    this.running.catch(() => undefined); // reported by finish()
    return isOpen;
  }

  localCommitted(): void {
    this.local.resolve();
  }

  cancel(reason: unknown): void {
    this.local.reject(reason);
    this.stop.abort(reason);
  }

  async settled(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  async finish(committedPath: string): Promise<void> {
    this.running ??= this.run(committedPath, () => undefined);
    await this.running;
  }

  /** From the start of the push (while the snapshot was still checked) to now. */
  elapsedMs(): number {
    return performance.now() - this.startedAt;
  }

  private async run(file: string, opened: () => void): Promise<void> {
    this.startedAt = performance.now();
    let source: EncryptedFileSource;
    try {
      source = await openEncryptedFile(file, this.remote.key);
    } finally {
      opened();
    }
    try {
      const total = source.size;
      await this.remote.store.put(this.name, source, {
        signal: this.stop.signal,
        beforeCommit: () => this.local.promise,
        ...(this.onProgress ? { onProgress: (bytes: number) => this.onProgress?.('upload', bytes, total) } : {}),
      });
    } finally {
      await source.close();
    }
  }
}

async function applyRetention(
  store: BackupStore,
  keepDays: number,
  justMade: string,
  now: Date,
  logger: Logger,
  warnings: string[],
): Promise<string[]> {
  let names: string[];
  try {
    names = (await store.list()).map((o) => o.name);
  } catch (err) {
    const msg = `could not list ${store.description} for retention: ${(err as Error).message}`;
    logger.warn(msg);
    warnings.push(msg);
    return [];
  }
  const expired = expiredBackups(names, now, { keepDays, protect: [justMade] });
  const deleted: string[] = [];
  for (const name of expired) {
    try {
      await store.delete(name);
      deleted.push(name);
      logger.info({ backup: name, store: store.description }, 'expired backup deleted');
    } catch (err) {
      const msg = `could not delete expired backup ${name} from ${store.description}: ${(err as Error).message}`;
      logger.warn(msg);
      warnings.push(msg);
    }
  }
  return deleted;
}

/** Temp files of runs that crashed (never a backup name, so never a backup). */
async function removeStaleTemps(dir: string, logger: Logger): Promise<void> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  for (const entry of entries) {
    if (!entry.startsWith(TEMP_PREFIX)) continue;
    await rm(join(dir, entry), { force: true });
    logger.info({ file: entry }, 'removed a temp file left by an interrupted run');
  }
}
