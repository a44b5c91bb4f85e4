import { type CronSchedule, nextFireTimes } from '../schedule/cron.js';

/**
 * What the status server reports, as plain data: gathered by Lifeboat.statusReport(),
 * judged by assessHealth() and rendered by renderMetrics(), both pure.
 */
export interface StatusReport {
  readonly now: Date;
  readonly startedAt: Date;
  readonly mode: 'embedded' | 'sidecar';
  readonly database: string;
  /** Completed backups (local copy verified; and pushed, when a remote store is set). */
  readonly successes: number;
  /** Failed attempts, of any kind (snapshot, check, push). */
  readonly failures: number;
  /** Failed attempts whose local backup was kept but whose push failed. */
  readonly pushFailures: number;
  readonly lastSuccess:
    | {
        readonly name: string;
        readonly at: Date;
        readonly durationMs: number;
        readonly bytes: number;
        readonly pushed: boolean;
      }
    | undefined;
  /** `remoteOnly`: that attempt kept its local backup, only its push failed (see `remote`). */
  readonly lastFailure: { readonly at: Date; readonly message: string; readonly remoteOnly?: boolean } | undefined;
  /** Newest backup in the local folder (by the time in its name), from any run or process. */
  readonly newestLocal: { readonly name: string; readonly at: Date } | undefined;
  readonly localCount: number;
  readonly nextBackupAt: Date | undefined;
  /** Backups older than this mean the schedule is not keeping up; undefined without a schedule. */
  readonly maxAgeMs: number | undefined;
  /** The remote store's health; absent without one. */
  readonly remote?: RemoteStatus | undefined;
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
  if (r.maxAgeMs !== undefined) {
    const since = r.newestLocal?.at ?? r.startedAt;
    const age = r.now.getTime() - since.getTime();
    if (age > r.maxAgeMs) {
      const what = r.newestLocal
        ? `the newest backup (${r.newestLocal.name}) is from ${since.toISOString()}`
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

/**
 * Prometheus text exposition format 0.0.4. Written by hand: it is a few lines of text, and a
 * client library would bring a registry and default process metrics this does not need.
 */
export function renderMetrics(r: StatusReport): string {
  const lines: string[] = [];
  const metric = (
    name: string,
    type: 'counter' | 'gauge',
    help: string,
    samples: Array<[labels: string, value: number]>,
  ) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${Number.isFinite(value) ? value : 'NaN'}`);
  };
  const seconds = (d: Date | undefined) => (d ? d.getTime() / 1000 : 0);
  metric('lifeboat_backups_total', 'counter', 'Backup attempts since start, by result.', [
    ['{result="success"}', r.successes],
    ['{result="failure"}', r.failures],
  ]);
  metric(
    'lifeboat_remote_push_failures_total',
    'counter',
    'Backups kept locally whose encrypted push to the remote store failed (among the failures above).',
    [['', r.pushFailures]],
  );
  metric(
    'lifeboat_backup_last_success_timestamp_seconds',
    'gauge',
    'When the last successful backup started (0: none since start).',
    [['', seconds(r.lastSuccess?.at)]],
  );
  metric(
    'lifeboat_backup_last_failure_timestamp_seconds',
    'gauge',
    'When the last failed backup attempt ended (0: none since start).',
    [['', seconds(r.lastFailure?.at)]],
  );
  metric('lifeboat_backup_last_duration_seconds', 'gauge', 'Duration of the last successful backup.', [
    ['', (r.lastSuccess?.durationMs ?? 0) / 1000],
  ]);
  metric('lifeboat_backup_last_bytes', 'gauge', 'Size of the last successful backup (plain SQLite bytes).', [
    ['', r.lastSuccess?.bytes ?? 0],
  ]);
  metric(
    'lifeboat_newest_local_backup_timestamp_seconds',
    'gauge',
    'Time in the name of the newest backup in the local folder (0: none).',
    [['', seconds(r.newestLocal?.at)]],
  );
  metric('lifeboat_local_backups', 'gauge', 'Backups in the local folder.', [['', r.localCount]]);
  metric('lifeboat_next_backup_timestamp_seconds', 'gauge', 'When the next scheduled backup runs (0: not scheduled).', [
    ['', seconds(r.nextBackupAt)],
  ]);
  const remote = r.remote;
  if (remote) {
    const up = remote.state === 'ok' ? 1 : remote.state === 'failing' ? 0 : NaN;
    metric('lifeboat_remote_up', 'gauge', '1 while the remote store answers, 0 while it fails (NaN: not heard yet).', [
      ['', up],
    ]);
    metric(
      'lifeboat_remote_last_success_timestamp_seconds',
      'gauge',
      'When the remote store last answered a probe or a push (0: not since start).',
      [['', seconds(remote.lastSuccess)]],
    );
    metric(
      'lifeboat_remote_failing_since_timestamp_seconds',
      'gauge',
      'Since when the remote store fails (0: it does not).',
      [['', remote.state === 'failing' ? seconds(remote.since) : 0]],
    );
    metric(
      'lifeboat_remote_catch_up_pushes_total',
      'counter',
      'Backups pushed after the remote store came back, because their own push had failed.',
      [['', remote.catchUpPushes]],
    );
  }
  metric('lifeboat_healthy', 'gauge', '1 when /health answers 200, else 0.', [['', assessHealth(r).healthy ? 1 : 0]]);
  return `${lines.join('\n')}\n`;
}
