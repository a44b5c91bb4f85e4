// The pure parts of the status server: the health rule, the metrics text, the listen address.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { probeDelayMs } from '../../src/remote/monitor.js';
import { parseCron } from '../../src/schedule/cron.js';
import { formatListen, parseListen } from '../../src/server/listen.js';
import {
  assessHealth,
  BACKUP_DURATION_BUCKETS,
  BACKUP_SIZE_BUCKETS,
  Histogram,
  maxBackupAgeMs,
  newestBackup,
  newestRestorable,
  type RemoteStatus,
  renderMetrics,
  type StatusReport,
} from '../../src/server/status.js';
import { parseSamples, sample } from '../support/metrics.js';

const H = 3_600_000;
const at = (iso: string) => new Date(iso);
const base: StatusReport = {
  now: at('2026-11-24T12:00:00Z'),
  startedAt: at('2026-11-24T11:00:00Z'),
  mode: 'sidecar',
  database: '/data/app.db',
  db: 'app.db',
  nodeId: 1,
  build: { version: '0.1.0', sqlite: '3.50.4', node: '20.19.0' },
  successes: 0,
  failures: 0,
  pushFailures: 0,
  retentionRuns: {
    local: { deleted: 0, nothing: 0, skipped: 0, failed: 0 },
    remote: { deleted: 0, nothing: 0, skipped: 0, failed: 0 },
  },
  durations: new Histogram(BACKUP_DURATION_BUCKETS).data,
  sizes: new Histogram(BACKUP_SIZE_BUCKETS).data,
  lastSuccess: undefined,
  lastFailure: undefined,
  lastLocalFailureAt: undefined,
  newestLocal: undefined,
  localCount: 0,
  nextBackupAt: at('2026-11-25T02:30:00Z'),
  maxAgeMs: 48 * H,
};

test('health: ok before anything is due; failing when the last attempt failed; ok again after a success', () => {
  assert.equal(assessHealth(base).state, 'ok');
  const failed = {
    ...base,
    failures: 1,
    lastFailure: { at: at('2026-11-24T11:30:00Z'), message: 'S3 upload failed: credentials rejected' },
  };
  assert.deepEqual([assessHealth(failed).state, assessHealth(failed).healthy], ['failing', false]);
  assert.match(assessHealth(failed).reason, /credentials rejected/);
  const recovered = {
    ...failed,
    successes: 1,
    lastSuccess: {
      name: 'backup_node_1_1795563000.sqlite',
      at: at('2026-11-24T11:40:00Z'),
      durationMs: 900,
      bytes: 4096,
      pushed: true,
    },
  };
  assert.equal(
    assessHealth({ ...recovered, newestLocal: { name: recovered.lastSuccess.name, at: recovered.lastSuccess.at } })
      .state,
    'ok',
  );
  // A failure after that success counts again.
  assert.equal(
    assessHealth({ ...recovered, lastFailure: { at: at('2026-11-24T11:50:00Z'), message: 'disk full' } }).state,
    'failing',
  );
});

test('health: stale when the newest backup, or the start without any, is older than the limit', () => {
  const old = { ...base, newestLocal: { name: 'backup_node_1_1.sqlite', at: at('2026-11-22T11:59:00Z') } };
  assert.equal(assessHealth(old).state, 'stale');
  assert.match(assessHealth(old).reason, /backup_node_1_1\.sqlite.*48 h/);
  assert.equal(assessHealth({ ...old, newestLocal: { name: 'n', at: at('2026-11-22T12:01:00Z') } }).state, 'ok');
  assert.equal(
    assessHealth({ ...base, startedAt: at('2026-11-21T00:00:00Z') }).state,
    'stale',
    'started days ago and never backed up',
  );
  assert.equal(
    assessHealth({ ...base, startedAt: at('2026-11-21T00:00:00Z'), maxAgeMs: undefined }).state,
    'ok',
    'no schedule, no limit',
  );
});

test('the age limit is twice the schedule interval', () => {
  const now = at('2026-11-24T12:00:00Z');
  assert.equal(maxBackupAgeMs(parseCron('0 30 2 * * * *', { timeZone: 'UTC' }), now), 48 * H);
  assert.equal(maxBackupAgeMs(parseCron('0 0 */6 * * * *', { timeZone: 'UTC' }), now), 12 * H);
  assert.equal(
    maxBackupAgeMs(parseCron('0 0 0 1 1 * 2027', { timeZone: 'UTC' }), now),
    undefined,
    'a schedule that fires once has no interval',
  );
});

test('metrics: Prometheus text with HELP/TYPE, runs by result, timestamps in seconds, db and node_id on all', () => {
  const text = renderMetrics({
    ...base,
    successes: 3,
    failures: 1,
    pushFailures: 1,
    lastSuccess: { name: 'b', at: at('2026-11-24T11:40:00Z'), durationMs: 1500, bytes: 123456, pushed: true },
    lastLocalFailureAt: at('2026-11-24T11:20:00Z'),
    newestLocal: { name: 'b', at: at('2026-11-24T11:40:00Z') },
    localCount: 3,
  });
  assert.match(
    text,
    new RegExp(
      /^# HELP lifeboat_backups_total .+\n# TYPE lifeboat_backups_total counter\n/.source +
        /lifeboat_backups_total\{db="app\.db",node_id="1",result="success"\} 3\n/.source,
      'm',
    ),
  );
  const get = (name: string, labels: Record<string, string> = {}) => sample(text, name, labels);
  assert.deepEqual(
    ['success', 'push_failed', 'failure'].map((result) => get('lifeboat_backups_total', { result })),
    [3, 1, 1],
  );
  assert.equal(get('lifeboat_remote_push_failures_total'), 1);
  assert.equal(get('lifeboat_backup_last_success_timestamp_seconds'), Date.parse('2026-11-24T11:40:00Z') / 1000);
  assert.equal(get('lifeboat_backup_last_failure_timestamp_seconds'), Date.parse('2026-11-24T11:20:00Z') / 1000);
  assert.equal(get('lifeboat_start_time_seconds'), Date.parse('2026-11-24T11:00:00Z') / 1000);
  assert.equal(get('lifeboat_backup_last_duration_seconds'), 1.5);
  assert.equal(get('lifeboat_backup_last_bytes'), 123456);
  assert.equal(get('lifeboat_local_backups'), 3);
  assert.equal(get('lifeboat_healthy'), 1);
  assert.equal(get('lifeboat_build_info', { version: '0.1.0', sqlite: '3.50.4', node: '20.19.0' }), 1);
  // Every sample carries db and node_id; every metric has HELP and TYPE.
  const samples = parseSamples(text);
  for (const s of samples) assert.deepEqual([s.labels.db, s.labels.node_id], ['app.db', '1'], s.name);
  const families = new Set(samples.map((s) => s.name.replace(/_(bucket|sum|count)$/, '')));
  for (const family of families) {
    assert.match(text, new RegExp(`^# HELP ${family} \\S`, 'm'), family);
    assert.match(text, new RegExp(`^# TYPE ${family} (counter|gauge|histogram)$`, 'm'), family);
  }
  assert.equal(get('lifeboat_remote_up'), undefined, 'no remote store, no remote metrics');
  assert.equal(get('lifeboat_heartbeats_total', { result: 'success' }), undefined, 'no heartbeat configured');
});

test('metrics: a database name with quotes, backslashes or a line feed is escaped in the label', () => {
  const text = renderMetrics({ ...base, db: 'a"b\\c\nd.db' });
  assert.match(text, /^lifeboat_local_backups\{db="a\\"b\\\\c\\nd\.db",node_id="1"\} 0$/m);
  assert.equal(parseSamples(text).find((s) => s.name === 'lifeboat_local_backups')?.labels.db, 'a"b\\c\nd.db');
});

test('metrics: duration and size histograms with cumulative buckets, +Inf, _sum and _count', () => {
  const durations = new Histogram(BACKUP_DURATION_BUCKETS);
  const sizes = new Histogram(BACKUP_SIZE_BUCKETS);
  for (const s of [0.05, 0.7, 4, 7200]) durations.observe(s);
  for (const b of [4096, 3 * 1024 * 1024, 100 * 2 ** 30]) sizes.observe(b);
  const text = renderMetrics({ ...base, durations: durations.data, sizes: sizes.data });
  const bucket = (name: string, le: string) => sample(text, `${name}_bucket`, { le });
  assert.deepEqual(
    ['0.1', '0.5', '1', '5', '3600', '+Inf'].map((le) => bucket('lifeboat_backup_duration_seconds', le)),
    [1, 1, 2, 3, 3, 4],
  );
  assert.equal(sample(text, 'lifeboat_backup_duration_seconds_sum'), 0.05 + 0.7 + 4 + 7200);
  assert.equal(sample(text, 'lifeboat_backup_duration_seconds_count'), 4);
  assert.deepEqual(
    ['65536', '4194304', '68719476736', '+Inf'].map((le) => bucket('lifeboat_backup_size_bytes', le)),
    [1, 2, 2, 3],
  );
  assert.match(text, /^# TYPE lifeboat_backup_size_bytes histogram$/m);
  assert.deepEqual(BACKUP_SIZE_BUCKETS.slice(0, 3), [65536, 262144, 1048576]);
  assert.throws(() => new Histogram([1, 1]), /increasing/);
});

test('the newest backup: by the time in its name, names in the future passed over, other names ignored', () => {
  const now = at('2026-11-24T12:00:00Z');
  const s = (iso: string) => Date.parse(iso) / 1000;
  const names = [
    `backup_node_1_${s('2026-11-24T02:30:00Z')}.sqlite`,
    `backup_node_2_${s('2026-11-24T02:31:00Z')}.sqlite`,
    `backup_node_1_${s('2026-11-24T12:09:00Z')}.sqlite`, // within the tolerance: a clock a little ahead
    `backup_node_1_${s('2026-11-25T02:30:00Z')}.sqlite`, // a day ahead: passed over
    'notes.txt',
  ].map((name) => ({ name }));
  assert.deepEqual(newestBackup(names, now), { name: names[2]!.name, at: at('2026-11-24T12:09:00Z') });
  assert.deepEqual(newestBackup(names.slice(0, 2), now)?.name, names[1]!.name);
  assert.equal(newestBackup([names[3]!, names[4]!], now), undefined);
});

test('the last-success gauge is the newest backup this node can restore from: local, remote or just made', () => {
  const sec = (iso: string) => Date.parse(iso) / 1000;
  const gauge = (r: StatusReport) => sample(renderMetrics(r), 'lifeboat_backup_last_success_timestamp_seconds');
  // A fresh start: nothing made since, but the folder holds yesterday's backup.
  const restarted = { ...base, newestLocal: { name: 'l', at: at('2026-11-24T02:30:00Z') }, localCount: 1 };
  assert.equal(gauge(restarted), sec('2026-11-24T02:30:00Z'));
  assert.equal(gauge(base), 0, 'no backup anywhere');
  // The remote store, once listed, holds a newer one (another node's, or the local folder is new).
  const listed = { ...remoteOk, backups: 4, newestBackup: { name: 'r', at: at('2026-11-24T03:00:00Z') } };
  const both = { ...restarted, remote: listed };
  assert.equal(gauge(both), sec('2026-11-24T03:00:00Z'));
  assert.deepEqual(newestRestorable(both), { name: 'r', at: at('2026-11-24T03:00:00Z'), where: 'remote' });
  const text = renderMetrics(both);
  assert.equal(sample(text, 'lifeboat_newest_remote_backup_timestamp_seconds'), sec('2026-11-24T03:00:00Z'));
  assert.equal(sample(text, 'lifeboat_remote_backups'), 4);
  assert.equal(sample(text, 'lifeboat_newest_local_backup_timestamp_seconds'), sec('2026-11-24T02:30:00Z'));
  // Not listed yet: no remote backup series (unknown is not "none"); listed and empty: 0.
  assert.equal(sample(renderMetrics({ ...restarted, remote: remoteOk }), 'lifeboat_remote_backups'), undefined);
  const empty = renderMetrics({ ...restarted, remote: { ...remoteOk, backups: 0 } });
  assert.deepEqual(
    [sample(empty, 'lifeboat_remote_backups'), sample(empty, 'lifeboat_newest_remote_backup_timestamp_seconds')],
    [0, 0],
  );
  // Stale is judged on the same newest backup: the local one alone would be too old at 02:59.
  assert.equal(assessHealth({ ...restarted, now: at('2026-11-26T02:59:00Z') }).state, 'stale');
  assert.equal(assessHealth({ ...both, now: at('2026-11-26T02:59:00Z') }).state, 'ok');
  const later = assessHealth({ ...both, now: at('2026-11-26T03:01:00Z') });
  assert.equal(later.state, 'stale');
  assert.match(later.reason, /the newest backup \(r\) is from 2026-11-24T03:00/);
});

test('metrics: the heartbeat, when configured', () => {
  const text = renderMetrics({
    ...base,
    heartbeat: {
      target: 'https://hc-ping.com',
      method: 'GET',
      successes: 5,
      failures: 2,
      lastSuccess: at('2026-11-24T11:50:00Z'),
      lastFailure: { at: at('2026-11-24T11:00:00Z'), message: 'HTTP 404' },
    },
  });
  assert.equal(sample(text, 'lifeboat_heartbeats_total', { result: 'success' }), 5);
  assert.equal(sample(text, 'lifeboat_heartbeats_total', { result: 'failure' }), 2);
  assert.equal(
    sample(text, 'lifeboat_heartbeat_last_success_timestamp_seconds'),
    Date.parse('2026-11-24T11:50:00Z') / 1000,
  );
});

const remoteOk: RemoteStatus = {
  store: 's3 bucket "b" at https://s3.example.com',
  state: 'ok',
  since: at('2026-11-24T11:00:00Z'),
  lastError: undefined,
  lastSuccess: at('2026-11-24T11:00:00Z'),
  nextCheckAt: undefined,
  catchUpPushes: 0,
  backups: undefined,
  newestBackup: undefined,
};
const remoteFailing: RemoteStatus = {
  ...remoteOk,
  state: 'failing',
  since: at('2026-11-24T11:30:00Z'),
  lastError: {
    at: at('2026-11-24T11:45:00Z'),
    message: 'S3 list timed out: no answer within 30 s',
    code: 'S3_TIMEOUT',
  },
  nextCheckAt: at('2026-11-24T12:05:00Z'),
};

test('health: degraded while the remote fails, naming it, why and since when; a push-only failure follows it', () => {
  const pushFailed = {
    ...base,
    failures: 1,
    pushFailures: 1,
    lastFailure: { at: at('2026-11-24T11:30:00Z'), message: 'saved locally but the push failed', remoteOnly: true },
    newestLocal: { name: 'backup_node_1_1795563000.sqlite', at: at('2026-11-24T11:29:00Z') },
  };
  const down = assessHealth({ ...pushFailed, remote: remoteFailing });
  assert.deepEqual([down.state, down.healthy], ['degraded', false]);
  assert.match(
    down.reason,
    /remote store \(s3 bucket "b" at https:\/\/s3\.example\.com\) fails since 2026-11-24T11:30/,
  );
  assert.match(down.reason, /no answer within 30 s \(S3_TIMEOUT\)/);
  assert.match(down.reason, /next check at 2026-11-24T12:05:00\.000Z/);
  // The store answers again and the backup was caught up: healthy, though no run succeeded since.
  assert.equal(assessHealth({ ...pushFailed, remote: { ...remoteOk, catchUpPushes: 1 } }).state, 'ok');
  // A failure of the run itself (not its push) is failing whatever the remote does.
  const broken = { ...pushFailed, lastFailure: { at: at('2026-11-24T11:30:00Z'), message: 'disk full' } };
  assert.equal(assessHealth({ ...broken, remote: remoteOk }).state, 'failing');
  // A report without the remote's state (an older caller) judges a push failure as before.
  assert.equal(assessHealth(pushFailed).state, 'failing');
  // Failing while nothing was attempted yet (the start-up check): degraded too.
  assert.equal(assessHealth({ ...base, remote: remoteFailing }).state, 'degraded');
});

test('metrics: the remote up or not, since when it fails, its last success and the catch-up pushes', () => {
  const sec = (iso: string) => Date.parse(iso) / 1000;
  const down = renderMetrics({ ...base, remote: remoteFailing });
  assert.match(down, /^# TYPE lifeboat_remote_up gauge\nlifeboat_remote_up\{db="app\.db",node_id="1"\} 0$/m);
  assert.equal(sample(down, 'lifeboat_remote_failing_since_timestamp_seconds'), sec('2026-11-24T11:30:00Z'));
  assert.equal(sample(down, 'lifeboat_remote_last_success_timestamp_seconds'), sec('2026-11-24T11:00:00Z'));
  assert.equal(sample(down, 'lifeboat_healthy'), 0);
  const up = renderMetrics({ ...base, remote: { ...remoteOk, catchUpPushes: 2 } });
  assert.equal(sample(up, 'lifeboat_remote_up'), 1);
  assert.equal(sample(up, 'lifeboat_remote_failing_since_timestamp_seconds'), 0);
  assert.match(up, /^# TYPE lifeboat_remote_catch_up_pushes_total counter\nlifeboat_remote_catch_up_pushes_total\{/m);
  assert.equal(sample(up, 'lifeboat_remote_catch_up_pushes_total'), 2);
  const unknown = renderMetrics({ ...base, remote: { ...remoteOk, state: 'unknown' } });
  assert.ok(Number.isNaN(sample(unknown, 'lifeboat_remote_up')));
  assert.match(unknown, /^lifeboat_remote_up\{[^}]*\} NaN$/m);
});

test('metrics: the runs’ retention passes by store and result; the remote’s only with a remote', () => {
  const counts = { deleted: 1, nothing: 2, skipped: 0, failed: 3 };
  const runs = { local: { ...counts, failed: 0 }, remote: counts };
  const localOnly = renderMetrics({ ...base, retentionRuns: runs });
  const series = (text: string) =>
    text.split('\n').filter((l) => l.startsWith('lifeboat_backup_retention_runs_total{'));
  assert.equal(series(localOnly).length, 4, series(localOnly).join('\n'));
  assert.equal(sample(localOnly, 'lifeboat_backup_retention_runs_total', { store: 'local', result: 'nothing' }), 2);
  const both = renderMetrics({ ...base, retentionRuns: runs, remote: remoteOk });
  assert.equal(series(both).length, 8);
  assert.equal(sample(both, 'lifeboat_backup_retention_runs_total', { store: 'remote', result: 'failed' }), 3);
  assert.equal(sample(both, 'lifeboat_backup_retention_runs_total', { store: 'local', result: 'failed' }), 0);
});

test('the remote is probed again after 30 s, doubling to at most 10 min', () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 50].map((n) => probeDelayMs(n) / 1000),
    [30, 60, 120, 240, 480, 600, 600, 600],
  );
});

const listenAddressesPort =
  'listen addresses: PORT means loopback, :PORT every interface; HOST:PORT and [IPv6]:PORT; anything else is a ' +
  'usage error naming the option';
test(listenAddressesPort, () => {
  assert.deepEqual(parseListen('9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseListen('0.0.0.0:9464'), { host: '0.0.0.0', port: 9464 });
  assert.deepEqual(parseListen('localhost:0'), { host: 'localhost', port: 0 });
  assert.deepEqual(parseListen('[::1]:9464'), { host: '::1', port: 9464 });
  // As Litestream's `addr: ":9090"`: every interface.
  assert.deepEqual(parseListen(':9464'), { host: '', port: 9464 });
  assert.deepEqual(parseListen(' :0 '), { host: '', port: 0 });
  assert.equal(formatListen(parseListen(':9464')), ':9464');
  assert.equal(formatListen(parseListen('[::1]:9464')), '[::1]:9464');
  for (const bad of ['', ':', 'host:', 'host:70000', ':70000', 'a b:1', '9464x', 'http://x:1', '[]:1', '::9464']) {
    assert.throws(
      () => parseListen(bad, 'LIFEBOAT_HTTP_LISTEN'),
      (err: unknown) =>
        err instanceof ConfigError && err.message.includes('LIFEBOAT_HTTP_LISTEN') && err.exitCode === 2,
      JSON.stringify(bad),
    );
  }
});
