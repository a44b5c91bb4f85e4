// The logger option: any object with info/warn/error (console included) or pino; and without
// one, warnings and errors on stderr. The processes without a logger run apart, so what they
// write to stderr can be read.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Lifeboat, type LifeboatLogger, type LogFields } from '../../src/index.js';
import { createItemsDb } from '../support/db.js';
import { runTs } from '../support/doc-examples.js';
import { FakeClock } from '../support/fake-clock.js';
import { tempDir } from '../support/tmp.js';

const INDEX = fileURLToPath(new URL('../../src/index.ts', import.meta.url));

test('a console-like logger gets each record as (message, fields) on the method of its level', async () => {
  const cwd = tempDir();
  const db = join(cwd, 'app.db');
  createItemsDb(db, 10);
  const calls: Array<{ level: string; message: string; fields: LogFields | undefined }> = [];
  const record = (level: string) => (message: string, fields?: LogFields) => calls.push({ level, message, fields });
  const logger: LifeboatLogger = { info: record('info'), warn: record('warn'), error: record('error') };
  const clock = new FakeClock('2026-11-24T10:00:00Z');
  const lb = await Lifeboat.open({ cwd, env: {}, dbPath: db, schedule: false, backupOnStart: 'never', clock, logger });
  try {
    const started = calls.find((c) => c.message.startsWith('Lifeboat started'));
    assert.equal(started?.level, 'info');
    assert.equal(started?.fields?.mode, 'sidecar');
    assert.equal(started?.fields?.database, db);
    const report = await lb.backup();
    const done = calls.filter((c) => JSON.stringify(c).includes(report.name));
    assert.ok(done.length > 0, 'the backup is logged with its name');
    assert.ok(
      calls.every((c) => typeof c.message === 'string' && (c.fields === undefined || typeof c.fields === 'object')),
    );
  } finally {
    await lb.close();
  }
  assert.equal(calls.at(-1)?.message, 'Lifeboat stopped');
});

test('a pino logger is used as it is: its stream gets the JSON records', async () => {
  const cwd = tempDir();
  const db = join(cwd, 'app.db');
  createItemsDb(db, 10);
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  const logger = pino({ level: 'info' }, out);
  const lb = await Lifeboat.open({ cwd, env: {}, dbPath: db, schedule: false, backupOnStart: 'never', logger });
  try {
    assert.equal(lb.logger, logger);
  } finally {
    await lb.close();
  }
  await new Promise((resolve) => setImmediate(resolve));
  const records = text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { level: number; msg: string; mode?: string });
  assert.equal(records.find((r) => r.msg.startsWith('Lifeboat started'))?.mode, 'sidecar');
  assert.equal(records.at(-1)?.msg, 'Lifeboat stopped');
});

/** A process with a configuration warning (a typo in config.toml) whose start-up backup fails. */
function failingApp(loggerOption: string): string {
  return `
import { writeFileSync } from 'node:fs';
import { Lifeboat } from ${JSON.stringify(INDEX)};
writeFileSync('config.toml', '[cluster]\\nbackup_keep_dais = 3\\n');
writeFileSync('app.db', Buffer.alloc(8192, 7)); // not a database: the first backup fails
const lb = await Lifeboat.open({ dbPath: 'app.db', schedule: false, backupOnStart: 'always'${loggerOption} });
await lb.whenStarted();
await lb.close();
process.stdout.write('app: done\\n');
`;
}

test('without a logger, warnings and errors reach stderr (JSON off a terminal) and info stays quiet', async () => {
  const cwd = tempDir();
  const file = join(cwd, 'app.mts');
  writeFileSync(file, failingApp(''));
  const res = await runTs(file, cwd, {});
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stdout, 'app: done\n');
  const records = res.stderr
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { level: string; msg: string });
  assert.deepEqual(
    records.map((r) => r.level),
    ['warn', 'error'],
    res.stderr,
  );
  assert.match(records[0]!.msg, /backup_keep_dais .*is not a key/);
  assert.match(records[1]!.msg, /first backup failed/);

  // LIFEBOAT_LOG=info brings the info records back, as for the CLI.
  const verbose = await runTs(file, cwd, { LIFEBOAT_LOG: 'info' });
  assert.equal(verbose.code, 0, verbose.stderr);
  assert.match(verbose.stderr, /"level":"info".*Lifeboat started/);
});

test('logger: console prints info on stdout, warnings and errors on stderr, message first', async () => {
  const cwd = tempDir();
  const file = join(cwd, 'app.mts');
  writeFileSync(file, failingApp(', logger: console'));
  const res = await runTs(file, cwd, {});
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /^Lifeboat started: database .*app\.db/m);
  assert.match(res.stdout, /^Lifeboat stopped$/m);
  assert.match(res.stderr, /^configuration: cluster\.backup_keep_dais in .*config\.toml is not a key/m);
  assert.match(res.stderr, /^first backup failed; the schedule will try again \{/m);
});
