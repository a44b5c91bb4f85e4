import { parseBackupName } from '../backup/naming.js';
import { FUTURE_TOLERANCE_MS, SNAPSHOT_RETENTION_RESULTS, type SnapshotRetentionResult } from '../backup/retention.js';
import { GENERATION_REASONS, RETENTION_RESULTS } from '../pitr/capture/capture.js';
import { CONTINUOUS_STATES, type ContinuousStatus } from '../pitr/continuous.js';
import { type CronSchedule, nextFireTimes } from '../schedule/cron.js';
import type { BuildInfo } from '../version.js';

/**
 * What the status server reports, as plain data: gathered by Lifeboat.statusReport(),
 * judged by assessHealth() and rendered by renderMetrics(), both pure.
 *
 * Two kinds of facts, kept apart: what this process did since it started (the counts, the
 * histograms, `lastSuccess`, `lastFailure`: they start at zero after a restart, as
 * Prometheus counters do), and what the stores hold (`newestLocal`, `remote.newestBackup`:
 * read from the folder and the bucket, so they survive a restart and a deploy).
 */
export interface StatusReport {
  readonly now: Date;
  readonly startedAt: Date;
  readonly mode: 'embedded' | 'sidecar';
  readonly database: string;
  /** The `db` label of every series: the database's file name (`hiqlite.db`, `app.db`). */
  readonly db: string;
  /** The `node_id` label of every series (`backup_node_{node_id}_…`). */
  readonly nodeId: number;
  readonly build: BuildInfo;
  /** Runs that kept a checked backup and pushed it (or had no remote store to push to). */
  readonly successes: number;
  /** Runs that kept no backup (the copy, the check, the disk failed). Push failures are not among them. */
  readonly failures: number;
  /** Runs that kept their local backup but whose push to the remote store failed. */
  readonly pushFailures: number;
  /** The runs' retention passes, by store (remote: after a push that worked) and result. */
  readonly retentionRuns: Readonly<Record<'local' | 'remote', Readonly<Record<SnapshotRetentionResult, number>>>>;
  /** Durations (seconds) and sizes (bytes) of the successful runs since the start. */
  readonly durations: HistogramData;
  readonly sizes: HistogramData;
  readonly lastSuccess:
    | {
        readonly name: string;
        readonly at: Date;
        readonly durationMs: number;
        readonly bytes: number;
        readonly pushed: boolean;
      }
    | undefined;
  /** The most recent failed run, of either kind; `remoteOnly`: it kept its local backup, only its push failed. */
  readonly lastFailure: { readonly at: Date; readonly message: string; readonly remoteOnly?: boolean } | undefined;
  /** When the most recent run that kept no backup ended (push failures aside). */
  readonly lastLocalFailureAt: Date | undefined;
  /**
   * Newest backup in the local folder (by the time in its name), from any run or process; a
   * name in the future (a clock that was ahead) is passed over: see `newestBackup()`.
   */
  readonly newestLocal: NamedBackup | undefined;
  readonly localCount: number;
  readonly nextBackupAt: Date | undefined;
  /** Backups older than this mean the schedule is not keeping up; undefined without a schedule. */
  readonly maxAgeMs: number | undefined;
  /** The remote store's health; absent without one. */
  readonly remote?: RemoteStatus | undefined;
  /** The heartbeat after each successful backup; absent when none is configured. */
  readonly heartbeat?: HeartbeatStatus | undefined;
  /** Continuous backup; absent when it is off. */
  readonly pitr?: PitrReport | undefined;
}

/** Continuous backup as /health and /metrics see it (src/pitr/continuous.ts). */
export interface PitrReport extends ContinuousStatus {
  readonly syncIntervalMs: number;
}

/** Lag beyond this many sync intervals makes /health degraded (spec: the lag alert at 10 ×). */
export const PITR_LAG_INTERVALS = 10;

/** Seconds since the oldest committed transaction not yet in the bucket was seen (0: none waits). */
export function pitrLagSeconds(p: PitrReport, now: Date): number {
  const oldest = p.capture?.oldestUnshippedMs;
  return oldest === undefined ? 0 : Math.max(0, (now.getTime() - oldest) / 1000);
}

export interface NamedBackup {
  readonly name: string;
  /** The time in its name. */
  readonly at: Date;
}

/**
 * The newest backup among `objects` by the time in its name, passing over names more than
 * FUTURE_TOLERANCE_MS after `now`: a backup named by a clock that was ahead would keep every
 * "too old" alert quiet until that time comes. Other names are ignored.
 */
export function newestBackup(objects: readonly { readonly name: string }[], now: Date): NamedBackup | undefined {
  let best: NamedBackup | undefined;
  const limit = now.getTime() + FUTURE_TOLERANCE_MS;
  for (const { name } of objects) {
    const id = parseBackupName(name);
    const ms = id ? id.unixSeconds * 1000 : NaN;
    if (!(ms <= limit) || (best && best.at.getTime() >= ms)) continue;
    best = { name, at: new Date(ms) };
  }
  return best;
}

/**
 * The newest backup this node can restore from: in the local folder, in the remote store as
 * last listed, or the one this process just made. Survives a restart, unlike the counts.
 */
export function newestRestorable(r: StatusReport): (NamedBackup & { readonly where: 'local' | 'remote' }) | undefined {
  const candidates: Array<NamedBackup & { where: 'local' | 'remote' }> = [];
  if (r.lastSuccess) {
    // By the time in its name, as the others (the run's start, to the millisecond, is a little later).
    const id = parseBackupName(r.lastSuccess.name);
    const at = id ? new Date(id.unixSeconds * 1000) : r.lastSuccess.at;
    candidates.push({ name: r.lastSuccess.name, at, where: 'local' });
  }
  if (r.newestLocal) candidates.push({ ...r.newestLocal, where: 'local' });
  if (r.remote?.newestBackup) candidates.push({ ...r.remote.newestBackup, where: 'remote' });
  return candidates.reduce<(typeof candidates)[number] | undefined>(
    (best, c) => (best && best.at >= c.at ? best : c),
    undefined,
  );
}

/** Observations in Prometheus buckets: `counts[i]` observations were <= `bounds[i]` (cumulative). */
export interface HistogramData {
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/**
 * Backup durations, in seconds: a small database takes well under a second, a few GB over a
 * slow uplink most of an hour. Buckets are fixed so that rates and quantiles can be summed
 * across sidecars.
 */
export const BACKUP_DURATION_BUCKETS: readonly number[] = [0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** Backup sizes (plain SQLite bytes): ×4 steps from 64 KiB to 64 GiB. */
export const BACKUP_SIZE_BUCKETS: readonly number[] = Array.from({ length: 11 }, (_, i) => 64 * 1024 * 4 ** i);

/** An accumulating histogram; `data` is a snapshot. */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[]) {
    if (bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= bounds[i - 1]!)))
      throw new RangeError('histogram bounds must be finite and increasing');
    this.#bounds = bounds;
    this.#counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    this.#bounds.forEach((bound, i) => {
      if (value <= bound) this.#counts[i]!++;
    });
    this.#sum += value;
    this.#count++;
  }

  get data(): HistogramData {
    return { bounds: this.#bounds, counts: [...this.#counts], sum: this.#sum, count: this.#count };
  }
}

/** What the heartbeat did since the start (src/server/heartbeat.ts). */
export interface HeartbeatStatus {
  /** Where it goes, without path or query: those often hold the service's token. */
  readonly target: string;
  readonly method: 'GET' | 'POST';
  readonly successes: number;
  readonly failures: number;
  readonly lastSuccess: Date | undefined;
  /** `message` names the HTTP status or the network error, never the URL. */
  readonly lastFailure: { readonly at: Date; readonly message: string } | undefined;
}

/** `unknown` until the store was first heard from (or failed); `ok` while it answers. */
export type RemoteState = 'unknown' | 'ok' | 'failing';

/** What Lifeboat knows of the remote store, from its pushes and its probes (src/remote/monitor.ts). */
export interface RemoteStatus {
  /** The store as logs name it (`s3 bucket "b" at https://…`); never a secret. */
  readonly store: string;
  readonly state: RemoteState;
  /** When it entered this state (the start, while unknown). */
  readonly since: Date;
  /** The most recent failure, kept after a recovery; `code` is the LifeboatError code (S3_TIMEOUT, …). */
  readonly lastError: { readonly at: Date; readonly message: string; readonly code: string | undefined } | undefined;
  /** When the store last answered (a probe, a push). */
  readonly lastSuccess: Date | undefined;
  /** While failing: when it is probed next. */
  readonly nextCheckAt: Date | undefined;
  /** Backups pushed since start because their own push had failed (the catch-up). */
  readonly catchUpPushes: number;
  /**
   * Backups in the store as this process last saw them: listed at the start (and at every
   * probe and catch-up), then followed through its own pushes and expiries. Undefined until
   * the store was first listed. Another process's pushes show at the next listing.
   */
  readonly backups: number | undefined;
  /** The newest of them, by the time in its name (names in the future passed over). */
  readonly newestBackup: NamedBackup | undefined;
}

export type HealthState = 'ok' | 'failing' | 'degraded' | 'stale';

export interface Health {
  readonly state: HealthState;
  readonly healthy: boolean;
  readonly reason: string;
}

/**
 * Healthy unless the most recent attempt failed ("failing"), the remote store fails
 * ("degraded": backups are taken and kept locally, none leaves the machine), or the newest
 * backup (or, before the first one, the start) is older than `maxAgeMs` ("stale"). A fresh
 * start is healthy until a backup is due and missed. An attempt that kept its local backup
 * and only failed to push is judged by the remote's state: once the store answers again and
 * the newest backup was pushed, all is well.
 */
export function assessHealth(r: StatusReport): Health {
  const pushOnly = r.lastFailure?.remoteOnly === true && r.remote !== undefined;
  if (r.lastFailure && !pushOnly && (!r.lastSuccess || r.lastFailure.at >= r.lastSuccess.at)) {
    return {
      state: 'failing',
      healthy: false,
      reason: `the last backup attempt failed at ${r.lastFailure.at.toISOString()}: ${r.lastFailure.message}`,
    };
  }
  if (r.remote?.state === 'failing') {
    const { store, since, lastError, nextCheckAt } = r.remote;
    const why = lastError ? `: ${lastError.message}${lastError.code ? ` (${lastError.code})` : ''}` : '';
    const next = nextCheckAt ? `; next check at ${nextCheckAt.toISOString()}` : '';
    return {
      state: 'degraded',
      healthy: false,
      reason:
        `the remote store (${store}) fails since ${since.toISOString()}${why}; backups are kept locally ` +
        `and the newest is pushed once it answers${next}`,
    };
  }
  const pitr = r.pitr;
  if (pitr && pitr.state !== 'starting') {
    const lag = pitrLagSeconds(pitr, r.now);
    const bound = (PITR_LAG_INTERVALS * pitr.syncIntervalMs) / 1000;
    if (pitr.state === 'retrying' || pitr.state === 'refused' || pitr.state === 'stopped' || lag > bound) {
      return {
        state: 'degraded',
        healthy: false,
        reason:
          lag > bound && pitr.state !== 'refused'
            ? `continuous backup lags ${lag.toFixed(0)} s behind the database (more than ${bound} s)` +
              `${pitr.error ? `: ${pitr.error}` : ''}; commits wait in memory and are sent once the bucket answers`
            : `continuous backup is ${pitr.state}${pitr.error ? `: ${pitr.error}` : ''}; snapshots are not affected`,
      };
    }
  }
  if (r.maxAgeMs !== undefined) {
    const newest = newestRestorable(r);
    const since = newest?.at ?? r.startedAt;
    const age = r.now.getTime() - since.getTime();
    if (age > r.maxAgeMs) {
      const what = newest
        ? `the newest backup (${newest.name}) is from ${since.toISOString()}`
        : `no backup since the start at ${since.toISOString()}`;
      return {
        state: 'stale',
        healthy: false,
        reason: `${what}, more than ${Math.round(r.maxAgeMs / 3_600_000)} h ago (twice the schedule's interval)`,
      };
    }
  }
  return {
    state: 'ok',
    healthy: true,
    reason: r.lastSuccess
      ? `last backup ${r.lastSuccess.name} at ${r.lastSuccess.at.toISOString()}`
      : 'no backup attempted yet',
  };
}

/** Twice the time between the schedule's next two runs: a missed run is tolerated, two are not. */
export function maxBackupAgeMs(schedule: CronSchedule, now: Date): number | undefined {
  const [a, b] = nextFireTimes(schedule, now, 2);
  return a && b ? 2 * (b.getTime() - a.getTime()) : undefined;
}

/** A label value as the text format needs it: backslash, double quote and line feed escaped. */
function labelValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

/**
 * Prometheus text exposition format 0.0.4. Written by hand: it is a few lines of text, and a
 * client library would bring a registry and default process metrics this does not need.
 *
 * Every series carries `db` (the database's file name) and `node_id`, so one alert rule
 * covers every sidecar and names the database it fires for (docs/monitoring.md).
 */
export function renderMetrics(r: StatusReport): string {
  const lines: string[] = [];
  const common = `db="${labelValue(r.db)}",node_id="${r.nodeId}"`;
  const labels = (extra: Record<string, string>) =>
    `{${[common, ...Object.entries(extra).map(([k, v]) => `${k}="${labelValue(v)}"`)].join(',')}}`;
  const number = (value: number) =>
    Number.isFinite(value) ? String(value) : Number.isNaN(value) ? 'NaN' : value > 0 ? '+Inf' : '-Inf';
  const metric = (
    name: string,
    type: 'counter' | 'gauge',
    help: string,
    samples: Array<[labels: Record<string, string>, value: number]>,
  ) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [extra, value] of samples) lines.push(`${name}${labels(extra)} ${number(value)}`);
  };
  const histogram = (name: string, help: string, h: HistogramData) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    for (const [i, bound] of h.bounds.entries())
      lines.push(`${name}_bucket${labels({ le: String(bound) })} ${h.counts[i]}`);
    lines.push(`${name}_bucket${labels({ le: '+Inf' })} ${h.count}`);
    lines.push(`${name}_sum${labels({})} ${number(h.sum)}`, `${name}_count${labels({})} ${h.count}`);
  };
  const seconds = (d: Date | undefined) => (d ? d.getTime() / 1000 : 0);
  const one = (value: number): Array<[Record<string, string>, number]> => [[{}, value]];

  metric('lifeboat_build_info', 'gauge', 'Always 1: the Lifeboat version, the SQLite library and Node.js.', [
    [{ version: r.build.version, sqlite: r.build.sqlite, node: r.build.node }, 1],
  ]);
  metric(
    'lifeboat_start_time_seconds',
    'gauge',
    'When this process started; the counters count from here.',
    one(seconds(r.startedAt)),
  );

  // Facts from the stores: the same after a restart.
  metric(
    'lifeboat_backup_last_success_timestamp_seconds',
    'gauge',
    'Time of the newest backup this node can restore from (local folder, or the remote store as last listed), ' +
      'by the time in its name; kept across restarts (0: none).',
    one(seconds(newestRestorable(r)?.at)),
  );
  metric(
    'lifeboat_newest_local_backup_timestamp_seconds',
    'gauge',
    'Time in the name of the newest backup in the local folder (0: none).',
    one(seconds(r.newestLocal?.at)),
  );
  metric('lifeboat_local_backups', 'gauge', 'Backups in the local folder.', one(r.localCount));

  // What this process did since it started.
  metric(
    'lifeboat_backups_total',
    'counter',
    'Backup runs since the start, by result: success (kept, and pushed when a remote store is set), ' +
      'push_failed (kept locally, the push failed), failure (nothing kept). Each run counts once.',
    [
      [{ result: 'success' }, r.successes],
      [{ result: 'push_failed' }, r.pushFailures],
      [{ result: 'failure' }, r.failures],
    ],
  );
  metric(
    'lifeboat_remote_push_failures_total',
    'counter',
    'Runs whose backup was kept locally but whose push failed: the same runs as ' +
      'lifeboat_backups_total{result="push_failed"} (kept under its old name).',
    one(r.pushFailures),
  );
  metric(
    'lifeboat_backup_retention_runs_total',
    'counter',
    'Retention passes of the backup runs since the start, by store (local; remote, after a push that worked) and ' +
      'result: deleted, nothing (nothing old enough), skipped (this clock and the S3 server’s disagree), failed ' +
      '(a listing or a deletion was refused: credentials that may not delete fail every time).',
    (r.remote ? (['local', 'remote'] as const) : (['local'] as const)).flatMap((store) =>
      SNAPSHOT_RETENTION_RESULTS.map((result): [Record<string, string>, number] => [
        { store, result },
        r.retentionRuns[store][result],
      ]),
    ),
  );
  histogram('lifeboat_backup_duration_seconds', 'Duration of the successful backup runs since the start.', r.durations);
  histogram(
    'lifeboat_backup_size_bytes',
    'Size of the successful backups since the start (plain SQLite bytes).',
    r.sizes,
  );
  metric(
    'lifeboat_backup_last_failure_timestamp_seconds',
    'gauge',
    'When the last run that kept no backup ended (0: none since the start; push failures aside).',
    one(seconds(r.lastLocalFailureAt)),
  );
  metric(
    'lifeboat_backup_last_duration_seconds',
    'gauge',
    'Duration of the last successful run since the start (0: none).',
    one((r.lastSuccess?.durationMs ?? 0) / 1000),
  );
  metric(
    'lifeboat_backup_last_bytes',
    'gauge',
    'Size of the last successful backup since the start (plain SQLite bytes; 0: none).',
    one(r.lastSuccess?.bytes ?? 0),
  );
  metric(
    'lifeboat_next_backup_timestamp_seconds',
    'gauge',
    'When the next scheduled backup runs (0: not scheduled).',
    one(seconds(r.nextBackupAt)),
  );
  const remote = r.remote;
  if (remote) {
    const up = remote.state === 'ok' ? 1 : remote.state === 'failing' ? 0 : NaN;
    metric(
      'lifeboat_remote_up',
      'gauge',
      '1 while the remote store answers, 0 while it fails (NaN: not heard yet).',
      one(up),
    );
    metric(
      'lifeboat_remote_last_success_timestamp_seconds',
      'gauge',
      'When the remote store last answered a probe or a push (0: not since the start).',
      one(seconds(remote.lastSuccess)),
    );
    metric(
      'lifeboat_remote_failing_since_timestamp_seconds',
      'gauge',
      'Since when the remote store fails (0: it does not).',
      one(remote.state === 'failing' ? seconds(remote.since) : 0),
    );
    metric(
      'lifeboat_remote_catch_up_pushes_total',
      'counter',
      'Backups pushed after the remote store came back, because their own push had failed.',
      one(remote.catchUpPushes),
    );
    // Absent until the store was first listed: unknown is not "none".
    if (remote.backups !== undefined) {
      metric(
        'lifeboat_newest_remote_backup_timestamp_seconds',
        'gauge',
        'Time in the name of the newest backup in the remote store, as last listed; kept across restarts (0: none).',
        one(seconds(remote.newestBackup?.at)),
      );
      metric('lifeboat_remote_backups', 'gauge', 'Backups in the remote store, as last listed.', one(remote.backups));
    }
  }
  const beat = r.heartbeat;
  if (beat) {
    metric('lifeboat_heartbeats_total', 'counter', 'Heartbeats sent after successful backups, by result.', [
      [{ result: 'success' }, beat.successes],
      [{ result: 'failure' }, beat.failures],
    ]);
    metric(
      'lifeboat_heartbeat_last_success_timestamp_seconds',
      'gauge',
      'When the heartbeat URL last answered 2xx (0: not since the start).',
      one(seconds(beat.lastSuccess)),
    );
  }
  const pitr = r.pitr;
  if (pitr) {
    const capture = pitr.capture;
    metric(
      'lifeboat_pitr_state',
      'gauge',
      'Continuous backup: 1 for its current state (starting, healthy, lagging, retrying, refused, stopped).',
      CONTINUOUS_STATES.map((state) => [{ state }, pitr.state === state ? 1 : 0]),
    );
    metric(
      'lifeboat_pitr_lag_seconds',
      'gauge',
      'Seconds since the oldest committed transaction not yet in the bucket was seen (0: everything is there).',
      one(pitrLagSeconds(pitr, r.now)),
    );
    const gauges: Array<[name: string, help: string, value: number]> = [
      ['lifeboat_pitr_last_txid', 'The last transaction seen committed in the WAL.', capture?.lastTxid ?? 0],
      [
        'lifeboat_pitr_shipped_txid',
        'The last transaction whose segment the bucket acknowledged.',
        capture?.shippedTxid ?? 0,
      ],
      ['lifeboat_pitr_queued_bytes', 'Sealed segments waiting for the bucket, bytes.', capture?.queuedBytes ?? 0],
      ['lifeboat_pitr_wal_frames', 'Frames in the WAL since its last restart.', capture?.walFrames ?? 0],
      ['lifeboat_pitr_segments', 'Segments sealed in the current generation.', capture?.segments ?? 0],
    ];
    for (const [name, help, value] of gauges) metric(name, 'gauge', help, one(value));
    // Counters since continuous backup (re)started: rate() and increase() handle the reset at a restart.
    const shipped = capture?.shipped;
    const checkpoints = capture?.checkpoints;
    metric(
      'lifeboat_pitr_shipped_segments_total',
      'counter',
      'Segments the bucket acknowledged.',
      one(shipped?.segments ?? 0),
    );
    metric(
      'lifeboat_pitr_shipped_bytes_total',
      'counter',
      'Bytes the bucket acknowledged (encrypted), by object kind.',
      [
        [{ kind: 'segment' }, shipped?.segmentBytes ?? 0],
        [{ kind: 'base' }, shipped?.baseBytes ?? 0],
      ],
    );
    metric(
      'lifeboat_pitr_checkpoints_total',
      'counter',
      "Capture's checkpoint cycles, by result (skipped: the application was writing; tried again later).",
      [
        [{ result: 'done' }, checkpoints?.done ?? 0],
        [{ result: 'skipped' }, checkpoints?.skipped ?? 0],
      ],
    );
    metric(
      'lifeboat_pitr_checkpoints_forced_total',
      'counter',
      'Checkpoint cycles run with the WAL at wal_hard_pages, which waited up to 250 ms for the write lock ' +
        '(also counted in lifeboat_pitr_checkpoints_total).',
      one(checkpoints?.forced ?? 0),
    );
    metric(
      'lifeboat_pitr_generations_total',
      'counter',
      'Generations capture began, by reason; any but first-start and restored leaves a gap in what can be restored ' +
        'by transaction.',
      GENERATION_REASONS.map((reason) => [{ reason }, capture?.generations[reason] ?? 0]),
    );
    metric(
      'lifeboat_pitr_last_gap_timestamp_seconds',
      'gauge',
      'When capture last began a generation that leaves a gap (unix time; 0: none since capture started).',
      one((capture?.lastGapMs ?? 0) / 1000),
    );
    metric(
      'lifeboat_pitr_resumes_total',
      'counter',
      'Starts of capture that went on with the generation before (no gap), by what proved it: wal or database.',
      [
        [{ from: 'wal' }, capture?.resumes.wal ?? 0],
        [{ from: 'database' }, capture?.resumes.database ?? 0],
      ],
    );
    metric(
      'lifeboat_pitr_checkpoint_lock_seconds_total',
      'counter',
      "Time capture's checkpoint cycles held the database's write lock, all together (commits wait meanwhile).",
      one((checkpoints?.lockMs ?? 0) / 1000),
    );
    metric(
      'lifeboat_pitr_retention_runs_total',
      'counter',
      "Looks of continuous backup's retention (at most hourly, after something was shipped), by result: deleted, " +
        'nothing (nothing older than the window), held (a restore runs), skipped (this clock and the S3 ' +
        "server's disagree), failed (the store refused; a store that may not delete fails every time).",
      RETENTION_RESULTS.map((result) => [{ result }, capture?.retention[result] ?? 0]),
    );
    metric(
      'lifeboat_pitr_base_failures_total',
      'counter',
      'Bases inside the generation that failed, by reason: diverged (the database file is not what its WAL ' +
        'history says: damaged on disk, or written around SQLite) or other (tried again later).',
      [
        [{ reason: 'diverged' }, capture?.baseFailures.diverged ?? 0],
        [{ reason: 'other' }, capture?.baseFailures.other ?? 0],
      ],
    );
    metric(
      'lifeboat_pitr_clock_offset_seconds',
      'gauge',
      "The S3 server's clock minus this machine's, from its latest answer (0 before one). Beyond ±600 s " +
        'retention deletes nothing, and the times recorded for restores by time follow a wrong clock.',
      one(Math.round((capture?.clockOffsetMs ?? 0) / 1000)),
    );
    metric(
      'lifeboat_pitr_checkpoint_last_lock_seconds',
      'gauge',
      "Time the last checkpoint cycle held the database's write lock.",
      one((checkpoints?.lastLockMs ?? 0) / 1000),
    );
  }
  metric('lifeboat_healthy', 'gauge', '1 when /health answers 200, else 0.', one(assessHealth(r).healthy ? 1 : 0));
  return `${lines.join('\n')}\n`;
}
