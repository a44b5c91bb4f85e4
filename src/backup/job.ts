import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { type EncryptedFileSource, openEncryptedFile } from '../crypto/encrypted-file.js';
import type { EncryptionKey } from '../crypto/keys.js';
import { LifeboatError } from '../errors.js';
import { ensureDir } from '../fs/durable.js';
import { isMissing } from '../fs/errno.js';
import { acquireLock } from '../fs/lock.js';
import { ensureFreeSpace } from '../fs/space.js';
import { checkStore, type DatabaseSelf, DB_ID_METADATA, establishIdentity } from '../identity/identity.js';
import type { Clock } from '../schedule/clock.js';
import type { GrowingFile } from '../snapshot/growing.js';
import { checkSnapshot, type SnapshotStage, startSnapshotCopy } from '../snapshot/snapshot.js';
import type { CopyOutcome } from '../sqlite/protocol.js';
import type { LocalStore } from '../storage/local.js';
import type { BackupStore, StagedObject } from '../storage/store.js';
import { backupName, isBackupName } from './naming.js';
import { decideRetention, type RetentionPolicy, type SnapshotRetentionResult } from './retention.js';

export interface RemoteTarget {
  readonly store: BackupStore;
  /** The active key: every object that leaves the machine is encrypted with it. */
  readonly key: EncryptionKey;
  /**
   * The store's clock minus this machine's, in ms, as measured from its answers (S3: the
   * SDK's offset); absent when the store cannot tell. Retention distrusts a local clock
   * that disagrees with it.
   */
  readonly clockOffsetMs?: (() => number) | undefined;
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
  /** Backups kept in each store whatever their age (backup_keep_min). */
  readonly keepMin: number;
  /** Tables every snapshot must contain, as a restore demands (HQL_BACKUP_RESTORE_EXPECT_TABLES). */
  readonly expectTables: readonly string[];
  /** Names come from its time; a second backup in the same second sleeps on it until the next. */
  readonly clock: Clock;
  readonly logger: Logger;
  /** `copy` bytes, then `check` (no byte count), and `upload` (encrypted bytes) beside the check. */
  readonly onProgress?: ((stage: BackupStage, bytes: number, total: number | undefined) => void) | undefined;
  /**
   * Lifeboat created the database file empty in this start: it must not take over backups of
   * a database that was there before (src/identity/identity.ts).
   */
  readonly createdNow?: boolean | undefined;
  /** Fault hook for tests, as the restore's steps.ts: runs after the free-space check, before the copy. */
  readonly beforeCopy?: (() => Promise<void> | void) | undefined;
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
  readonly retention: SnapshotRetentionResult;
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
  readonly localRetention: SnapshotRetentionResult;
  readonly remote: RemoteReport | undefined;
  /**
   * Problems that did not fail the backup: an expired backup that could not be deleted, a
   * retention skipped because the clock cannot be trusted, a backup whose time is doubtful.
   */
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
  await ensureDir(plan.local.dir);
  const lock = await acquireLock(plan.lockFile, 'backup');
  try {
    return await backupLocked(plan);
  } finally {
    await lock.release();
  }
}

/**
 * One backup, in the order things happen: free space → copy → stage the push → check →
 * commit locally → commit remotely → retention. The push sends the copy's bytes while the
 * copy is checked, but nothing becomes a backup, here or in the store, before the check
 * passed and the local file is durable; retention runs only after that, and never deletes
 * the newest backup.
 */
async function backupLocked(plan: BackupPlan): Promise<BackupReport> {
  const { logger, local, remote } = plan;
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
  const { name, startedAt } = await freeName(plan);
  const t0 = performance.now();
  const warnings: string[] = [];
  logger.info({ db: plan.dbFile, backup: local.pathOf(name) }, 'backup started');

  // 0. Which database this is: its backups go only to stores that belong to it (WRONG_DATABASE).
  const self = { path: plan.dbFile, nodeId: plan.nodeId, createdNow: plan.createdNow };
  const owner = { self, id: await establishIdentity(self, local, remote ? [remote.store] : []) };

  // Room for the copy, with a margin: a backup must not fill the disk the application writes to.
  const dbBytes = await sourceBytes(plan.dbFile);
  if (dbBytes !== undefined) await ensureFreeSpace(local.dir, dbBytes, `a snapshot of ${plan.dbFile}`);
  await plan.beforeCopy?.();

  // 1. Copy the live database into a temp file of the local store; 2. stage the push: encrypted
  // on the fly from the copy, parts sent while it is still copied (the file-speed copy writes
  // each byte once, in order) and then checked. A copy redone by SQLite's backup API is pushed
  // again from the finished file: nothing sent from the first attempt is kept.
  const staged = local.stageFile(name);
  const pushOptions = { onProgress: plan.onProgress, signal: plan.signal, owner };
  const copying = startSnapshotCopy(plan.dbFile, staged.path, { onProgress: plan.onProgress });
  let copy: CopyOutcome;
  let push: Push | undefined;
  try {
    const image = await copying.image;
    if (remote && image) push = await Push.stage(name, staged.path, remote, { ...pushOptions, growing: image });
    copy = await copying.done;
    interrupted();
    if (remote && (push === undefined || copy.method !== 'file')) {
      await push?.abort();
      push = await Push.stage(name, staged.path, remote, pushOptions);
    }
    // 3. Check the copy; 4. commit it locally.
    plan.onProgress?.('check', 0, undefined);
    await checkSnapshot(staged.path, plan.dbFile, plan.expectTables);
    interrupted();
    await staged.commit();
  } catch (err) {
    await push?.abort();
    await copying.done.catch(() => {}); // the copy process is done with the file before it goes
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
  logger.info(
    { backup: name, bytes: copy.bytes, ms: Math.round(snapshotMs), copy: copy.method, fallback: copy.fallback },
    'local backup written and verified',
  );

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
  // Ages come from names and this machine's clock: a clock the S3 server contradicts skips it.
  const retention = (store: BackupStore, keepDays: number) =>
    applyRetention(store, { keepDays, keepMin: plan.keepMin, protect: [name] }, plan, warnings);
  const localRetention = await retention(local, plan.keepDaysLocal);
  const expiredLocal = localRetention.deleted;
  const report = {
    name,
    path: local.pathOf(name),
    bytes: copy.bytes,
    startedAt,
    snapshotMs,
    sourceJournalMode: copy.journalMode,
    expiredLocal,
    localRetention: localRetention.result,
    warnings,
  };
  if (pushFailure)
    throw new RemotePushError({ ...report, durationMs: performance.now() - t0, remote: undefined }, pushFailure.error);
  const remoteRetention = push && remote ? await retention(remote.store, plan.keepDaysRemote) : undefined;
  const remoteReport: RemoteReport | undefined =
    push && remoteRetention
      ? {
          object: name,
          plainBytes: copy.bytes,
          durationMs: push.elapsedMs(),
          expired: remoteRetention.deleted,
          retention: remoteRetention.result,
        }
      : undefined;
  if (remoteReport && remote) await removeRemoteLeftovers(remote.store, plan.clock.now(), logger, warnings);
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
/** Whose backup a push carries: the store must belong to that database, and the object says so. */
export interface PushOwner {
  readonly self: DatabaseSelf;
  readonly id: string;
}

class Push {
  private readonly startedAt = performance.now();
  private finishedAt: number | undefined;

  private constructor(
    private readonly source: EncryptedFileSource,
    private readonly staged: StagedObject,
    private readonly remote: RemoteTarget,
    private readonly owner: PushOwner | undefined,
  ) {}

  /** The file is opened now: it may be renamed afterwards, the push keeps reading it. */
  static async stage(
    name: string,
    file: string,
    remote: RemoteTarget,
    o: {
      onProgress?: BackupPlan['onProgress'];
      signal?: AbortSignal | undefined;
      owner?: PushOwner | undefined;
      /** The copy is still being written: parts wait for their range. */
      growing?: GrowingFile;
    } = {},
  ): Promise<Push> {
    const source = await openEncryptedFile(file, remote.key, o.growing ? { growing: o.growing } : {});
    const total = source.size;
    const { onProgress } = o;
    const staged = remote.store.stage(name, source, {
      ...(onProgress ? { onProgress: (bytes: number) => onProgress('upload', bytes, total) } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.owner ? { metadata: { [DB_ID_METADATA]: o.owner.id } } : {}),
    });
    return new Push(source, staged, remote, o.owner);
  }

  /**
   * Checks that the store belongs to this database (claiming it the first time), then makes
   * the object visible. Done here, not before staging, so a store that does not answer costs
   * the push only: the parts sent meanwhile are invisible and aborted.
   */
  async commit(): Promise<void> {
    try {
      if (this.owner) await checkStore(this.owner.self, this.owner.id, this.remote.store);
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
 * The name of this run: node id and the second it starts. When a backup of that name exists
 * (the start-up backup and a first scheduled or on-demand one in the same second), it waits
 * on the plan's clock for the next second instead of failing or replacing it.
 */
async function freeName(plan: BackupPlan): Promise<{ name: string; startedAt: Date }> {
  const never = new AbortController().signal;
  for (;;) {
    const startedAt = plan.clock.now();
    const second = Math.floor(startedAt.getTime() / 1000);
    const name = backupName(plan.nodeId, second);
    if (!(await plan.local.stat(name))) return { name, startedAt };
    plan.logger.debug({ backup: name }, 'a backup of this second exists; waiting for the next second');
    await plan.clock.sleepUntil(new Date((second + 1) * 1000), never);
  }
}

/** The database's bytes with its WAL (what a copy may hold), or undefined when there is no database. */
async function sourceBytes(dbFile: string): Promise<number | undefined> {
  const size = async (path: string) => {
    try {
      return (await stat(path)).size;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  };
  const db = await size(dbFile);
  return db === undefined ? undefined : db + ((await size(`${dbFile}-wal`)) ?? 0);
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
  owner?: PushOwner,
): Promise<{ durationMs: number }> {
  const push = await Push.stage(name, file, remote, { signal, owner });
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
  policy: RetentionPolicy,
  plan: BackupPlan,
  warnings: string[],
): Promise<{ deleted: string[]; result: SnapshotRetentionResult }> {
  const { logger } = plan;
  const warn = (msg: string) => {
    logger.warn(msg);
    warnings.push(msg);
  };
  let objects: Awaited<ReturnType<BackupStore['list']>>;
  try {
    objects = await store.list();
  } catch (err) {
    warn(`could not list ${store.description} for retention: ${(err as Error).message}`);
    return { deleted: [], result: 'failed' };
  }
  const decision = decideRetention({
    objects,
    now: plan.clock.now(),
    policy,
    clockOffsetMs: plan.remote?.clockOffsetMs?.(),
  });
  for (const d of decision.distrusted) {
    warn(`backup ${d.name} in ${store.description}: ${d.reason}; kept, and not counted as the newest`);
  }
  if (decision.skipped !== undefined) {
    warn(`retention skipped for ${store.description}, nothing deleted: ${decision.skipped}`);
  }
  const deleted: string[] = [];
  let failed = false;
  for (const name of decision.expired) {
    try {
      await store.delete(name);
      deleted.push(name);
      logger.info({ backup: name, store: store.description }, 'expired backup deleted');
    } catch (err) {
      failed = true;
      warn(`could not delete expired backup ${name} from ${store.description}: ${(err as Error).message}`);
    }
  }
  const result = failed
    ? 'failed'
    : decision.skipped !== undefined
      ? 'skipped'
      : deleted.length > 0
        ? 'deleted'
        : 'nothing';
  return { deleted, result };
}
