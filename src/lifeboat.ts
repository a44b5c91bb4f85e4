import { EventEmitter } from 'node:events';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import type { Logger } from 'pino';
import { type BackupPlan, type BackupReport, RemotePushError, runBackup } from './backup/job.js';
import { sortBackupsNewestFirst } from './backup/naming.js';
import type { SnapshotRetentionResult } from './backup/retention.js';
import { type Composition, compose } from './compose.js';
import { type ConfigOverrides, loadConfig, warningsOf } from './config/load.js';
import type { Config } from './config/types.js';
import { ConfigError, LifeboatError } from './errors.js';
import { ensureDir } from './fs/durable.js';
import { acquireLock, type LockHandle } from './fs/lock.js';
import { type LifeboatLogger, libraryLogger } from './log.js';
import { enableGarbageCollection } from './memory.js';
import { ContinuousBackup, type ContinuousStatus } from './pitr/continuous.js';
import { RemoteMonitor } from './remote/monitor.js';
import { type RestoreReport, restoreDatabase } from './restore/restore.js';
import { onTimeline, parseRestoreSource } from './restore/source.js';
import { restoreAtStartup } from './restore/startup.js';
import type { Clock } from './schedule/clock.js';
import { type CronSchedule, parseCron } from './schedule/cron.js';
import { Scheduler } from './schedule/scheduler.js';
import { Heartbeat } from './server/heartbeat.js';
import {
  BACKUP_DURATION_BUCKETS,
  BACKUP_SIZE_BUCKETS,
  Histogram,
  maxBackupAgeMs,
  newestBackup,
  type RemoteStatus,
  type StatusReport,
} from './server/status.js';
import Database from './sqlite/driver.js';
import type { LocalStore } from './storage/local.js';
import type { BackupStore, StoredObject } from './storage/store.js';
import { buildInfo } from './version.js';

export interface LifeboatOptions {
  /** TOML file; default `config.toml` in `cwd` (or LIFEBOAT_CONFIG). */
  readonly configFile?: string;
  /** Environment to read HQL_* / ENC_* from; default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Values set in code; environment variables still override them (as operators expect). */
  readonly config?: ConfigOverrides;
  /**
   * Sidecar mode: back up this existing database file, written by another process.
   * Without it Lifeboat opens (and creates) the embedded `{data_dir}/state_machine/db/{filename_db}`.
   */
  readonly dbPath?: string;
  /**
   * pino, `console`, winston, bunyan, or any object with `info`, `warn`, `error` (and
   * optionally `debug`); see LifeboatLogger. Default: warnings and errors to stderr.
   */
  readonly logger?: LifeboatLogger;
  /** Injected for tests; default the system clock. */
  readonly clock?: Clock;
  /** Run backups on `backup_cron`; default true. */
  readonly schedule?: boolean;
  /** Take a backup right after start when none exists yet (default), always, or never. */
  readonly backupOnStart?: 'if-none' | 'always' | 'never';
  /** Options for the application's database handle (embedded mode). */
  readonly database?: BetterSqlite3.Options;
  /**
   * A remote store of your own (any BackupStore) instead of the configured S3 bucket. Backups
   * are encrypted with the configured active key before they reach it.
   */
  readonly remote?: BackupStore;
  /**
   * Lets Lifeboat force garbage collections while gigabytes stream through it, which keeps
   * the process's memory flat (docs/benchmarks.md, "Memory"). Process-wide, so off by
   * default in the library; the CLI turns it on.
   */
  readonly collectGarbage?: boolean;
  /**
   * Sidecar mode: wait for the database file to appear instead of failing with DB_MISSING (a
   * sidecar started before its application created the database). Logs once a minute.
   */
  readonly waitForDatabase?: boolean;
  /** Aborts a start in progress (a start-up restore's download, the wait for the database): ABORTED. */
  readonly signal?: AbortSignal;
}

export interface BackupEntry {
  readonly name: string;
  readonly nodeId: number;
  readonly time: Date;
  readonly size: number;
}

export interface BackupListing {
  readonly local: readonly BackupEntry[];
  /** undefined when no remote store is configured. */
  readonly remote: readonly BackupEntry[] | undefined;
}

export type LifeboatMode = 'embedded' | 'sidecar';

/** What went wrong in an `error` event: a backup (any: scheduled, start-up, on demand) or a restore. */
export type LifeboatOperation = 'backup' | 'restore';

/**
 * The events of a Lifeboat and their arguments. `error` is safe to leave unheard, unlike on a
 * plain EventEmitter: Lifeboat emits it only to listeners. Nothing is lost without one: a
 * scheduled or start-up backup that fails is logged, backup() and restore() reject.
 */
export interface LifeboatEvents {
  /** A backup succeeded (and was pushed, when a remote store is set). */
  backup: [report: BackupReport];
  /** restore() replaced the database. */
  restore: [report: RestoreReport];
  /** A backup or a restore failed; a push that failed is a RemotePushError (the local backup is kept). */
  error: [error: Error, operation: LifeboatOperation];
  /** The remote store's state changed: `ok` (it answers) or `failing`. */
  remote: [status: RemoteStatus];
  /** Continuous backup's state changed (started, retrying, refused, stopped). */
  pitr: [status: ContinuousStatus];
}

/**
 * The engine: configuration, the database (embedded) or its path (sidecar), the local and
 * remote stores, and the backup schedule. `Lifeboat.open` → use `db` → `close()`.
 */
export class Lifeboat extends EventEmitter<LifeboatEvents> {
  readonly config: Config;
  readonly mode: LifeboatMode;
  /** The SQLite file being backed up. */
  readonly dbFile: string;
  readonly local: LocalStore;
  readonly remote: BackupStore | undefined;
  readonly logger: Logger;
  private readonly parts: Composition;
  /** This start created the database file empty (identity: it must not take over older backups). */
  private readonly createdNow: boolean;
  private readonly clock: Clock;
  /** Replaced by restore(): the old handle is closed, a new one opened on the restored file. */
  private handle: BetterSqlite3.Database | undefined;
  private readonly databaseOptions: BetterSqlite3.Options | undefined;
  private readonly scheduler: Scheduler | undefined;
  private readonly lock: LockHandle;
  private queue: Promise<unknown> = Promise.resolve();
  private lastReport: BackupReport | undefined;
  /** The last failed run of either kind, kept after later successes: /health compares it with the last success. */
  private lastFailure: { at: Date; message: string; remoteOnly: boolean } | undefined;
  private lastAttemptFailed = false;
  /** Each run counts once: a success, a push failure (kept locally) or a failure (nothing kept). */
  private readonly counts = { successes: 0, failures: 0, pushFailures: 0 };
  private readonly retentionRuns = { local: retentionCounts(), remote: retentionCounts() };
  /** The last run that kept nothing (push failures aside): `lifeboat_backup_last_failure_timestamp_seconds`. */
  private lastLocalFailureAt: Date | undefined;
  private readonly histograms = {
    durations: new Histogram(BACKUP_DURATION_BUCKETS),
    sizes: new Histogram(BACKUP_SIZE_BUCKETS),
  };
  /** The request after each successful backup (backup_heartbeat_url); undefined without one. */
  private readonly heartbeat: Heartbeat | undefined;
  private readonly startedAt: Date;
  private readonly schedule: CronSchedule | undefined;
  private startupBackup: Promise<void> | undefined;
  private closed = false;
  /** Continuous backup (`[pitr] enabled`); undefined when off. */
  private readonly continuous: ContinuousBackup | undefined;
  /** The remote store's health and the catch-up after an outage; undefined without a remote store. */
  private readonly monitor: RemoteMonitor | undefined;

  private constructor(init: {
    parts: Composition;
    createdNow: boolean;
    handle: BetterSqlite3.Database | undefined;
    databaseOptions: BetterSqlite3.Options | undefined;
    lock: LockHandle;
    schedule: boolean;
  }) {
    super();
    const { parts } = init;
    this.parts = parts;
    this.createdNow = init.createdNow;
    this.config = parts.config;
    this.mode = parts.mode;
    this.dbFile = parts.dbFile;
    this.local = parts.local;
    this.remote = parts.remote?.store;
    this.logger = parts.logger;
    this.clock = parts.clock;
    this.handle = init.handle;
    this.databaseOptions = init.databaseOptions;
    this.lock = init.lock;
    this.startedAt = this.clock.now();
    const { backupCron, backupCronTz } = this.config;
    this.schedule = init.schedule ? parseCron(backupCron, backupCronTz ? { timeZone: backupCronTz } : {}) : undefined;
    this.scheduler = this.schedule
      ? new Scheduler({
          schedule: this.schedule,
          clock: this.clock,
          logger: this.logger,
          run: async () => {
            await this.backup();
          },
        })
      : undefined;
    this.monitor = parts.remote
      ? new RemoteMonitor({
          remote: parts.remote,
          database: { path: parts.dbFile, nodeId: parts.config.nodeId },
          local: parts.local,
          lockFile: parts.locks.backups,
          clock: this.clock,
          logger: this.logger,
          serialize: (work) => this.inLine(work),
          onChange: (status) => this.notify('remote', status),
        })
      : undefined;
    this.continuous =
      parts.config.pitr.enabled && parts.pitrStore && parts.config.encryption
        ? new ContinuousBackup({
            dbFile: parts.dbFile,
            nodeId: parts.config.nodeId,
            local: parts.local,
            remote: parts.remote?.store,
            store: parts.pitrStore(),
            keys: parts.config.encryption,
            syncIntervalMs: parts.config.pitr.syncIntervalMs,
            windowMs: parts.config.pitr.windowMs,
            rebaseEveryMs: parts.config.pitr.rebaseEveryMs,
            rebaseRatio: parts.config.pitr.rebaseRatio,
            checkpointPages: parts.config.pitr.checkpointPages,
            walHardPages: parts.config.pitr.walHardPages,
            walMaxPages: parts.config.pitr.walMaxPages,
            logger: this.logger,
            onChange: (status) => this.notify('pitr', status),
            serialize: (work) => this.inLine(work),
          })
        : undefined;
    const beat = this.config.heartbeat;
    this.heartbeat = beat
      ? new Heartbeat({ ...beat, logger: this.logger, clock: this.clock, version: buildInfo().version })
      : undefined;
  }

  static async open(options: LifeboatOptions = {}): Promise<Lifeboat> {
    const env = options.env ?? process.env;
    const logger = libraryLogger(options.logger, env);
    const cwd = options.cwd ?? process.cwd();
    const config = loadConfig({
      ...(options.configFile !== undefined ? { configFile: options.configFile } : {}),
      env,
      cwd,
      ...(options.config ? { overrides: options.config } : {}),
    });
    for (const warning of warningsOf(config)) logger.warn(`configuration: ${warning}`);
    if (options.collectGarbage) enableGarbageCollection();
    const parts = await compose({
      config,
      logger,
      dbPath: options.dbPath,
      cwd,
      clock: options.clock,
      remoteStore: options.remote,
    });
    try {
      return await Lifeboat.start(parts, options);
    } catch (err) {
      parts.close();
      throw err;
    }
  }

  /**
   * Never waits for the remote store (it is checked in the background, see RemoteMonitor),
   * except for a start-up restore from it (HQL_BACKUP_RESTORE=s3:…), which needs it and is
   * bounded by cluster.s3_timeout per request.
   */
  private static async start(parts: Composition, options: LifeboatOptions): Promise<Lifeboat> {
    const { dbFile, mode, logger } = parts;
    await ensureDir(parts.config.paths.backupsDir);
    if (mode === 'embedded') await ensureDir(dirname(dbFile));
    else if (options.waitForDatabase) await waitForDatabase(parts, options.signal);
    else await assertDatabaseExists(dbFile);
    const lock = await acquireLock(parts.locks.database, mode === 'embedded' ? 'embedded database' : 'sidecar backups');
    let handle: BetterSqlite3.Database | undefined;
    try {
      // Before the database is opened: complete an interrupted restore, then HQL_BACKUP_RESTORE.
      await restoreAtStartup({
        config: parts.config,
        dbFile,
        logger,
        sidecar: mode === 'sidecar',
        plan: (source) =>
          parts.restorePlan(source, {
            requestedBy: 'startup',
            force: parts.config.restore.force,
            signal: options.signal,
          }),
      });
      let createdNow = false;
      if (mode === 'embedded') {
        await refuseEmptyOverBackups(parts);
        createdNow = !(await stat(dbFile).catch(() => undefined));
        handle = openEmbedded(dbFile, options.database);
      }
      const lifeboat = new Lifeboat({
        parts,
        createdNow,
        handle,
        databaseOptions: options.database,
        lock,
        schedule: options.schedule ?? true,
      });
      await lifeboat.begin(options.backupOnStart ?? 'if-none');
      return lifeboat;
    } catch (err) {
      handle?.close();
      await lock.release();
      throw err;
    }
  }

  /** The application's database handle (embedded mode only). */
  get db(): BetterSqlite3.Database {
    if (!this.handle) {
      throw new LifeboatError('NO_HANDLE', `Lifeboat runs as a sidecar for ${this.dbFile} and has no database handle`, {
        hint: 'open without dbPath to embed the database',
      });
    }
    return this.handle;
  }

  private async begin(backupOnStart: 'if-none' | 'always' | 'never'): Promise<void> {
    const next = this.scheduler?.nextRunAt();
    this.logger.info(
      {
        mode: this.mode,
        database: this.dbFile,
        backups: this.local.dir,
        remote: this.remote?.description ?? 'none',
        schedule: this.config.backupCron,
        nextBackup: next?.toISOString() ?? 'not scheduled',
      },
      `Lifeboat started: database ${this.dbFile}, backups in ${this.local.dir}, next scheduled backup ${
        next?.toISOString() ?? 'none'
      }`,
    );
    this.scheduler?.start();
    const wantsFirst =
      backupOnStart === 'always' || (backupOnStart === 'if-none' && (await this.localBackups()).length === 0);
    if (wantsFirst) {
      this.logger.info('no backup exists yet: taking the first one now');
      this.startupBackup = this.backup().then(
        () => undefined,
        (err: unknown) => {
          this.logger.error({ err: describe(err) }, 'first backup failed; the schedule will try again');
        },
      );
    }
    // After the first backup was queued: the catch-up runs after it, and finds it pushed.
    this.monitor?.start();
    this.continuous?.start();
  }

  /**
   * Continuous backup: resolves with the last transaction id once every transaction committed
   * before the call is in the bucket (PITR_NOT_RUNNING when continuous backup is off or not
   * running). Call it before a planned shutdown or after a write that must not be lost.
   */
  async flush(options: { signal?: AbortSignal } = {}): Promise<number> {
    if (!this.continuous) {
      throw new LifeboatError('PITR_NOT_RUNNING', 'continuous backup is off', {
        hint: 'turn it on with [pitr] enabled = true (LIFEBOAT_PITR=true); see docs/continuous-backup.md',
      });
    }
    return this.continuous.flush(options.signal);
  }

  /** Continuous backup's state, or undefined when it is off. */
  continuousStatus(): ContinuousStatus | undefined {
    return this.continuous?.status();
  }

  /** Resolves when the start-up backup (if any) has finished, successfully or not. */
  async whenStarted(): Promise<void> {
    await this.startupBackup;
  }

  /**
   * Takes a backup now. Runs after any backup already in progress (never two at once), so
   * the result always includes every write committed before this call.
   */
  backup(options: { onProgress?: BackupPlan['onProgress'] } = {}): Promise<BackupReport> {
    if (this.closed) return Promise.reject(new LifeboatError('CLOSED', 'this Lifeboat instance is closed'));
    const plan = this.parts.backupPlan({ onProgress: options.onProgress, createdNow: this.createdNow });
    const run = this.queue.then(() => runBackup(plan));
    this.queue = run.then(
      (report) => {
        this.lastReport = report;
        this.lastAttemptFailed = false;
        this.counts.successes++;
        this.retentionRuns.local[report.localRetention]++;
        if (report.remote) this.retentionRuns.remote[report.remote.retention]++;
        this.histograms.durations.observe(report.durationMs / 1000);
        this.histograms.sizes.observe(report.bytes);
        if (report.remote) this.monitor?.pushed(report.remote);
        void this.heartbeat?.beat({
          ...report,
          database: basename(this.dbFile),
          nodeId: this.config.nodeId,
          pushed: report.remote !== undefined,
        });
        this.notify('backup', report);
      },
      (err: unknown) => {
        const remoteOnly = err instanceof RemotePushError;
        this.lastAttemptFailed = true;
        this.lastFailure = { at: this.clock.now(), message: describe(err), remoteOnly };
        if (remoteOnly) {
          this.counts.pushFailures++;
          this.retentionRuns.local[err.report.localRetention]++;
          this.monitor?.pushFailed(err);
        } else {
          this.counts.failures++;
          this.lastLocalFailureAt = this.lastFailure.at;
        }
        this.notify('error', asError(err), 'backup');
      },
    );
    return run;
  }

  /** Runs work after the backup in progress and before the next (the catch-up push). */
  private inLine<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * The remote store's health: ok, failing (with the error and since when) or unknown (not
   * heard from yet); undefined without a remote store.
   */
  remoteStatus(): RemoteStatus | undefined {
    return this.monitor?.status();
  }

  /**
   * Asks the remote store now instead of at the next check, and pushes the newest local
   * backup when the store lacks it. Resolves with the resulting status (never rejects for a
   * failing store: the status says why).
   */
  async checkRemote(): Promise<RemoteStatus | undefined> {
    if (this.closed) throw new LifeboatError('CLOSED', 'this Lifeboat instance is closed');
    return this.monitor?.check();
  }

  /**
   * Replaces the database with a backup, as HQL_BACKUP_RESTORE does at start-up but now:
   * `s3:<object>`, `s3:latest` or `file:<absolute path>`. The backup is fetched and validated
   * beside the database first; only then is the old one moved aside (kept, never deleted) and
   * the new one renamed into place. Runs after any backup in progress, and no backup starts
   * during it.
   *
   * Embedded mode: the handle is closed for the swap and a new one opened on the result, also
   * when the restore fails; `db` returns the new handle, the one taken before is closed. Close
   * your statements and transactions first. Sidecar mode: stop the application that writes the
   * database first; a database another process holds open in WAL mode is refused (DB_IN_USE),
   * one held in rollback-journal mode cannot be detected.
   *
   * Unlike start-up, a source applied before is applied again: calling restore() is the intent.
   */
  restore(
    source: string,
    options: {
      skipValidation?: boolean;
      onProgress?: (bytes: number, total: number | undefined) => void;
      /** With `pitr:latest` or `pitr:time:…`: on this timeline, a branch an earlier restore left (`--timeline`). */
      timeline?: number;
    } = {},
  ): Promise<RestoreReport> {
    if (this.closed) return Promise.reject(new LifeboatError('CLOSED', 'this Lifeboat instance is closed'));
    let plan: ReturnType<Composition['restorePlan']>;
    try {
      let parsed = parseRestoreSource(source, { name: 'source' });
      if (options.timeline !== undefined) {
        const on = parsed.kind === 'pitr' ? onTimeline(parsed, String(options.timeline)) : 'it is not a pitr: source';
        if (typeof on === 'string') throw new ConfigError([`restore ${source}, timeline ${options.timeline}: ${on}`]);
        parsed = on;
      }
      plan = this.parts.restorePlan(parsed, {
        requestedBy: 'library',
        force: true,
        skipValidation: options.skipValidation,
        onProgress: options.onProgress,
      });
    } catch (err) {
      return Promise.reject(err);
    }
    const run = this.queue.then(async () => {
      this.handle?.close();
      try {
        const report = await restoreDatabase(plan);
        this.logger.warn(
          { origin: report.origin, movedAside: report.movedAside },
          `restored ${report.origin} into ${this.dbFile}`,
        );
        return report;
      } finally {
        if (this.handle) this.handle = openEmbedded(this.dbFile, this.databaseOptions);
      }
    });
    this.queue = run.then(
      (report) => this.notify('restore', report),
      (err: unknown) => this.notify('error', asError(err), 'restore'),
    );
    return run;
  }

  /**
   * Emits to the application's listeners. A listener that throws is logged, not thrown into
   * the backup queue (which would fail the backup that succeeded); `error` without a listener
   * is not emitted, where a plain EventEmitter would throw it into that queue.
   */
  private notify<K extends keyof LifeboatEvents>(event: K, ...args: LifeboatEvents[K]): void {
    if (event === 'error' && this.listenerCount('error') === 0) return;
    try {
      EventEmitter.prototype.emit.call(this, event, ...args);
    } catch (err) {
      this.logger.error({ err: describe(err), event }, `a listener of the '${event}' event threw: ${describe(err)}`);
    }
  }

  async list(): Promise<BackupListing> {
    const local = await this.localBackups();
    const remote = this.remote ? toEntries(await this.remote.list()) : undefined;
    return { local, remote };
  }

  private async localBackups(): Promise<BackupEntry[]> {
    return toEntries(await this.local.list());
  }

  nextBackupAt(): Date | undefined {
    return this.scheduler?.nextRunAt();
  }

  status(): {
    lastBackup: BackupReport | undefined;
    lastError: string | undefined;
    nextBackupAt: Date | undefined;
    remote: RemoteStatus | undefined;
  } {
    return {
      lastBackup: this.lastReport,
      lastError: this.lastAttemptFailed ? this.lastFailure?.message : undefined,
      nextBackupAt: this.nextBackupAt(),
      remote: this.remoteStatus(),
    };
  }

  /**
   * Counts, last success and failure, the newest backups in the folder and in the remote store
   * (as last listed: S3 is never asked here) and the schedule: what /health and /metrics report.
   */
  async statusReport(): Promise<StatusReport> {
    const now = this.clock.now();
    const local = await this.localBackups().catch(() => [] as BackupEntry[]);
    const last = this.lastReport;
    return {
      now,
      startedAt: this.startedAt,
      mode: this.mode,
      database: this.dbFile,
      db: basename(this.dbFile),
      nodeId: this.config.nodeId,
      build: buildInfo(),
      ...this.counts,
      retentionRuns: { local: { ...this.retentionRuns.local }, remote: { ...this.retentionRuns.remote } },
      durations: this.histograms.durations.data,
      sizes: this.histograms.sizes.data,
      lastSuccess: last
        ? {
            name: last.name,
            at: last.startedAt,
            durationMs: last.durationMs,
            bytes: last.bytes,
            pushed: last.remote !== undefined,
          }
        : undefined,
      lastFailure: this.lastFailure,
      lastLocalFailureAt: this.lastLocalFailureAt,
      newestLocal: newestBackup(local, now),
      localCount: local.length,
      nextBackupAt: this.nextBackupAt(),
      maxAgeMs: this.schedule ? maxBackupAgeMs(this.schedule, now) : undefined,
      remote: this.remoteStatus(),
      heartbeat: this.heartbeat?.status(),
      ...(this.continuous
        ? { pitr: { ...this.continuous.status(), syncIntervalMs: this.config.pitr.syncIntervalMs } }
        : {}),
    };
  }

  /** Stops the schedule, waits for a running backup, closes the database. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.monitor?.stop();
    // First: it ships what is committed, and its connections go before the application's.
    await this.continuous?.close();
    await this.scheduler?.stop();
    await this.queue;
    await this.heartbeat?.settled();
    this.handle?.close();
    await this.lock.release();
    this.parts.close();
    this.logger.info('Lifeboat stopped');
  }
}

function toEntries(objects: readonly StoredObject[]): BackupEntry[] {
  return sortBackupsNewestFirst(objects).map((o) => ({
    name: o.name,
    nodeId: o.id.nodeId,
    time: new Date(o.id.unixSeconds * 1000),
    size: o.size,
  }));
}

function openEmbedded(dbFile: string, options: BetterSqlite3.Options | undefined): BetterSqlite3.Database {
  const handle = new Database(dbFile, options);
  handle.pragma('journal_mode = WAL');
  return handle;
}

/**
 * A missing database is created empty only when there is nothing to lose: a typo in data_dir
 * or a lost disk must not start the application on an empty database whose first backup would
 * then become the newest. The local backups folder is checked here, at once.
 */
async function refuseEmptyOverBackups(parts: Composition): Promise<void> {
  if (await stat(parts.dbFile).catch(() => undefined)) return;
  const newest = sortBackupsNewestFirst(await parts.local.list())[0];
  if (!newest) return;
  throw new LifeboatError(
    'DB_MISSING',
    `no database at ${parts.dbFile}, but ${parts.local.dir} holds backups of it (the newest is ${newest.name}); ` +
      'Lifeboat does not create an empty database over them',
    {
      hint:
        'restore one first (`lifeboat restore local:latest`, or HQL_BACKUP_RESTORE_IF_MISSING=local:latest ' +
        `to do it ` +
        'at every start where the database is missing), or check data_dir / filename_db (HQL_DATA_DIR, ' +
        'HQL_FILENAME_DB); to start empty on purpose, move the backups elsewhere',
    },
  );
}

/** Sleeps on the parts' clock until the sidecar's database exists (checked every second). */
async function waitForDatabase(parts: Composition, signal: AbortSignal | undefined): Promise<void> {
  const stop = signal ?? new AbortController().signal;
  let nextNote = 0;
  for (;;) {
    if (await stat(parts.dbFile).catch(() => undefined)) return;
    if (stop.aborted) {
      throw new LifeboatError('ABORTED', `stopped while waiting for the database ${parts.dbFile} to appear`);
    }
    const now = parts.clock.now().getTime();
    if (now >= nextNote) {
      parts.logger.info(
        { db: parts.dbFile },
        `waiting for the database ${parts.dbFile} to appear (the application creates it)`,
      );
      nextNote = now + 60_000;
    }
    await parts.clock.sleepUntil(new Date(now + 1000), stop);
  }
}

/** A sidecar never creates the database it backs up: a wrong path must fail loudly. */
async function assertDatabaseExists(dbFile: string): Promise<void> {
  const s = await stat(dbFile).catch(() => undefined);
  if (!s?.isFile()) {
    throw new LifeboatError('DB_MISSING', `no database file at ${dbFile}`, {
      hint: 'check --db: the sidecar backs up an existing database that another process writes',
    });
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function retentionCounts(): Record<SnapshotRetentionResult, number> {
  return { deleted: 0, nothing: 0, skipped: 0, failed: 0 };
}
