import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { formatSource, onTimeline, parseRestoreSource } from '../../src/restore/source.js';

test('the accepted forms', () => {
  assert.deepEqual(parseRestoreSource('s3:backup_node_1_1732415400.sqlite'), {
    kind: 's3',
    object: 'backup_node_1_1732415400.sqlite',
  });
  assert.deepEqual(parseRestoreSource(' s3:latest '), { kind: 's3-latest' });
  assert.deepEqual(
    parseRestoreSource('s3:my-backup.sqlite'),
    { kind: 's3', object: 'my-backup.sqlite' },
    'any object name, not only backup_node_*',
  );
  assert.deepEqual(parseRestoreSource('file:/var/backups/with space.sqlite'), {
    kind: 'file',
    path: '/var/backups/with space.sqlite',
  });
  assert.deepEqual(parseRestoreSource('file:/var/backups/b.sqlite'), { kind: 'file', path: '/var/backups/b.sqlite' });
  for (const v of ['s3:x.sqlite', 's3:latest', 'file:/a/b']) assert.equal(formatSource(parseRestoreSource(v)), v);
});

test('bad values name the variable and the accepted forms', () => {
  const bad: ReadonlyArray<readonly [string, RegExp]> = [
    ['', /is empty/],
    ['   ', /is empty/],
    ['backup_node_1_1.sqlite', /unknown prefix/],
    ['S3:x', /unknown prefix/],
    ['http://x/y', /unknown prefix/],
    ['s3:', /names no object/],
    ['s3:/abs', /is a path.*HQL_S3_PREFIX/],
    ['s3:a/../b', /is a path/],
    ['s3:prefix/backup_node_1_1.sqlite', /is a path/],
    ['s3:..', /is a path/],
    ['s3:a\\b', /is a path/],
    ['s3:a\nb', /not a valid object name/],
    [`s3:${'x'.repeat(1025)}`, /not a valid object name/],
    ['s3 :latest', /unknown prefix/],
    ['file:/srv/backups/..', /contains "\.\."/],
    ['file:', /names no file/],
    ['file:backups/b.sqlite', /relative path/],
    ['file:./b.sqlite', /relative path/],
    ['file:/srv/../etc/passwd', /contains "\.\."/],
  ];
  for (const [value, re] of bad) {
    assert.throws(
      () => parseRestoreSource(value),
      (err: unknown) =>
        err instanceof ConfigError &&
        re.test(err.message) &&
        err.message.startsWith('HQL_BACKUP_RESTORE:') &&
        /s3:latest/.test(err.message),
      JSON.stringify(value),
    );
  }
});

test('pitr: forms are points of continuous backup; anything else is refused naming the forms', () => {
  assert.deepEqual(parseRestoreSource('pitr:latest'), { kind: 'pitr', target: { kind: 'latest' }, dbId: undefined });
  assert.deepEqual(parseRestoreSource('pitr:txid:42'), {
    kind: 'pitr',
    target: { kind: 'txid', txid: 42 },
    dbId: undefined,
  });
  for (const [text, ms] of [
    ['2026-03-01T12:00:00Z', Date.UTC(2026, 2, 1, 12)],
    ['2026-03-01T13:30:00.250+01:30', Date.UTC(2026, 2, 1, 12, 0, 0, 250)],
    ['2026-03-01 12:00:00z', Date.UTC(2026, 2, 1, 12)],
  ] as const) {
    const source = parseRestoreSource(`pitr:time:${text}`);
    assert.deepEqual(source, { kind: 'pitr', target: { kind: 'time', ms }, dbId: undefined }, text);
    assert.equal(formatSource(source), `pitr:time:${new Date(ms).toISOString()}`);
  }
  assert.equal(formatSource(parseRestoreSource('pitr:txid:7')), 'pitr:txid:7');
  for (const value of [
    'pitr:',
    'pitr:newest',
    'pitr:txid:',
    'pitr:txid:-1',
    'pitr:txid:1e3',
    'pitr:txid:99999999999999999',
    'pitr:time:2026-03-01T12:00:00', // no offset: which zone?
    'pitr:time:2026-03-01',
    'pitr:time:2026-02-30T12:00:00Z',
    'pitr:txid:5 on timeline 1', // a txid is on one timeline already
    'pitr:latest on timeline 0',
    'pitr:latest on timeline two',
    'pitr:latest on timeline',
  ]) {
    assert.throws(
      () => parseRestoreSource(value),
      (err: unknown) =>
        err instanceof ConfigError &&
        /not a point of continuous backup/.test(err.message) &&
        /pitr:txid/.test(err.message),
      value,
    );
  }
});

test("pitr: latest and time: on a timeline, as the marker and the logs write it (the variable's --timeline)", () => {
  const ms = Date.parse('2026-03-01T12:00:00Z');
  for (const [value, target, timeline] of [
    ['pitr:latest on timeline 1', { kind: 'latest' }, 1],
    ['pitr:time:2026-03-01T12:00:00Z on timeline 12', { kind: 'time', ms }, 12],
    ['pitr:time:2026-03-01 12:00:00Z  on  timeline 2', { kind: 'time', ms }, 2],
  ] as const) {
    const source = parseRestoreSource(value);
    assert.deepEqual(source, { kind: 'pitr', target, dbId: undefined, timeline }, value);
    assert.deepEqual(parseRestoreSource(formatSource(source)), source, 'formatSource writes what parses back');
  }
  assert.equal(formatSource(parseRestoreSource('pitr:latest on timeline 3')), 'pitr:latest on timeline 3');
  // A second timeline (--timeline beside one in the source) is refused, not chosen between.
  const named = parseRestoreSource('pitr:latest on timeline 1');
  assert.ok(named.kind === 'pitr');
  assert.equal(onTimeline(named, '2'), 'it names timeline 1 already');
});
