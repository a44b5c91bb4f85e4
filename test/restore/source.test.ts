import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { formatSource, parseRestoreSource } from '../../src/restore/source.js';

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
