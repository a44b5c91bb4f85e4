import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LifeboatError } from '../../src/errors.js';
import { nextFireTimes, parseCron } from '../../src/schedule/cron.js';

type Row = readonly [expression: string, from: string, zone: string, expected: readonly string[]];

// Each row: the next fire instants (UTC) after `from`. 2026-11-24 is a Tuesday.
const TABLE: readonly Row[] = [
  ['0 30 2 * * * *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-24T02:30:00.000Z', '2026-11-25T02:30:00.000Z']],
  ['0 30 2 * * * *', '2026-11-24T02:30:00Z', 'UTC', ['2026-11-25T02:30:00.000Z']],
  ['0 30 2 * * * *', '2026-11-24T02:29:59.999Z', 'UTC', ['2026-11-24T02:30:00.000Z']],
  ['0 30 2 * * *', '2026-11-24T03:00:00Z', 'UTC', ['2026-11-25T02:30:00.000Z']],
  // 1 = Sunday
  ['0 0 12 * * 1 *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-29T12:00:00.000Z', '2026-12-06T12:00:00.000Z']],
  ['0 0 12 * * 7 *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-28T12:00:00.000Z']], // 7 = Saturday
  ['0 0 12 * * 3 *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-24T12:00:00.000Z']], // 3 = Tuesday
  ['0 0 12 * * 2 *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-30T12:00:00.000Z']], // 2 = Monday
  ['0 0 12 * * Sun *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-29T12:00:00.000Z']],
  ['0 0 12 * * mon-fri *', '2026-11-27T13:00:00Z', 'UTC', ['2026-11-30T12:00:00.000Z', '2026-12-01T12:00:00.000Z']],
  ['0 0 12 * * 2-6 *', '2026-11-27T13:00:00Z', 'UTC', ['2026-11-30T12:00:00.000Z']],
  ['0 0 12 * * Tues,Thurs *', '2026-11-24T13:00:00Z', 'UTC', ['2026-11-26T12:00:00.000Z', '2026-12-01T12:00:00.000Z']],
  ['0 0 12 * * SATURDAY *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-28T12:00:00.000Z']],
  ['* * * * * * *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-24T00:00:01.000Z', '2026-11-24T00:00:02.000Z']],
  [
    '*/15 * * * * *',
    '2026-11-24T00:00:07Z',
    'UTC',
    ['2026-11-24T00:00:15.000Z', '2026-11-24T00:00:30.000Z', '2026-11-24T00:00:45.000Z', '2026-11-24T00:01:00.000Z'],
  ],
  ['0 */15 * * * *', '2026-11-24T10:07:00Z', 'UTC', ['2026-11-24T10:15:00.000Z', '2026-11-24T10:30:00.000Z']],
  [
    '0 5/20 * * * *',
    '2026-11-24T10:00:00Z',
    'UTC',
    ['2026-11-24T10:05:00.000Z', '2026-11-24T10:25:00.000Z', '2026-11-24T10:45:00.000Z', '2026-11-24T11:05:00.000Z'],
  ],
  [
    '0 10-20/5 * * * *',
    '2026-11-24T10:00:00Z',
    'UTC',
    ['2026-11-24T10:10:00.000Z', '2026-11-24T10:15:00.000Z', '2026-11-24T10:20:00.000Z', '2026-11-24T11:10:00.000Z'],
  ],
  ['0 0 */6 * * *', '2026-11-24T01:00:00Z', 'UTC', ['2026-11-24T06:00:00.000Z', '2026-11-24T12:00:00.000Z']],
  ['0 0 9,17 * * *', '2026-11-24T10:00:00Z', 'UTC', ['2026-11-24T17:00:00.000Z', '2026-11-25T09:00:00.000Z']],
  ['0 0 0 1 * *', '2026-11-24T00:00:00Z', 'UTC', ['2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']],
  [
    '0 0 0 31 * *',
    '2026-11-24T00:00:00Z',
    'UTC',
    ['2026-12-31T00:00:00.000Z', '2027-01-31T00:00:00.000Z', '2027-03-31T00:00:00.000Z'],
  ],
  ['0 0 0 29 2 *', '2026-01-01T00:00:00Z', 'UTC', ['2028-02-29T00:00:00.000Z', '2032-02-29T00:00:00.000Z']],
  ['0 0 0 29 Feb *', '2026-01-01T00:00:00Z', 'UTC', ['2028-02-29T00:00:00.000Z']],
  ['0 0 0 1 Jan,July *', '2026-11-24T00:00:00Z', 'UTC', ['2027-01-01T00:00:00.000Z', '2027-07-01T00:00:00.000Z']],
  [
    '0 0 0 1 jan-mar *',
    '2026-11-24T00:00:00Z',
    'UTC',
    ['2027-01-01T00:00:00.000Z', '2027-02-01T00:00:00.000Z', '2027-03-01T00:00:00.000Z', '2028-01-01T00:00:00.000Z'],
  ],
  ['0 0 0 ? * 1 *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-29T00:00:00.000Z']],
  ['0 0 0 * * ? *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-25T00:00:00.000Z']],
  [
    '0 0 0 13 * 6 *',
    '2026-01-01T00:00:00Z',
    'UTC',
    ['2026-02-13T00:00:00.000Z', '2026-03-13T00:00:00.000Z', '2026-11-13T00:00:00.000Z'],
  ], // Friday the 13th: AND
  // first Monday
  ['0 0 0 1-7 * 2 *', '2026-11-24T00:00:00Z', 'UTC', ['2026-12-07T00:00:00.000Z', '2027-01-04T00:00:00.000Z']],
  ['0 30 2 * * * 2027', '2026-11-24T00:00:00Z', 'UTC', ['2027-01-01T02:30:00.000Z']],
  [
    '0 30 2 1 1 * 2027-2029',
    '2026-11-24T00:00:00Z',
    'UTC',
    ['2027-01-01T02:30:00.000Z', '2028-01-01T02:30:00.000Z', '2029-01-01T02:30:00.000Z'],
  ],
  ['0 0 0 1 1 * 2030/5', '2026-11-24T00:00:00Z', 'UTC', ['2030-01-01T00:00:00.000Z', '2035-01-01T00:00:00.000Z']],
  ['0 0 0 1 1 * 2020', '2026-11-24T00:00:00Z', 'UTC', []],
  // 1970, 2020, 2070: a step over the year field starts at 1970
  ['0 0 0 1 1 * */50', '2026-11-24T00:00:00Z', 'UTC', ['2070-01-01T00:00:00.000Z']],
  ['0 0 0 1 1 * 2100', '2026-11-24T00:00:00Z', 'UTC', ['2100-01-01T00:00:00.000Z']], // the crate's last year
  // named range with a step: Mon, Wed
  ['0 0 0 * * Mon-Thurs/2 *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-25T00:00:00.000Z', '2026-11-30T00:00:00.000Z']],
  [
    '0 0 0 ?/10 * ? *',
    '2026-11-24T00:00:00Z',
    'UTC',
    [
      '2026-12-01T00:00:00.000Z',
      '2026-12-11T00:00:00.000Z',
      '2026-12-21T00:00:00.000Z',
      '2026-12-31T00:00:00.000Z',
      '2027-01-01T00:00:00.000Z',
    ],
  ],
  [
    '1,2,3/30 * * * * *',
    '2026-11-24T00:00:00Z',
    'UTC',
    [
      '2026-11-24T00:00:01.000Z',
      '2026-11-24T00:00:02.000Z',
      '2026-11-24T00:00:03.000Z',
      '2026-11-24T00:00:33.000Z',
      '2026-11-24T00:01:01.000Z',
    ],
  ],
  [
    '0 0 0 1 FEBRUARY-november/3 *',
    '2026-11-24T00:00:00Z',
    'UTC',
    ['2027-02-01T00:00:00.000Z', '2027-05-01T00:00:00.000Z', '2027-08-01T00:00:00.000Z', '2027-11-01T00:00:00.000Z'],
  ],
  ['  0 0 0 * * *  ', '2026-11-24T05:00:00Z', 'UTC', ['2026-11-25T00:00:00.000Z']],
  // a leap day that is a Sunday: both must match
  ['0 0 0 29 2 1 *', '2026-01-01T00:00:00Z', 'UTC', ['2032-02-29T00:00:00.000Z']],
  [
    '0 0 0 28-31 * * *',
    '2027-02-27T00:00:00Z',
    'UTC',
    ['2027-02-28T00:00:00.000Z', '2027-03-28T00:00:00.000Z', '2027-03-29T00:00:00.000Z'],
  ], // end of February
  ['0 0 0 30 2 *', '2026-11-24T00:00:00Z', 'UTC', []], // Feb 30: never
  ['@yearly', '2026-11-24T00:00:00Z', 'UTC', ['2027-01-01T00:00:00.000Z']],
  ['@monthly', '2026-11-24T00:00:00Z', 'UTC', ['2026-12-01T00:00:00.000Z']],
  ['@weekly', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-29T00:00:00.000Z']], // Sundays, as the crate
  ['@daily', '2026-11-24T05:00:00Z', 'UTC', ['2026-11-25T00:00:00.000Z']],
  ['@hourly', '2026-11-24T05:30:00Z', 'UTC', ['2026-11-24T06:00:00.000Z']],
  [' @daily ', '2026-11-24T05:00:00Z', 'UTC', ['2026-11-25T00:00:00.000Z']],
  ['59 59 23 31 12 * *', '2026-11-24T00:00:00Z', 'UTC', ['2026-12-31T23:59:59.000Z']],
  ['0 30 2 * * * *', '2026-11-24T00:00:00Z', 'Europe/Berlin', ['2026-11-24T01:30:00.000Z']],
  ['0 30 2 * * * *', '2026-07-01T00:00:00Z', 'Europe/Berlin', ['2026-07-01T00:30:00.000Z']],
  ['0 30 2 * * * *', '2026-11-24T00:00:00Z', 'America/New_York', ['2026-11-24T07:30:00.000Z']],
  ['0 0 9 * * 2-6 *', '2026-11-24T20:00:00Z', 'Asia/Tokyo', ['2026-11-25T00:00:00.000Z']],
  ['0 0 0 * * * *', '2026-11-24T12:00:00Z', 'Asia/Kolkata', ['2026-11-24T18:30:00.000Z']],
  // Daylight saving (Europe/Berlin: 2026-03-29 02:00 CET → 03:00 CEST; 2026-10-25 03:00 CEST → 02:00 CET)
  // gap: once, at 03:00 CEST
  ['0 30 2 * * * *', '2026-03-28T12:00:00Z', 'Europe/Berlin', ['2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']],
  // twice-existing: first only
  ['0 30 2 * * * *', '2026-10-24T12:00:00Z', 'Europe/Berlin', ['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']],
  [
    '0 30 2 * * * *',
    '2026-03-07T12:00:00Z',
    'America/New_York',
    ['2026-03-08T07:00:00.000Z', '2026-03-09T06:30:00.000Z'],
  ],
  [
    '0 30 1 * * * *',
    '2026-10-31T12:00:00Z',
    'America/New_York',
    ['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z'],
  ],
  [
    '0 15 2 * * * *',
    '2026-10-03T12:00:00Z',
    'Australia/Lord_Howe',
    ['2026-10-03T15:30:00.000Z', '2026-10-04T15:15:00.000Z'],
  ], // 30-minute shift
  // Lord Howe, 2026-04-05 02:00 (+11) → 01:30 (+10:30): 01:45 exists twice, runs at the first
  [
    '0 45 1 * * * *',
    '2026-04-04T12:00:00Z',
    'Australia/Lord_Howe',
    ['2026-04-04T14:45:00.000Z', '2026-04-05T15:15:00.000Z'],
  ],
  // the same wall time asked from inside the repeated half hour: not again
  ['0 45 1 * * * *', '2026-04-04T14:50:00Z', 'Australia/Lord_Howe', ['2026-04-05T15:15:00.000Z']],
  // 02:10 CET, second pass: 02:30 ran already
  ['0 30 2 * * * *', '2026-10-25T01:10:00Z', 'Europe/Berlin', ['2026-10-26T01:30:00.000Z']],
];

test(`next fire times for ${TABLE.length} expressions`, () => {
  assert.ok(TABLE.length >= 40);
  for (const [expression, from, zone, expected] of TABLE) {
    const got = nextFireTimes(parseCron(expression, { timeZone: zone }), new Date(from), expected.length + 1).map((d) =>
      d.toISOString(),
    );
    assert.deepEqual(got.slice(0, expected.length), expected, `${expression} from ${from} in ${zone}`);
    if (expected.length === 0) assert.deepEqual(got, [], `${expression} never fires`);
  }
});

function runsBetween(expression: string, zone: string, from: string, to: string): string[] {
  const s = parseCron(expression, { timeZone: zone });
  const out: string[] = [];
  let t = new Date(from);
  for (;;) {
    const next = s.next(t);
    if (!next || next >= new Date(to)) return out;
    assert.ok(next > t, 'strictly increasing');
    out.push(next.toISOString());
    t = next;
  }
}

test('every 15 minutes across DST changes: no duplicates, and every real quarter hour runs', () => {
  // Europe/Berlin 2026-03-29: 02:00 CET → 03:00 CEST. 02:00-02:45 do not exist: one run at 03:00 CEST.
  assert.deepEqual(runsBetween('0 */15 * * * *', 'Europe/Berlin', '2026-03-28T23:00:00Z', '2026-03-29T03:00:00Z'), [
    '2026-03-28T23:15:00.000Z',
    '2026-03-28T23:30:00.000Z',
    '2026-03-28T23:45:00.000Z',
    '2026-03-29T00:00:00.000Z',
    '2026-03-29T00:15:00.000Z',
    '2026-03-29T00:30:00.000Z',
    '2026-03-29T00:45:00.000Z',
    '2026-03-29T01:00:00.000Z',
    '2026-03-29T01:15:00.000Z',
    '2026-03-29T01:30:00.000Z',
    '2026-03-29T01:45:00.000Z',
    '2026-03-29T02:00:00.000Z',
    '2026-03-29T02:15:00.000Z',
    '2026-03-29T02:30:00.000Z',
    '2026-03-29T02:45:00.000Z',
  ]);
  // Europe/Berlin 2026-10-25: 03:00 CEST → 02:00 CET. 02:00-02:45 happen twice: they run the first time only.
  assert.deepEqual(runsBetween('0 */15 * * * *', 'Europe/Berlin', '2026-10-24T23:00:00Z', '2026-10-25T03:00:00Z'), [
    '2026-10-24T23:15:00.000Z',
    '2026-10-24T23:30:00.000Z',
    '2026-10-24T23:45:00.000Z',
    '2026-10-25T00:00:00.000Z',
    '2026-10-25T00:15:00.000Z',
    '2026-10-25T00:30:00.000Z',
    '2026-10-25T00:45:00.000Z',
    '2026-10-25T02:00:00.000Z',
    '2026-10-25T02:15:00.000Z',
    '2026-10-25T02:30:00.000Z',
    '2026-10-25T02:45:00.000Z',
  ]);
  // America/New_York 2026-03-08: 02:00 EST → 03:00 EDT.
  assert.deepEqual(runsBetween('0 */15 * * * *', 'America/New_York', '2026-03-08T06:00:00Z', '2026-03-08T07:30:00Z'), [
    '2026-03-08T06:15:00.000Z',
    '2026-03-08T06:30:00.000Z',
    '2026-03-08T06:45:00.000Z',
    '2026-03-08T07:00:00.000Z',
    '2026-03-08T07:15:00.000Z',
  ]);
  // America/New_York 2026-11-01: 02:00 EDT → 01:00 EST; 01:00-01:45 run in EDT only.
  assert.deepEqual(runsBetween('0 */15 * * * *', 'America/New_York', '2026-11-01T04:00:00Z', '2026-11-01T07:30:00Z'), [
    '2026-11-01T04:15:00.000Z',
    '2026-11-01T04:30:00.000Z',
    '2026-11-01T04:45:00.000Z',
    '2026-11-01T05:00:00.000Z',
    '2026-11-01T05:15:00.000Z',
    '2026-11-01T05:30:00.000Z',
    '2026-11-01T05:45:00.000Z',
    '2026-11-01T07:00:00.000Z',
    '2026-11-01T07:15:00.000Z',
  ]);
});

test('a daily 02:30 job runs exactly once on every local day of a year with two DST changes', () => {
  for (const zone of ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe']) {
    const runs = nextFireTimes(parseCron('0 30 2 * * * *', { timeZone: zone }), new Date('2026-01-01T12:00:00Z'), 400);
    const localDay = new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    const days = runs.map((r) => localDay.format(r));
    assert.equal(new Set(days).size, days.length, `${zone}: no day twice`);
    for (let i = 1; i < runs.length; i++) {
      const gapHours = (runs[i]!.getTime() - runs[i - 1]!.getTime()) / 3_600_000;
      assert.ok(
        gapHours >= 23 && gapHours <= 25,
        `${zone}: consecutive days, got ${gapHours} h after ${runs[i - 1]!.toISOString()}`,
      );
    }
  }
});

test('without a time zone the process zone is used', () => {
  const local = parseCron('0 30 2 * * * *');
  assert.equal(local.timeZone, undefined);
  const zone = new Intl.DateTimeFormat().resolvedOptions().timeZone;
  const explicit = parseCron('0 30 2 * * * *', { timeZone: zone });
  assert.equal(explicit.timeZone, zone);
  const from = new Date('2026-03-20T00:00:00Z');
  assert.deepEqual(nextFireTimes(local, from, 20), nextFireTimes(explicit, from, 20));
});

test('an invalid expression is rejected naming the field and the bad token', () => {
  // [expression, field named in the message (or null when the expression as a whole is wrong), what else it says]
  const bad: ReadonlyArray<readonly [string, string | null, RegExp]> = [
    ['', null, /empty/],
    ['0 30 2 * *', null, /5 fields, expected 6 or 7/],
    ['0 30 2 * * * * *', null, /8 fields/],
    ['60 * * * * *', 'seconds', /60 is outside 0-59/],
    ['0 60 * * * *', 'minutes', /60 is outside 0-59/],
    ['0 0 24 * * *', 'hours', /24 is outside 0-23/],
    ['0 0 0 0 * *', 'day_of_month', /0 is outside 1-31/],
    ['0 0 0 32 * *', 'day_of_month', /32 is outside 1-31/],
    ['0 0 0 * 0 *', 'month', /0 is outside 1-12/],
    ['0 0 0 * 13 *', 'month', /13 is outside 1-12/],
    ['0 0 0 * * 0', 'day_of_week', /0 is outside 1-7/],
    ['0 0 0 * * 8', 'day_of_week', /8 is outside 1-7/],
    ['0 0 0 * * * 1969', 'year', /1969 is outside 1970-2100/],
    ['0 0 0 * * * 2101', 'year', /2101 is outside 1970-2100/],
    ['0-65 * * * * *', 'seconds', /65 is outside/],
    ['0-5,102 * * * * *', 'seconds', /102 is outside/],
    ['0 0 0 * Foo *', 'month', /"Foo" is not a number or name/],
    ['0 0 0 * Sept *', 'month', /"Sept"/], // the crate knows sep and september only
    ['0 0 0 * * Funday', 'day_of_week', /"Funday"/],
    ['0 0 0 * * MON,TURTLE', 'day_of_week', /"TURTLE"/],
    ['0 0 0 * * constructor', 'day_of_week', /"constructor"/],
    ['0 0 jan * * *', 'hours', /"jan" is not a number/], // names exist for month and day_of_week only
    ['0 0 0 * * * abc', 'year', /"abc"/],
    ['*/0 * * * * *', 'seconds', /step 0 must be between 1 and 59/],
    ['1-5/61 * * * * *', 'seconds', /step 61/],
    ['0 */61 * * * *', 'minutes', /step 61/],
    ['* * */25 * * *', 'hours', /step 25/],
    ['* * * */32 * *', 'day_of_month', /step 32/],
    ['* * * * */13 *', 'month', /step 13/],
    ['0 0 0 1 1 ? 2020-2040/2200', 'year', /step 2200/],
    ['10-12/* * * * * *', 'seconds', /step "\*" is not a number/],
    ['0 30-10 * * * *', 'minutes', /range 30-10 runs backwards/],
    ['0 0 0 * Dec-Jan *', 'month', /Dec-Jan runs backwards/],
    ['0 0 0 * * 3-Thurs', 'day_of_week', /mixes a number and a name/],
    ['? * * * * *', 'seconds', /"\?" is only allowed/],
    ['* * ? * * *', 'hours', /"\?" is only allowed/],
    ['0 0 0 * ? *', 'month', /"\?" is only allowed/],
    ['0 0 0 * * Mon/2', 'day_of_week', /step needs a number, a range or "\*"/],
    ['0 0 0 * Feb/2 *', 'month', /step needs/],
    ['0 0,,1 * * * *', 'minutes', /empty list item/],
    [',1 * * * * *', 'seconds', /empty list item/],
    ['0 0 0 * * 1-', 'day_of_week', /"1-" is not a valid range/],
    ['0 0 0 L * *', 'day_of_month', /"L"/],
    ['0 0 0 * * 6#3', 'day_of_week', /"6#3"/],
    ['* * * * * *foo *', 'day_of_week', /"\*foo"/],
    ['a b c d e f', 'seconds', /"a"/],
    ['@often', null, /unknown shortcut @often/],
    ['@Daily', null, /unknown shortcut @Daily/], // the crate matches shortcuts literally
    ['@dailyBla', null, /unknown shortcut/],
  ];
  for (const [expression, field, pattern] of bad) {
    assert.throws(
      () => parseCron(expression, { timeZone: 'UTC' }),
      (err: unknown) => {
        assert.ok(err instanceof LifeboatError, expression);
        assert.equal(err.code, 'CRON_INVALID', expression);
        if (field) assert.match(err.message, new RegExp(`: ${field} field "`), expression);
        assert.match(err.message, pattern, expression);
        assert.match(
          err.hint ?? '',
          /sec min hour day_of_month month day_of_week \[year\].*e\.g\. "0 30 2 \* \* \* \*"/,
          expression,
        );
        return true;
      },
      expression,
    );
  }
  assert.throws(
    () => parseCron('0 0 0 * * *', { timeZone: 'Mars/Olympus' }),
    (err: unknown) =>
      err instanceof LifeboatError &&
      err.code === 'CRON_INVALID' &&
      /unknown time zone "Mars\/Olympus"/.test(err.message) &&
      /IANA/.test(err.hint ?? ''),
  );
  assert.throws(() => parseCron('0 0 0 * * *', { timeZone: '' }), /unknown time zone ""/);
});

test('an expression without a future time answers quickly', () => {
  const from = new Date('2026-01-01T00:00:00Z');
  for (const expression of [
    '0 0 0 30 2 *',
    '0 0 0 31 2 *',
    '0 0 0 31 4,6,9,11 *',
    '0 0 0 29 2 * 2097-2099',
    '59 59 23 31 12 * 2025',
  ]) {
    const t0 = performance.now();
    assert.equal(parseCron(expression, { timeZone: 'Europe/Berlin' }).next(from), undefined, expression);
    assert.ok(performance.now() - t0 < 200, `${expression} took ${performance.now() - t0} ms`);
  }
  // Far away but possible: found without walking second by second.
  const t0 = performance.now();
  assert.equal(
    parseCron('59 59 23 31 12 * 2100', { timeZone: 'UTC' }).next(from)?.toISOString(),
    '2100-12-31T23:59:59.000Z',
  );
  assert.ok(performance.now() - t0 < 200);
});

test('next() is strictly after its argument and nextFireTimes chains it', () => {
  const s = parseCron('*/20 * * * * *', { timeZone: 'UTC' });
  assert.equal(s.next(new Date('2026-11-24T00:00:20.000Z'))?.toISOString(), '2026-11-24T00:00:40.000Z');
  assert.equal(s.next(new Date('2026-11-24T00:00:20.001Z'))?.toISOString(), '2026-11-24T00:00:40.000Z');
  assert.equal(s.next(new Date('2026-11-24T00:00:19.999Z'))?.toISOString(), '2026-11-24T00:00:20.000Z');
  assert.equal(s.next(new Date(Number.NaN)), undefined);
  assert.deepEqual(nextFireTimes(s, new Date('2026-11-24T00:00:00Z'), 0), []);
  assert.equal(s.expression, '*/20 * * * * *');
  assert.equal(s.timeZone, 'UTC');
});

test('the field-wise search agrees with a brute-force minute scan on random expressions', () => {
  // A fixed seed keeps the test deterministic; a failure message carries the expression.
  let seed = 20261124;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const pick = (min: number, max: number, allChance: number): number[] | '*' => {
    if (rnd(100) < allChance) return '*';
    const values = new Set<number>();
    for (let k = 1 + rnd(3); k > 0; k--) values.add(min + rnd(max - min + 1));
    return [...values].sort((a, b) => a - b);
  };
  const text = (f: number[] | '*') => (f === '*' ? '*' : f.join(','));
  const has = (f: number[] | '*', v: number) => f === '*' || f.includes(v);
  for (const [zone, offsetMin] of [
    ['UTC', 0],
    ['Asia/Kolkata', 330],
    ['America/Panama', -300],
  ] as const) {
    for (let i = 0; i < 25; i++) {
      const sec = pick(0, 59, 10);
      const min = pick(0, 59, 20);
      const hour = pick(0, 23, 40);
      const dom = pick(1, 31, 70);
      const dow = pick(1, 7, 60);
      const expression = `${text(sec)} ${text(min)} ${text(hour)} ${text(dom)} * ${text(dow)}`;
      const from = Date.UTC(2026, rnd(12), 1 + rnd(28), rnd(24), rnd(60), rnd(60)) + rnd(1000);
      const horizon = from + 10 * 86_400_000;
      let expected: number | undefined;
      // Scan wall-clock minutes from the minute of `from`; a fixed-offset zone makes wall = instant + offset.
      const offset = offsetMin * 60_000;
      for (
        let m = Math.floor((from + offset) / 60_000) * 60_000;
        m - offset < horizon && expected === undefined;
        m += 60_000
      ) {
        const d = new Date(m);
        if (
          !has(min, d.getUTCMinutes()) ||
          !has(hour, d.getUTCHours()) ||
          !has(dom, d.getUTCDate()) ||
          !has(dow, d.getUTCDay() + 1)
        )
          continue;
        for (let s = 0; s < 60; s++) {
          if (has(sec, s) && m + s * 1000 - offset > from) {
            expected = m + s * 1000 - offset;
            break;
          }
        }
      }
      const got = parseCron(expression, { timeZone: zone }).next(new Date(from))?.getTime();
      if (expected === undefined)
        assert.ok(got === undefined || got >= horizon, `${expression} in ${zone} from ${new Date(from).toISOString()}`);
      else assert.equal(got, expected, `${expression} in ${zone} from ${new Date(from).toISOString()}`);
    }
  }
});
