import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';

/** The UTC instants of `lifeboat schedule --json`, one per line as the old plain output had them. */
function utcLines(stdout: string): string {
  const out = JSON.parse(stdout) as { fireTimes: Array<{ utc: string }> };
  return out.fireTimes.map((t) => `${t.utc}\n`).join('');
}

// Each case spawns the real CLI (about half a second of start-up), so a few run at a time.
test('lifeboat schedule', { concurrency: 4 }, async (t) => {
  await Promise.all([
    t.test('prints the next fire times as UTC instants, 1 = Sunday', async () => {
      const r = await runCli([
        'schedule',
        '0 0 12 * * 1 *',
        '--from',
        '2026-11-24T00:00:00Z',
        '--count',
        '3',
        '--tz',
        'UTC',
        '--json',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        utcLines(r.stdout),
        '2026-11-29T12:00:00.000Z\n2026-12-06T12:00:00.000Z\n2026-12-13T12:00:00.000Z\n',
      );
      assert.equal(r.stderr, '');
    }),
    t.test('prints five by default, and reads the expression in --tz across a DST change', async () => {
      const r = await runCli([
        'schedule',
        '0 30 2 * * * *',
        '--from',
        '2026-03-27T12:00:00Z',
        '--tz',
        'Europe/Berlin',
        '--json',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(utcLines(r.stdout).trimEnd().split('\n'), [
        '2026-03-28T01:30:00.000Z', // 02:30 CET
        '2026-03-29T01:00:00.000Z', // 02:30 does not exist: once, at 03:00 CEST
        '2026-03-30T00:30:00.000Z', // 02:30 CEST
        '2026-03-31T00:30:00.000Z',
        '2026-04-01T00:30:00.000Z',
      ]);
    }),
    t.test('without --tz uses the process zone (TZ)', async () => {
      const r = await runCli(['schedule', '@daily', '--from', '2026-11-24T00:00:00Z', '--count', '2', '--json'], {
        env: { TZ: 'America/New_York' },
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(utcLines(r.stdout), '2026-11-24T05:00:00.000Z\n2026-11-25T05:00:00.000Z\n');
    }),
    t.test('prints fewer lines when the schedule ends', async () => {
      const r = await runCli([
        'schedule',
        '0 0 0 1 1 * 2027-2028',
        '--from',
        '2026-11-24T00:00:00Z',
        '--count',
        '5',
        '--tz',
        'UTC',
        '--json',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(utcLines(r.stdout), '2027-01-01T00:00:00.000Z\n2028-01-01T00:00:00.000Z\n');
    }),
    t.test('a bad expression exits 2 naming the field and the format', async () => {
      const r = await runCli(['schedule', '0 0 12 * * 0 *', '--tz', 'UTC']);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /day_of_week field "0": 0 is outside 1-7/);
      assert.match(r.stderr, /hint: .*sec min hour day_of_month month day_of_week/);
    }),
    t.test('a field count other than 6 or 7 exits 2', async () => {
      const r = await runCli(['schedule', '30 2 * * *', '--tz', 'UTC']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /5 fields, expected 6 or 7/);
    }),
    t.test('an expression that never fires exits 2', async () => {
      const r = await runCli(['schedule', '0 0 0 30 2 *', '--tz', 'UTC']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /never fires/);
    }),
    t.test('an unknown zone exits 2 naming it', async () => {
      const r = await runCli(['schedule', '0 30 2 * * *', '--tz', 'Mars/Olympus']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /unknown time zone "Mars\/Olympus"/);
    }),
    t.test('a bad --from exits 2', async () => {
      for (const from of ['Nov 24 2026', '2026-13-01T00:00:00Z']) {
        const r = await runCli(['schedule', '0 30 2 * * *', '--from', from, '--tz', 'UTC']);
        assert.equal(r.code, 2, from);
        assert.match(r.stderr, /--from: .* is not an ISO-8601 date\/time/, from);
      }
    }),
    t.test('a bad --count exits 2', async () => {
      for (const count of ['x', '0', '10001']) {
        const r = await runCli(['schedule', '0 30 2 * * *', '--count', count, '--tz', 'UTC']);
        assert.equal(r.code, 2, count);
        assert.match(r.stderr, /--count: .* must be a whole number from 1 to 10000/, count);
      }
    }),
    t.test('without an expression: the configured backup_cron in backup_cron_tz, local and UTC', async () => {
      const env = { HQL_BACKUP_CRON: '0 0 3 * * Sun *', HQL_BACKUP_CRON_TZ: 'Europe/Berlin', TZ: 'UTC' };
      const args = ['schedule', '--from', '2026-03-20T00:00:00Z', '--count', '2'];
      const [json, text] = await Promise.all([runCli([...args, '--json'], { env }), runCli(args, { env })]);
      assert.equal(json.code, 0, json.stderr);
      assert.deepEqual(JSON.parse(json.stdout), {
        expression: '0 0 3 * * Sun *',
        source: 'config',
        timeZone: 'Europe/Berlin',
        fireTimes: [
          { utc: '2026-03-22T02:00:00.000Z', local: '2026-03-22T03:00:00+01:00' },
          { utc: '2026-03-29T01:00:00.000Z', local: '2026-03-29T03:00:00+02:00' }, // after the DST change
        ],
      });
      assert.equal(text.code, 0, text.stderr);
      assert.equal(
        text.stdout,
        '# backup_cron "0 0 3 * * Sun *" (HQL_BACKUP_CRON) in Europe/Berlin\n' +
          'LOCAL (Europe/Berlin)      UTC\n' +
          '2026-03-22 03:00:00+01:00  2026-03-22T02:00:00Z\n' +
          '2026-03-29 03:00:00+02:00  2026-03-29T01:00:00Z\n',
      );
    }),
    t.test('without an expression or a configured zone: the default cron in the process zone', async () => {
      const r = await runCli(['schedule', '--from', '2026-11-24T00:00:00Z', '--count', '1', '--json'], {
        env: { TZ: 'America/New_York' },
      });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout).fireTimes, [
        { utc: '2026-11-24T07:30:00.000Z', local: '2026-11-24T02:30:00-05:00' },
      ]);
      assert.equal(JSON.parse(r.stdout).timeZone, 'America/New_York');
    }),
    t.test('a bad configured cron exits 2 naming HQL_BACKUP_CRON', async () => {
      const r = await runCli(['schedule'], { env: { HQL_BACKUP_CRON: '30 2 * * *' } });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /HQL_BACKUP_CRON/);
    }),
  ]);
});
