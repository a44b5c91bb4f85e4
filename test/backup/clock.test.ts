import assert from 'node:assert/strict';
import { existsSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { before, test } from 'node:test';
import { type BackupPlan, runBackup } from '../../src/backup/job.js';
import { parseBackupName } from '../../src/backup/naming.js';
import { createKeySet, generateKey } from '../../src/crypto/keys.js';
import { createLogger } from '../../src/log.js';
import { materialise, resolveSource } from '../../src/restore/fetch.js';
import Database from '../../src/sqlite/driver.js';
import { S3Store } from '../../src/storage/s3/store.js';
import { runCli } from '../support/cli.js';
import { countItems, createItemsDb } from '../support/db.js';
import { FakeClock } from '../support/fake-clock.js';
import { backupFiles } from '../support/folder.js';
import { plantBackups, testPlan } from '../support/plan.js';
import { getTestS3, s3Env, type TestS3 } from '../support/s3.js';
import { names } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

/** Debian's libfaketime (`apt-get install faketime`); `dpkg -L libfaketime` lists it. */
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const DAY_S = 86_400;
const KEYS = createKeySet([{ id: 'current', key: Buffer.alloc(32, 3) }], 'current');
const local = (dir: string) => backupFiles(dir).sort();

function plan(dir: string, over: Partial<BackupPlan> = {}): BackupPlan {
  const db = join(dir, 'app.db');
  if (!existsSync(db)) createItemsDb(db, 20);
  return testPlan(db, join(dir, 'backups'), { keepDaysRemote: 3, keepMin: 3, ...over });
}

const underFaketime =
  'CLI under libfaketime 40 days ahead, against the real S3 server: the new backup is added, ' +
  'nothing is deleted, and the output says why retention was skipped';
test(underFaketime, async (t) => {
  if (!existsSync(LIBFAKETIME)) return t.skip(`${LIBFAKETIME} is missing: apt-get install faketime`);
  const config = await s3.place();
  const dir = tempDir();
  const db = join(dir, 'app.db');
  createItemsDb(db, 100);
  const dataDir = join(dir, 'data');
  const backups = join(dataDir, 'state_machine', 'backups');
  const realS = Math.floor(Date.now() / 1000);
  const history = await plantBackups(backups, { days: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], nowS: realS, config });
  const env = {
    HQL_DATA_DIR: dataDir,
    ...s3Env(config),
    ENC_KEYS: generateKey('k1'),
    ENC_KEY_ACTIVE: 'k1',
    // Node runs under libfaketime as it is (timers included): no FAKETIME_* settings needed.
    LD_PRELOAD: LIBFAKETIME,
    FAKETIME: '+40d',
  };
  const res = await runCli(['backup', '--db', db], { cwd: dir, env });
  assert.equal(res.code, 0, res.stderr);
  const made = /^backup\s+(backup_node_1_\d+\.sqlite)$/m.exec(res.stdout)?.[1];
  assert.ok(made, res.stdout);
  const madeAt = parseBackupName(made)!.unixSeconds;
  assert.ok(Math.abs(madeAt - (realS + 40 * DAY_S)) < 600, `the CLI ran 40 days ahead: ${made}`);
  // Nothing but the new backup added, nothing deleted, in either store.
  assert.deepEqual(local(backups), [...history, made].sort());
  assert.deepEqual((await names(config)).sort(), [...history, made].sort());
  assert.doesNotMatch(res.stdout, /^expired/m);
  for (const store of ['local folder', 's3 bucket']) {
    assert.match(
      res.stdout,
      new RegExp(
        `^warning  retention skipped for ${store} .*, nothing deleted: this machine's clock is 4\\d d \\d+ h ahead ` +
          "of the S3 server's, so backup ages cannot be trusted; fix the clock \\(NTP\\)$",
        'm',
      ),
    );
  }
  // The new backup's name is 40 days after the time either store gives it: reported by name.
  assert.match(res.stdout, new RegExp(`^warning  backup ${made} in local folder .*the clock .* was ahead`, 'm'));
});

test('without S3, a clock 40 days ahead of the newest backup deletes nothing and says why', async () => {
  const dir = tempDir();
  const realS = Math.floor(Date.now() / 1000);
  const history = await plantBackups(join(dir, 'backups'), { days: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], nowS: realS });
  const report = await runBackup(plan(dir, { clock: new FakeClock((realS + 40 * DAY_S) * 1000) }));
  assert.deepEqual(report.expiredLocal, []);
  assert.deepEqual(local(join(dir, 'backups')), [...history, report.name].sort());
  const skipped =
    /^retention skipped for local folder .*, nothing deleted: now .* is 41 d 0 h after the newest earlier/;
  assert.ok(
    report.warnings.some((w) => skipped.test(w)),
    report.warnings.join('\n'),
  );
});

test('keep_min keeps the newest backups in each store whatever their age', async () => {
  const config = await s3.place();
  const dir = tempDir();
  const realS = Math.floor(Date.now() / 1000);
  const history = await plantBackups(join(dir, 'backups'), { days: [1, 2, 4, 5, 6, 7], nowS: realS, config });
  // keep_days 3 would keep 1 and 2 days; keep_min 4 keeps the new one and the three before it.
  const report = await runBackup(
    plan(dir, {
      keepMin: 4,
      remote: { store: new S3Store(config), key: KEYS.active },
      clock: new FakeClock(realS * 1000),
    }),
  );
  const expired = history.slice(0, 3); // sorted by name = oldest first: 7, 6, 5 days
  assert.deepEqual([...report.expiredLocal].sort(), expired);
  assert.deepEqual([...(report.remote?.expired ?? [])].sort(), expired);
  const kept = [...history.slice(3), report.name].sort();
  assert.deepEqual(local(join(dir, 'backups')), kept);
  assert.deepEqual((await names(config)).sort(), kept);
  assert.deepEqual(report.warnings, []);
});

test('a backup named in the future is reported by name and never counted as the newest', async () => {
  const dir = tempDir();
  const realS = Math.floor(Date.now() / 1000);
  const backups = join(dir, 'backups');
  // Made by a machine whose clock was 30 days ahead (the file is dated by the real clock).
  const [future] = await plantBackups(backups, { days: [-30], nowS: realS });
  utimesSync(join(backups, future!), realS - 60, realS - 60);
  const history = await plantBackups(backups, { days: [1, 5, 9], nowS: realS });
  const report = await runBackup(plan(dir, { keepMin: 1, clock: new FakeClock(realS * 1000) }));
  // Judged from the newest trusted backup (the new one), the old ones expire; the future one stays.
  assert.deepEqual([...report.expiredLocal].sort(), history.slice(0, 2));
  assert.deepEqual(local(backups), [future!, history[2]!, report.name].sort());
  assert.ok(
    report.warnings.some((w) => w.startsWith(`backup ${future} in local folder `) && /30 d 0 h after/.test(w)),
    report.warnings.join('\n'),
  );
});

test('s3:latest passes over a backup named in the future and logs a warning naming it', async () => {
  const config = await s3.place();
  const dir = tempDir();
  const realS = Math.floor(Date.now() / 1000);
  const store = new S3Store(config);
  const remote = { store, key: KEYS.active };
  // A good backup an hour ago, and one made while the clock was 30 days ahead (with fewer rows).
  const good = await runBackup(plan(dir, { remote, clock: new FakeClock((realS - 3600) * 1000) }));
  const db = new Database(join(dir, 'app.db'));
  db.prepare('DELETE FROM items WHERE id > 3').run();
  db.close();
  const ahead = await runBackup(plan(dir, { remote, clock: new FakeClock((realS + 30 * DAY_S) * 1000) }));
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ stream: sink, format: 'json' });
  const target = join(dir, 'restored.sqlite');
  const inputs = { remote: store, keys: KEYS, logger, now: () => new Date(realS * 1000) };
  const got = await materialise(await resolveSource({ kind: 's3-latest' }, inputs), target, inputs);
  assert.equal(got.origin, good.name);
  assert.equal(countItems(target), 20);
  const warnings = lines.map((l) => JSON.parse(l) as { level: string; msg: string }).filter((r) => r.level === 'warn');
  assert.equal(warnings.length, 1, lines.join('\n'));
  assert.match(warnings[0]!.msg, new RegExp(`^s3:latest passes over ${ahead.name}: its name says .* 30 d 0 h after`));
});
