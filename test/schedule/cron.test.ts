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
  ['0 0 12 * * 1 *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-29T12:00:00.000Z', '2026-12-06T12:00:00.000Z']], // 1 = Sunday
  ['0 0 12 * * 7 *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-28T12:00:00.000Z']], // 7 = Saturday
  ['0 0 12 * * 3 *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-24T12:00:00.000Z']], // 3 = Tuesday
  ['0 0 12 * * 2 *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-30T12:00:00.000Z']], // 2 = Monday
  ['0 0 12 * * Sun *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-29T12:00:00.000Z']],
  ['0 0 12 * * mon-fri *', '2026-11-27T13:00:00Z', 'UTC', ['2026-11-30T12:00:00.000Z', '2026-12-01T12:00:00.000Z']],
  ['0 0 12 * * 2-6 *', '2026-11-27T13:00:00Z', 'UTC', ['2026-11-30T12:00:00.000Z']],
  ['0 0 12 * * Tues,Thurs *', '2026-11-24T13:00:00Z', 'UTC', ['2026-11-26T12:00:00.000Z', '2026-12-01T12:00:00.000Z']],
  ['0 0 12 * * SATURDAY *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-28T12:00:00.000Z']],
  ['* * * * * * *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-24T00:00:01.000Z', '2026-11-24T00:00:02.000Z']],
  ['*/15 * * * * *', '2026-11-24T00:00:07Z', 'UTC', ['2026-11-24T00:00:15.000Z', '2026-11-24T00:00:30.000Z', '2026-11-24T00:00:45.000Z', '2026-11-24T00:01:00.000Z']],
  ['0 */15 * * * *', '2026-11-24T10:07:00Z', 'UTC', ['2026-11-24T10:15:00.000Z', '2026-11-24T10:30:00.000Z']],
  ['0 5/20 * * * *', '2026-11-24T10:00:00Z', 'UTC', ['2026-11-24T10:05:00.000Z', '2026-11-24T10:25:00.000Z', '2026-11-24T10:45:00.000Z', '2026-11-24T11:05:00.000Z']],
  ['0 10-20/5 * * * *', '2026-11-24T10:00:00Z', 'UTC', ['2026-11-24T10:10:00.000Z', '2026-11-24T10:15:00.000Z', '2026-11-24T10:20:00.000Z', '2026-11-24T11:10:00.000Z']],
  ['0 0 */6 * * *', '2026-11-24T01:00:00Z', 'UTC', ['2026-11-24T06:00:00.000Z', '2026-11-24T12:00:00.000Z']],
  ['0 0 9,17 * * *', '2026-11-24T10:00:00Z', 'UTC', ['2026-11-24T17:00:00.000Z', '2026-11-25T09:00:00.000Z']],
  ['0 0 0 1 * *', '2026-11-24T00:00:00Z', 'UTC', ['2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']],
  ['0 0 0 31 * *', '2026-11-24T00:00:00Z', 'UTC', ['2026-12-31T00:00:00.000Z', '2027-01-31T00:00:00.000Z', '2027-03-31T00:00:00.000Z']],
  ['0 0 0 29 2 *', '2026-01-01T00:00:00Z', 'UTC', ['2028-02-29T00:00:00.000Z', '2032-02-29T00:00:00.000Z']],
  ['0 0 0 29 Feb *', '2026-01-01T00:00:00Z', 'UTC', ['2028-02-29T00:00:00.000Z']],
  ['0 0 0 1 Jan,July *', '2026-11-24T00:00:00Z', 'UTC', ['2027-01-01T00:00:00.000Z', '2027-07-01T00:00:00.000Z']],
  ['0 0 0 1 jan-mar *', '2026-11-24T00:00:00Z', 'UTC', ['2027-01-01T00:00:00.000Z', '2027-02-01T00:00:00.000Z', '2027-03-01T00:00:00.000Z', '2028-01-01T00:00:00.000Z']],
  ['0 0 0 ? * 1 *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-29T00:00:00.000Z']],
  ['0 0 0 * * ? *', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-25T00:00:00.000Z']],
  ['0 0 0 13 * 6 *', '2026-01-01T00:00:00Z', 'UTC', ['2026-02-13T00:00:00.000Z', '2026-03-13T00:00:00.000Z', '2026-11-13T00:00:00.000Z']], // Friday the 13th: AND
  ['0 0 0 1-7 * 2 *', '2026-11-24T00:00:00Z', 'UTC', ['2026-12-07T00:00:00.000Z', '2027-01-04T00:00:00.000Z']], // first Monday
  ['0 30 2 * * * 2027', '2026-11-24T00:00:00Z', 'UTC', ['2027-01-01T02:30:00.000Z']],
  ['0 30 2 1 1 * 2027-2029', '2026-11-24T00:00:00Z', 'UTC', ['2027-01-01T02:30:00.000Z', '2028-01-01T02:30:00.000Z', '2029-01-01T02:30:00.000Z']],
  ['0 0 0 1 1 * 2030/5', '2026-11-24T00:00:00Z', 'UTC', ['2030-01-01T00:00:00.000Z', '2035-01-01T00:00:00.000Z']],
  ['0 0 0 1 1 * 2020', '2026-11-24T00:00:00Z', 'UTC', []],
  ['0 0 0 30 2 *', '2026-11-24T00:00:00Z', 'UTC', []], // Feb 30: never
  ['@yearly', '2026-11-24T00:00:00Z', 'UTC', ['2027-01-01T00:00:00.000Z']],
  ['@monthly', '2026-11-24T00:00:00Z', 'UTC', ['2026-12-01T00:00:00.000Z']],
  ['@weekly', '2026-11-24T00:00:00Z', 'UTC', ['2026-11-29T00:00:00.000Z']], // Sundays, as the crate
  ['@daily', '2026-11-24T05:00:00Z', 'UTC', ['2026-11-25T00:00:00.000Z']],
  ['@hourly', '2026-11-24T05:30:00Z', 'UTC', ['2026-11-24T06:00:00.000Z']],
  ['59 59 23 31 12 * *', '2026-11-24T00:00:00Z', 'UTC', ['2026-12-31T23:59:59.000Z']],
  ['0 30 2 * * * *', '2026-11-24T00:00:00Z', 'Europe/Berlin', ['2026-11-24T01:30:00.000Z']],
  ['0 30 2 * * * *', '2026-07-01T00:00:00Z', 'Europe/Berlin', ['2026-07-01T00:30:00.000Z']],
  ['0 30 2 * * * *', '2026-11-24T00:00:00Z', 'America/New_York', ['2026-11-24T07:30:00.000Z']],
  ['0 0 9 * * 2-6 *', '2026-11-24T20:00:00Z', 'Asia/Tokyo', ['2026-11-25T00:00:00.000Z']],
  ['0 0 0 * * * *', '2026-11-24T12:00:00Z', 'Asia/Kolkata', ['2026-11-24T18:30:00.000Z']],
  // Daylight saving (Europe/Berlin: 2026-03-29 02:00 CET → 03:00 CEST; 2026-10-25 03:00 CEST → 02:00 CET)
  ['0 30 2 * * * *', '2026-03-28T12:00:00Z', 'Europe/Berlin', ['2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']], // gap: once, at 03:00 CEST
  ['0 30 2 * * * *', '2026-10-24T12:00:00Z', 'Europe/Berlin', ['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']], // twice-existing: first only
  ['0 30 2 * * * *', '2026-03-07T12:00:00Z', 'America/New_York', ['2026-03-08T07:00:00.000Z', '2026-03-09T06:30:00.000Z']],
  ['0 30 1 * * * *', '2026-10-31T12:00:00Z', 'America/New_York', ['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z']],
  ['0 15 2 * * * *', '2026-10-03T12:00:00Z', 'Australia/Lord_Howe', ['2026-10-03T15:30:00.000Z', '2026-10-04T15:15:00.000Z']], // 30-minute shift
];

test(`next fire times for ${TABLE.length} expressions`, () => {
  assert.ok(TABLE.length >= 40);
  for (const [expression, from, zone, expected] of TABLE) {
    const got = nextFireTimes(parseCron(expression, { timeZone: zone }), new Date(from), expected.length + 1).map((d) => d.toISOString());
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
  const spring = runsBetween('0 */15 * * * *', 'Europe/Berlin', '2026-03-28T23:00:00Z', '2026-03-29T03:00:00Z');
  assert.equal(new Set(spring).size, spring.length);
  // 00:00-02:00 UTC is 4 real hours minus the skipped wall hour: 01:00..01:45 CET, then 03:00.. CEST
  assert.deepEqual(spring.slice(0, 9), [
    '2026-03-28T23:15:00.000Z', '2026-03-28T23:30:00.000Z', '2026-03-28T23:45:00.000Z',
    '2026-03-29T00:00:00.000Z', '2026-03-29T00:15:00.000Z', '2026-03-29T00:30:00.000Z', '2026-03-29T00:45:00.000Z',
    '2026-03-29T01:00:00.000Z', '2026-03-29T01:15:00.000Z',
  ]);
  const autumn = runsBetween('0 */15 * * * *', 'Europe/Berlin', '2026-10-24T23:00:00Z', '2026-10-25T03:00:00Z');
  assert.equal(new Set(autumn).size, autumn.length);
  // Wall times 02:00-02:45 happen twice; they run once (the first time).
  const wall = autumn.map((i) => new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit' }).format(new Date(i)));
  assert.equal(new Set(wall).size, wall.length, 'each wall-clock quarter hour once');
});

test('an invalid expression is rejected naming the field', () => {
  const bad: ReadonlyArray<readonly [string, RegExp]> = [
    ['', /empty/],
    ['0 30 2 * *', /5 fields/],
    ['0 30 2 * * * * *', /8 fields/],
    ['60 * * * * *', /seconds.*60 is outside 0-59/],
    ['0 60 * * * *', /minutes.*60/],
    ['0 0 24 * * *', /hours.*24/],
    ['0 0 0 0 * *', /day_of_month.*0 is outside 1-31/],
    ['0 0 0 32 * *', /day_of_month.*32/],
    ['0 0 0 * 13 *', /month.*13/],
    ['0 0 0 * * 0', /day_of_week.*0 is outside 1-7/],
    ['0 0 0 * * 8', /day_of_week.*8/],
    ['0 0 0 * * * 1969', /year.*1969/],
    ['0 0 0 * * * 2101', /year.*2101/],
    ['0 0 0 * Foo *', /month.*"Foo"/],
    ['0 0 0 * * Funday', /day_of_week.*"Funday"/],
    ['*/0 * * * * *', /seconds.*step 0/],
    ['0 */61 * * * *', /minutes.*step 61/],
    ['0 30-10 * * * *', /minutes.*backwards/],
    ['? * * * * *', /seconds.*"\?" is only allowed/],
    ['0 0 0 * * Mon/2', /day_of_week.*step needs/],
    ['0 0,,1 * * * *', /minutes.*empty list item/],
    ['0 0 0 * * 1-', /day_of_week/],
    ['@often', /unknown shortcut/],
    ['a b c d e f', /seconds/],
  ];
  for (const [expression, pattern] of bad) {
    assert.throws(
      () => parseCron(expression, { timeZone: 'UTC' }),
      (err: unknown) => err instanceof LifeboatError && err.code === 'CRON_INVALID' && pattern.test(err.message) && /sec min hour/.test(err.hint ?? ''),
      expression,
    );
  }
  assert.throws(() => parseCron('0 0 0 * * *', { timeZone: 'Mars/Olympus' }), /unknown time zone "Mars\/Olympus"/);
});

test('an impossible date answers quickly', () => {
  const t0 = performance.now();
  assert.equal(parseCron('0 0 0 31 2 *', { timeZone: 'UTC' }).next(new Date('2026-01-01T00:00:00Z')), undefined);
  assert.ok(performance.now() - t0 < 500);
});
