import type { Logger } from 'pino';
import { type EncryptedFileSource, openEncryptedFile } from '../crypto/encrypted-file.js';
import type { EncryptionKey } from '../crypto/keys.js';
import { LifeboatError } from '../errors.js';
import { ensurePrivateDir } from '../fs/durable.js';
import { acquireLock } from '../fs/lock.js';
import { checkSnapshot, copySnapshot, type SnapshotStage } from '../snapshot/snapshot.js';
import type { CheckMode } from '../sqlite/protocol.js';
import type { LocalStore } from '../storage/local.js';
import type { BackupStore, StagedObject } from '../storage/store.js';
import { backupName, isBackupName } from './naming.js';
import { expiredBackups } from './retention.js';

export interface RemoteTarget {
  readonly store: BackupStore;
  /** The active key: every object that leaves the machine is encrypted with it. */
  readonly key: EncryptionKey;
}

export type BackupStage = SnapshotStage | 'upload';

/** Everything one backup run needs; built by the composition root (src/compose.ts). */
export interface BackupPlan {
  readonly dbFile: string;
  readonly nodeId: number;
  readonly local: LocalStore;
  /** Lock file that keeps two runs (of any process) from writing the same folder at once. */
  readonly lockFile: string;
  readonly keepDaysLocal: number;
  readonly remote: RemoteTarget | undefined;
  readonly keepDaysRemote: number;
  readonly check: CheckMode;
  readonly now: () => Date;
  readonly logger: Logger;
  /** `copy` bytes, then `check` (no byte count), and `upload` (encrypted bytes) beside the check. */
  readonly onProgress?: ((stage: BackupStage, bytes: number, total: number | undefined) => void) | undefined;
  /**
   * Stops the run (Ctrl-C): the push is aborted (its multipart upload too) and, before the
   * local commit, the temp file removed. The copy itself is one SQLite call: it ends first.
   */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Unfinished uploads in the remote store older than this are left by a run that died (none
 * runs for a day) and are removed by the next run; younger ones may be in progress.
 */
export const LEFTOVER_AGE_MS = 24 * 3600 * 1000;

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
  /** The copy and its check. */
  readonly snapshotMs: number;
  readonly sourceJournalMode: string;
  readonly expiredLocal: readonly string[];
  readonly remote: RemoteReport | undefined;
  /** Problems that did not fail the backup (e.g. an expired backup that could not be deleted). */
  readonly warnings: readonly string[];
}

/** The remote push failed for good; the local backup exists and is kept. The CLI exits with 3. */
export class RemotePushError extends LifeboatError {
  readonly report: BackupReport;
  constructor(report: BackupReport, cause: unknown) {
    const causeHint =
      cause instanceof LifeboatError && cause.hint ? `${cause.hint}; ` : 'check the S3 settings (HQL_S3_*); ';
    super(
      'REMOTE_PUSH_FAILED',
      `backup ${report.name} was saved locally at ${report.path} but the push to the remote store failed: ${
        (cause as Error)?.message ?? String(cause)
      }`,
      {
        hint:
          `${causeHint}the local backup is kept: \`lifeboat serve\` (or the application) pushes the newest ` +
          'backup once the store answers again, and the next run pushes its own',
        cause,
      },
    );
    this.report = report;
  }
}

/** One backup at a time per backups folder, across processes (serve and an operator's `lifeboat backup`). */
export async function runBackup(plan: BackupPlan): Promise<BackupReport> {
  await ensurePrivateDir(plan.local.dir);
  const lock = await acquireLock(plan.lockFile, 'backup');
  try {
    return await backupLocked(plan);
  } finally {
    await lock.release();
  }
}

/**
 * One backup, in the order things happen: copy → stage the push → check → commit locally →
 * commit remotely → retention. The push sends the copy's bytes while the copy is checked, but
 * nothing becomes a backup, here or in the store, before the check passed and the local file
 * is durable; retention runs only after that, and never deletes the newest backup.
 */
async function backupLocked(plan: BackupPlan): Promise<BackupReport> {
  const { logger, local, remote } = plan;
  const startedAt = plan.now();
  const t0 = performance.now();
  const name = backupName(plan.nodeId, Math.floor(startedAt.getTime() / 1000));
  const warnings: string[] = [];
  // Under the folder's lock no write is in progress: every temp file is a leftover, whatever its time.
  for (const file of await local.removeLeftovers(new Date(8.64e15), isBackupName)) {
    logger.info({ file }, 'removed a temp file left by an interrupted run');
  }
  const interrupted = () => {
    if (plan.signal?.aborted) {
      throw new LifeboatError('ABORTED', `the backup of ${plan.dbFile} was interrupted; nothing was stored`, {
        cause: plan.signal.reason,
      });
    }
  };
  interrupted();
  if (await local.stat(name)) {
    throw new LifeboatError('BACKUP_EXISTS', `a backup named ${name} already exists in ${local.dir}`, {
      hint: 'two backups started in the same second; wait a second and run it again',
    });
  }
  logger.info({ db: plan.dbFile, backup: local.pathOf(name) }, 'backup started');

  // 1. Copy the live database into a temp file of the local store.
  const staged = local.stageFile(name);
  let copy: Awaited<ReturnType<typeof copySnapshot>>;
  try {
    copy = await copySnapshot(plan.dbFile, staged.path, { onProgress: plan.onProgress });
    interrupted();
  } catch (err) {
    await staged.abort();
    throw err;
  }

  // 2. Stage the push: encrypted on the fly from the copy, parts sent while it is checked.
  let push: Push | undefined;
  try {
    if (remote) push = await Push.stage(name, staged.path, remote, plan.onProgress, plan.signal);
    // 3. Check the copy; 4. commit it locally.
    plan.onProgress?.('check', 0, undefined);
    await checkSnapshot(staged.path, plan.dbFile, plan.check);
    interrupted();
    await staged.commit();
  } catch (err) {
    await push?.abort();
    await staged.abort();
    throw err;
  }
  const snapshotMs = performance.now() - t0;
  if (copy.journalMode !== 'wal') {
    warnings.push(
      `the database is in ${copy.journalMode} journal mode, ` +
        `so writers waited during the snapshot; WAL mode lets them continue`,
    );
  }
  logger.info({ backup: name, bytes: copy.bytes, ms: Math.round(snapshotMs) }, 'local backup written and verified');

  // 5. Commit remotely.
  let pushFailure: { error: unknown } | undefined;
  if (push && remote) {
    try {
      await push.commit();
      logger.info(
        { object: name, store: remote.store.description, ms: Math.round(push.elapsedMs()) },
        'encrypted backup pushed',
      );
    } catch (error) {
      pushFailure = { error };
    }
  }

  // 6. Retention: local even when the push failed (the new local backup is safe), remote only after a push.
  const expiredLocal = await applyRetention(local, plan.keepDaysLocal, name, plan.now(), logger, warnings);
  const report = {
    name,
    path: local.pathOf(name),
    bytes: copy.bytes,
    startedAt,
    snapshotMs,
    sourceJournalMode: copy.journalMode,
    expiredLocal,
    warnings,
  };
  if (pushFailure)
    throw new RemotePushError({ ...report, durationMs: performance.now() - t0, remote: undefined }, pushFailure.error);
  const remoteReport: RemoteReport | undefined =
    push && remote
      ? {
          object: name,
          plainBytes: copy.bytes,
          durationMs: push.elapsedMs(),
          expired: await applyRetention(remote.store, plan.keepDaysRemote, name, plan.now(), logger, warnings),
        }
      : undefined;
  if (remoteReport && remote) await removeRemoteLeftovers(remote.store, plan.now(), logger, warnings);
  const done: BackupReport = { ...report, durationMs: performance.now() - t0, remote: remoteReport };
  logger.info(
    {
      backup: name,
      ms: Math.round(done.durationMs),
      expiredLocal: expiredLocal.length,
      expiredRemote: remoteReport?.expired.length ?? 0,
    },
    'backup finished',
  );
  return done;
}

/** The encrypted push of one backup: the copy seen as its cryptr stream, staged in the remote store. */
class Push {
  private readonly startedAt = performance.now();
  private finishedAt: number | undefined;

  private constructor(
    private readonly source: EncryptedFileSource,
    private readonly staged: StagedObject,
  ) {}

  /** The file is opened now: it may be renamed afterwards, the push keeps reading it. */
  static async stage(
    name: string,
    file: string,
    remote: RemoteTarget,
    onProgress: BackupPlan['onProgress'],
    signal?: AbortSignal,
  ): Promise<Push> {
    const source = await openEncryptedFile(file, remote.key);
    const total = source.size;
    const staged = remote.store.stage(name, source, {
      ...(onProgress ? { onProgress: (bytes: number) => onProgress('upload', bytes, total) } : {}),
      ...(signal ? { signal } : {}),
    });
    return new Push(source, staged);
  }

  async commit(): Promise<void> {
    try {
      await this.staged.commit();
    } catch (err) {
      await this.staged.abort();
      throw err;
    } finally {
      this.finishedAt = performance.now();
      await this.source.close();
    }
  }

  async abort(): Promise<void> {
    await this.staged.abort();
    await this.source.close();
  }

  /** From staging (while the copy was still checked) to the commit. */
  elapsedMs(): number {
    return (this.finishedAt ?? performance.now()) - this.startedAt;
  }
}

/**
 * Pushes a backup file that is already in the local folder, as a run does: encrypted with the
 * remote's active key, staged and committed under the same name; a failure aborts the upload.
 * For the catch-up of a backup whose own push failed (src/remote/monitor.ts).
 */
export async function pushBackupFile(
  name: string,
  file: string,
  remote: RemoteTarget,
  signal?: AbortSignal,
): Promise<{ durationMs: number }> {
  const push = await Push.stage(name, file, remote, undefined, signal);
  await push.commit();
  return { durationMs: push.elapsedMs() };
}

/** After a push worked (the store answers): unfinished uploads of runs that died, a day or more ago. */
export async function removeRemoteLeftovers(
  store: BackupStore,
  now: Date,
  logger: Logger,
  warnings: string[] = [],
): Promise<string[]> {
  if (!store.removeLeftovers) return [];
  try {
    const removed = await store.removeLeftovers(new Date(now.getTime() - LEFTOVER_AGE_MS), isBackupName);
    if (removed.length)
      logger.info({ store: store.description, removed }, 'removed unfinished uploads of runs that died');
    return removed;
  } catch (err) {
    const msg = `could not remove unfinished uploads from ${store.description}: ${(err as Error).message}`;
    logger.warn(msg);
    warnings.push(msg);
    return [];
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
  const deleted: string[] = [];
  for (const name of expiredBackups(names, now, { keepDays, protect: [justMade] })) {
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
