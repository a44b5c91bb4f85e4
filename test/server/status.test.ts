// The pure parts of the status server: the health rule, the metrics text, the listen address.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { probeDelayMs } from '../../src/remote/monitor.js';
import { parseCron } from '../../src/schedule/cron.js';
import { parseListen } from '../../src/server/listen.js';
import {
  assessHealth,
  maxBackupAgeMs,
  type RemoteStatus,
  renderMetrics,
  type StatusReport,
} from '../../src/server/status.js';

const H = 3_600_000;
const at = (iso: string) => new Date(iso);
const base: StatusReport = {
  now: at('2026-11-24T12:00:00Z'),
  startedAt: at('2026-11-24T11:00:00Z'),
  mode: 'sidecar',
  database: '/data/app.db',
  successes: 0,
  failures: 0,
  pushFailures: 0,
  lastSuccess: undefined,
  lastFailure: undefined,
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

test('metrics: Prometheus text with HELP/TYPE, counters by result, timestamps in seconds', () => {
  const text = renderMetrics({
    ...base,
    successes: 3,
    failures: 1,
    pushFailures: 1,
    lastSuccess: { name: 'b', at: at('2026-11-24T11:40:00Z'), durationMs: 1500, bytes: 123456, pushed: true },
    newestLocal: { name: 'b', at: at('2026-11-24T11:40:00Z') },
    localCount: 3,
  });
  assert.match(
    text,
    new RegExp(
      /^# HELP lifeboat_backups_total .+\n# TYPE lifeboat_backups_total counter\n/.source +
        /lifeboat_backups_total\{result="success"\} 3\nlifeboat_backups_total\{result="failure"\} 1\n/.source,
      'm',
    ),
  );
  assert.match(text, /^lifeboat_remote_push_failures_total 1$/m);
  assert.match(
    text,
    new RegExp(`^lifeboat_backup_last_success_timestamp_seconds ${Date.parse('2026-11-24T11:40:00Z') / 1000}$`, 'm'),
  );
  assert.match(text, /^lifeboat_backup_last_duration_seconds 1\.5$/m);
  assert.match(text, /^lifeboat_backup_last_bytes 123456$/m);
  assert.match(text, /^lifeboat_local_backups 3$/m);
  assert.match(text, /^lifeboat_healthy 1$/m);
  // Every sample line is `name{labels} number`, every metric has HELP and TYPE.
  for (const line of text.trimEnd().split('\n'))
    assert.match(
      line,
      /^(# (HELP|TYPE) lifeboat_\w+ .+|lifeboat_\w+(\{[a-z]+="[a-z]+"\})? (-?[\d.]+(e[+-]?\d+)?|NaN))$/,
      line,
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
  assert.match(down, /^# TYPE lifeboat_remote_up gauge\nlifeboat_remote_up 0$/m);
  assert.match(
    down,
    new RegExp(`^lifeboat_remote_failing_since_timestamp_seconds ${sec('2026-11-24T11:30:00Z')}$`, 'm'),
  );
  assert.match(
    down,
    new RegExp(`^lifeboat_remote_last_success_timestamp_seconds ${sec('2026-11-24T11:00:00Z')}$`, 'm'),
  );
  assert.match(down, /^lifeboat_healthy 0$/m);
  const up = renderMetrics({ ...base, remote: { ...remoteOk, catchUpPushes: 2 } });
  assert.match(up, /^lifeboat_remote_up 1$/m);
  assert.match(up, /^lifeboat_remote_failing_since_timestamp_seconds 0$/m);
  assert.match(up, /^# TYPE lifeboat_remote_catch_up_pushes_total counter\nlifeboat_remote_catch_up_pushes_total 2$/m);
  assert.match(renderMetrics({ ...base, remote: { ...remoteOk, state: 'unknown' } }), /^lifeboat_remote_up NaN$/m);
  assert.doesNotMatch(renderMetrics(base), /lifeboat_remote_up/, 'no remote store, no remote metrics');
});

test('the remote is probed again after 30 s, doubling to at most 10 min', () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 50].map((n) => probeDelayMs(n) / 1000),
    [30, 60, 120, 240, 480, 600, 600, 600],
  );
});

const listenAddressesPort =
  'listen addresses: PORT means loopback; HOST:PORT and [IPv6]:PORT; anything else is a usage error naming the option';
test(listenAddressesPort, () => {
  assert.deepEqual(parseListen('9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseListen('0.0.0.0:9464'), { host: '0.0.0.0', port: 9464 });
  assert.deepEqual(parseListen('localhost:0'), { host: 'localhost', port: 0 });
  assert.deepEqual(parseListen('[::1]:9464'), { host: '::1', port: 9464 });
  for (const bad of ['', ':9464', 'host:', 'host:70000', 'a b:1', '9464x', 'http://x:1']) {
    assert.throws(
      () => parseListen(bad, 'LIFEBOAT_HTTP_LISTEN'),
      (err: unknown) =>
        err instanceof ConfigError && err.message.includes('LIFEBOAT_HTTP_LISTEN') && err.exitCode === 2,
      JSON.stringify(bad),
    );
  }
});
