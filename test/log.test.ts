import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { ConfigError } from '../src/errors.js';
import { createLogger, type LifeboatLogger, libraryLogger, mentions, prettyLine } from '../src/log.js';
import { runCli } from './support/cli.js';
import { createItemsDb } from './support/db.js';
import { tempDir } from './support/tmp.js';

const RFC3339_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function memory(): { stream: PassThrough; lines: () => string[] } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, lines: () => text.split('\n').filter(Boolean) };
}

/** Every stderr line of a CLI run as a JSON record (throws on any other line). */
function records(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function workspace() {
  const dir = tempDir();
  const db = join(dir, 'app.db');
  createItemsDb(db, 2000);
  return { dir, db, env: { HQL_DATA_DIR: join(dir, 'data') } };
}

test('JSON records name their level and carry an RFC 3339 UTC time', async () => {
  const out = memory();
  const logger = createLogger({ format: 'json', stream: out.stream, env: {} });
  const before = Date.now();
  logger.info({ db: '/x/app.db' }, 'hello');
  logger.warn('careful');
  logger.debug('not at info');
  await new Promise((r) => setImmediate(r));
  const got = out.lines().map((l) => JSON.parse(l) as { level: unknown; time: string; msg: string });
  assert.deepEqual(
    got.map((r) => [r.level, r.msg]),
    [
      ['info', 'hello'],
      ['warn', 'careful'],
    ],
  );
  for (const r of got) {
    assert.match(r.time, RFC3339_UTC);
    assert.ok(Math.abs(Date.parse(r.time) - before) < 60_000, r.time);
  }
});

test('a bad LIFEBOAT_LOG or LIFEBOAT_LOG_FORMAT is a configuration error naming it and the valid values', async () => {
  assert.throws(
    () => createLogger({ env: { LIFEBOAT_LOG: 'verbose' } }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /LIFEBOAT_LOG: "verbose" is not a log level; use one of trace, debug/.test(err.message),
  );
  assert.throws(() => createLogger({ env: { LIFEBOAT_LOG_FORMAT: 'text' } }), /LIFEBOAT_LOG_FORMAT: "text"/);
  // Any case is fine, and an empty variable counts as unset (as for every other variable).
  const out = memory();
  createLogger({ stream: out.stream, env: { LIFEBOAT_LOG: 'WARN', LIFEBOAT_LOG_FORMAT: '' } }).info('dropped');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(out.lines(), []);

  const { dir, db, env } = workspace();
  const [level, format] = await Promise.all([
    runCli(['backup', '--db', db], { cwd: dir, env: { ...env, LIFEBOAT_LOG: 'loud' } }),
    runCli(['backup', '--db', db], { cwd: dir, env: { ...env, LIFEBOAT_LOG_FORMAT: 'xml' } }),
  ]);
  assert.equal(level.code, 2);
  assert.match(level.stderr, /^lifeboat: LIFEBOAT_LOG: "loud" is not a log level; use one of trace, debug, info, warn/);
  assert.equal(format.code, 2);
  assert.match(format.stderr, /^lifeboat: LIFEBOAT_LOG_FORMAT: "xml" is not a log format; use one of json, pretty/);
  assert.ok(!existsSync(join(dir, 'data')), 'nothing was done');
});

test('--log-level overrides LIFEBOAT_LOG; CLI logs off a terminal are JSON with progress records', async () => {
  // Three workspaces: two backups of one database folder at once would meet its lock.
  const [a, b, c] = [workspace(), workspace(), workspace()];
  const [quiet, loud, bad] = await Promise.all([
    runCli(['backup', '--db', a.db, '--log-level', 'warn'], { cwd: a.dir, env: a.env }),
    runCli(['--log-level', 'info', 'backup', '--db', b.db], { cwd: b.dir, env: { ...b.env, LIFEBOAT_LOG: 'error' } }),
    runCli(['backup', '--db', c.db, '--log-level', 'chatty'], { cwd: c.dir, env: c.env }),
  ]);
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.stderr, '', 'warn: no info records');
  assert.equal(loud.code, 0, loud.stderr);
  const got = records(loud.stderr);
  assert.ok(
    got.some((r) => r.msg === 'backup finished'),
    loud.stderr,
  );
  for (const r of got) {
    assert.equal(r.level, 'info');
    assert.match(String(r.time), RFC3339_UTC);
  }
  const snapshot = got.filter((r) => r.stage === 'snapshot');
  assert.ok(snapshot.length >= 1 && snapshot.length <= 10, loud.stderr);
  assert.equal(snapshot.at(-1)?.percent, 100);
  assert.equal(snapshot.at(-1)?.bytes, snapshot.at(-1)?.total);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--log-level: "chatty" is not a log level/);
});

test('terminal lines leave out fields the message already states', () => {
  const line = prettyLine(
    JSON.stringify({
      level: 'info',
      time: '2026-12-06T10:00:01.234Z',
      name: 'lifeboat',
      db: '/x/app.db',
      next: '2026-12-07T01:30:00.000Z',
      bytes: 8,
      percent: 50,
      store: 's3 bucket "b" at http://h',
      msg: 'restoring into /x/app.db: 50% done, 18 MiB, next at 2026-12-07T01:30:00.000Z',
    }),
  );
  assert.equal(
    line,
    '2026-12-06 10:00:01Z INFO  restoring into /x/app.db: 50% done, 18 MiB, next at 2026-12-07T01:30:00.000Z' +
      '  bytes=8 store="s3 bucket \\"b\\" at http://h"\n',
  );
  // Whole tokens only.
  assert.equal(mentions('18 MiB', '8'), false);
  assert.equal(mentions('backup_node_1_5.sqlite done', 'backup_node_1_5.sqlite'), true);
  assert.equal(mentions('in /data/a.db.old', '/data/a.db'), false);
  assert.equal(mentions('anything', ''), false);
  assert.equal(mentions('kept /data/a.db.', '/data/a.db'), true, 'a full stop ends the token');
  assert.equal(mentions('at /y/x/app.db', 'x/app.db'), false);
  assert.equal(mentions('50% done', '50'), true);
  assert.equal(prettyLine('not json\n'), 'not json\n');
});

test('a pretty logger writes those lines', async () => {
  const out = memory();
  const logger = createLogger({ format: 'pretty', stream: out.stream, env: {} });
  logger.warn({ db: '/x/app.db', movedAside: ['/x/app.db.old'] }, 'restore: /x/app.db replaced');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    out.lines().map((l) => l.slice(21)),
    ['WARN  restore: /x/app.db replaced  movedAside=["/x/app.db.old"]'],
  );
  assert.match(out.lines()[0]!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ WARN/);
});

type Call = [method: string, ...args: unknown[]];

/** A console-like logger that records what it is called with (a `debug` method only when asked). */
function recorder(withDebug: boolean): { logger: LifeboatLogger; calls: Call[] } {
  const calls: Call[] = [];
  const method =
    (name: string) =>
    (...args: unknown[]) =>
      calls.push([name, ...args]);
  const logger: LifeboatLogger = { info: method('info'), warn: method('warn'), error: method('error') };
  return { logger: withDebug ? { ...logger, debug: method('debug') } : logger, calls };
}

test("any logger: called message first, fields only when there are some, each record on its level's method", () => {
  const { logger, calls } = recorder(false);
  const log = libraryLogger(logger, {});
  log.info({ backup: 'backup_node_1_5.sqlite', ms: 12 }, 'backup done');
  log.warn('careful');
  log.error({ err: 'boom' }, 'failed');
  log.fatal('very bad');
  log.debug('not without a debug method');
  log.trace('never');
  assert.deepEqual(calls, [
    ['info', 'backup done', { backup: 'backup_node_1_5.sqlite', ms: 12 }],
    ['warn', 'careful'],
    ['error', 'failed', { err: 'boom' }],
    ['error', 'very bad'],
  ]);
});

test("any logger: debug records reach its debug method, a child's bindings arrive as fields, secrets as ***", () => {
  const { logger, calls } = recorder(true);
  const log = libraryLogger(logger, {});
  log.child({ sdk: 'data' }).debug('object stored');
  log.warn({ s3: { url: 'http://h', secret: 'hunter2' }, secret: 'hunter3' }, 'odd');
  log.trace('still below debug');
  assert.deepEqual(calls, [
    ['debug', 'object stored', { sdk: 'data' }],
    ['warn', 'odd', { s3: { url: 'http://h', secret: '***' }, secret: '***' }],
  ]);
  assert.ok(!JSON.stringify(calls).includes('hunter'));
});

test("any logger: methods are called on the logger (winston's use `this`); one that throws loses its record", () => {
  class ClassLogger {
    readonly lines: string[] = [];
    info(message: string): void {
      this.lines.push(`info ${message}`);
    }
    warn(message: string): void {
      this.lines.push(`warn ${message}`);
    }
    error(): void {
      throw new Error('the log server is down');
    }
  }
  const target = new ClassLogger();
  const log = libraryLogger(target, {});
  log.info('one');
  assert.doesNotThrow(() => log.error('two'));
  log.warn('three');
  assert.deepEqual(target.lines, ['info one', 'warn three']);
});

test('a pino logger is used as it is; without a logger, warn and above (or LIFEBOAT_LOG) to stderr', () => {
  const out = memory();
  const mine = pino({ level: 'debug' }, out.stream);
  assert.equal(libraryLogger(mine, {}), mine);
  const child = mine.child({ app: 'x' });
  assert.equal(libraryLogger(child, {}), child, 'a child logger is pino too');
  assert.equal(libraryLogger(undefined, {}).level, 'warn');
  assert.equal(libraryLogger(undefined, { LIFEBOAT_LOG: 'info' }).level, 'info');
  assert.throws(() => libraryLogger(undefined, { LIFEBOAT_LOG: 'loud' }), ConfigError);
});
