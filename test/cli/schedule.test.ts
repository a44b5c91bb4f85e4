import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';

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
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '2026-11-29T12:00:00.000Z\n2026-12-06T12:00:00.000Z\n2026-12-13T12:00:00.000Z\n');
      assert.equal(r.stderr, '');
    }),
    t.test('prints five by default, and reads the expression in --tz across a DST change', async () => {
      const r = await runCli(['schedule', '0 30 2 * * * *', '--from', '2026-03-27T12:00:00Z', '--tz', 'Europe/Berlin']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trimEnd().split('\n'), [
        '2026-03-28T01:30:00.000Z', // 02:30 CET
        '2026-03-29T01:00:00.000Z', // 02:30 does not exist: once, at 03:00 CEST
        '2026-03-30T00:30:00.000Z', // 02:30 CEST
        '2026-03-31T00:30:00.000Z',
        '2026-04-01T00:30:00.000Z',
      ]);
    }),
    t.test('without --tz uses the process zone (TZ)', async () => {
      const r = await runCli(['schedule', '@daily', '--from', '2026-11-24T00:00:00Z', '--count', '2'], {
        env: { TZ: 'America/New_York' },
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '2026-11-24T05:00:00.000Z\n2026-11-25T05:00:00.000Z\n');
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
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '2027-01-01T00:00:00.000Z\n2028-01-01T00:00:00.000Z\n');
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
    t.test('a missing expression is a usage error', async () => {
      const r = await runCli(['schedule']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /missing required argument/);
    }),
  ]);
});
