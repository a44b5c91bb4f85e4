/**
 * Hiqlite's cron dialect, hand-written because no npm library speaks it exactly: Hiqlite
 * uses the Rust `cron` crate, whose weekdays are 1-7 = Sunday..Saturday (croner and
 * cron-parser use 0-6 with 0 = Sunday), whose seconds field is mandatory and year field
 * optional (1970-2100), and whose day-of-month and day-of-week are ANDed (Vixie cron and
 * croner OR them). Translating a Hiqlite expression into another library's dialect would
 * change which backups run; parsing it the crate's way is the only faithful option.
 *
 * Rules checked against zslayton/cron 0.17.0, commit cf2dc1d519246de9ad230d33de2b7cd65e30305e
 * (src/parsing.rs, src/time_unit/*.rs, src/schedule.rs, tests/lib.rs):
 * - `sec min hour day_of_month month day_of_week [year]`; 6 or 7 fields; no year = every year.
 * - Items `*`, `a`, `a-b`, `Name`, `Name-Name`, and steps `*\/n`, `a/n` (= a..max of the field),
 *   `a-b/n`, `Name-Name/n`; lists with `,` (`1,2,3/5` mixes them). A range is both numbers or
 *   both names (`3-Thu` is rejected). A step after a single name (`Mon/2`) is rejected.
 * - `?` means `*` and is accepted only in day_of_month and day_of_week (also as `?/n`).
 * - Ranges: sec/min 0-59, hour 0-23, dom 1-31, month 1-12 (jan..dec and full names),
 *   dow 1-7 (sun=1 .. sat=7; 3-letter and full names, also `tues`/`thurs`), year 1970-2100.
 *   Names are case-insensitive and exist only for month and day_of_week.
 * - Rejected: a value outside its field's range, a backwards range (`30-10`), a step of 0 or
 *   above the field's maximum (`*\/61` in minutes; 2100 is the year field's maximum step).
 * - Shortcuts, lower case only and alone on the line: `@yearly` (0 0 0 1 1 *), `@monthly`
 *   (0 0 0 1 * *), `@weekly` (0 0 0 * * 1 = Sundays), `@daily` (0 0 0 * * *), `@hourly` (0 0 * * * *).
 *   There is no `@annually`, `@midnight` or `@reboot`.
 * - day_of_month AND day_of_week must both match (the day iterator filters the day-of-month
 *   set by weekday unless day_of_week is `*`). `0 0 0 13 * 6` is Friday the 13th.
 * One leniency of the crate is not copied: its parser lets white space sit inside a list
 * (`1 ,2`); here fields are split on white space, so such an expression is refused.
 *
 * Deliberate difference — daylight-saving transitions. The crate (since #145, commit above)
 * skips a wall-clock time that does not exist (spring forward: a daily 02:30 job does not run
 * that day) and fires twice for one that exists twice (fall back: 01:30 runs in both offsets).
 * Lifeboat must neither skip a backup nor take it twice, so here:
 * - a wall time inside a gap fires once, at the first instant after the gap (02:30 in
 *   Europe/Berlin on the spring-forward day fires at 03:00 CEST; several gap times collapse
 *   into that one run);
 * - a wall time that exists twice fires only at its first occurrence; during the repeated
 *   hour nothing fires a second time.
 * Times are searched field-wise (day, then hour, minute, second) on the wall clock, strictly
 * after the wall clock of `after`; each candidate is mapped to its instant and one that is not
 * after `after` (possible only in a repeated hour) is passed over.
 */
import { LifeboatError } from '../errors.js';

export interface CronSchedule {
  readonly expression: string;
  /** IANA zone the expression is evaluated in; undefined = the process's local zone. */
  readonly timeZone: string | undefined;
  /** The first fire instant strictly after `after`, or undefined when there is none up to 2100. */
  next(after: Date): Date | undefined;
}

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: ReadonlyMap<string, number>;
  readonly any?: boolean;
}

// Maps, not object literals: a name like "constructor" must not resolve through the prototype.
const MONTHS = new Map<string, number>();
[
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
].forEach((m, i) => {
  MONTHS.set(m, i + 1).set(m.slice(0, 3), i + 1);
});
const WEEKDAYS = new Map<string, number>([
  ['tues', 3],
  ['thurs', 5],
]);
['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'].forEach((d, i) => {
  WEEKDAYS.set(d, i + 1).set(d.slice(0, 3), i + 1);
});

const FIELDS: readonly FieldSpec[] = [
  { name: 'seconds', min: 0, max: 59 },
  { name: 'minutes', min: 0, max: 59 },
  { name: 'hours', min: 0, max: 23 },
  { name: 'day_of_month', min: 1, max: 31, any: true },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day_of_week', min: 1, max: 7, names: WEEKDAYS, any: true },
  { name: 'year', min: 1970, max: 2100 },
];

const SHORTCUTS: ReadonlyMap<string, string> = new Map([
  ['@yearly', '0 0 0 1 1 *'],
  ['@monthly', '0 0 0 1 * *'],
  ['@weekly', '0 0 0 * * 1'],
  ['@daily', '0 0 0 * * *'],
  ['@hourly', '0 0 * * * *'],
]);

const FORMAT_HINT =
  'the format is "sec min hour day_of_month month day_of_week [year]" ' +
  'with weekdays 1-7 = Sun..Sat, e.g. "0 30 2 * * * *" (02:30 every day)';

function invalid(expression: string, message: string): LifeboatError {
  return new LifeboatError('CRON_INVALID', `invalid cron expression "${expression}": ${message}`, {
    hint: FORMAT_HINT,
  });
}

function parseField(expression: string, spec: FieldSpec, text: string): boolean[] {
  const set = new Array<boolean>(spec.max + 1).fill(false);
  const where = `${spec.name} field "${text}"`;
  const value = (token: string): number => {
    if (/^\d+$/.test(token)) return Number(token);
    const named = spec.names?.get(token.toLowerCase());
    if (named !== undefined && /^[a-zA-Z]+$/.test(token)) return named;
    throw invalid(expression, `${where}: "${token}" is not a ${spec.names ? 'number or name' : 'number'}`);
  };
  const checked = (n: number): number => {
    if (n < spec.min || n > spec.max) throw invalid(expression, `${where}: ${n} is outside ${spec.min}-${spec.max}`);
    return n;
  };
  for (const item of text.split(',')) {
    if (item === '') throw invalid(expression, `${where}: empty list item`);
    const [base, stepText, extra] = item.split('/');
    if (extra !== undefined || base === undefined || base === '')
      throw invalid(expression, `${where}: "${item}" is not a valid item`);
    let from: number;
    let to: number;
    let named = false;
    if (base === '*' || (base === '?' && spec.any)) {
      from = spec.min;
      to = spec.max;
    } else if (base === '?') {
      throw invalid(expression, `${where}: "?" is only allowed in day_of_month and day_of_week`);
    } else if (base.includes('-')) {
      const [a, b, more] = base.split('-');
      if (more !== undefined || !a || !b) throw invalid(expression, `${where}: "${base}" is not a valid range`);
      if (/^\d+$/.test(a) !== /^\d+$/.test(b))
        throw invalid(expression, `${where}: range "${base}" mixes a number and a name`);
      from = checked(value(a));
      to = checked(value(b));
      if (from > to) throw invalid(expression, `${where}: range ${base} runs backwards`);
    } else {
      from = checked(value(base));
      named = !/^\d+$/.test(base);
      to = stepText === undefined ? from : spec.max;
    }
    let step = 1;
    if (stepText !== undefined) {
      if (named) throw invalid(expression, `${where}: a step needs a number, a range or "*" before "/", not a name`);
      if (!/^\d+$/.test(stepText)) throw invalid(expression, `${where}: step "${stepText}" is not a number`);
      step = Number(stepText);
      if (step < 1 || step > spec.max)
        throw invalid(expression, `${where}: step ${step} must be between 1 and ${spec.max}`);
    }
    for (let v = from; v <= to; v += step) set[v] = true;
  }
  return set;
}

function everything(spec: FieldSpec): boolean[] {
  return new Array<boolean>(spec.max + 1).fill(true).fill(false, 0, spec.min);
}

function resolveZone(timeZone: string | undefined): string {
  const zone = timeZone ?? new Intl.DateTimeFormat().resolvedOptions().timeZone;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new LifeboatError('CRON_INVALID', `unknown time zone "${zone}"`, {
      hint: 'use an IANA zone name such as UTC, Europe/Berlin or America/New_York',
    });
  }
  return zone;
}

export function parseCron(expression: string, options: { timeZone?: string } = {}): CronSchedule {
  const trimmed = expression.trim();
  if (trimmed === '') throw invalid(expression, 'it is empty');
  // The crate matches shortcuts literally: `@Daily` is not `@daily`.
  const expanded = trimmed.startsWith('@') ? SHORTCUTS.get(trimmed) : trimmed;
  if (expanded === undefined)
    throw invalid(expression, `unknown shortcut ${trimmed} (known: ${[...SHORTCUTS.keys()].join(', ')})`);
  const parts = expanded.split(/\s+/);
  if (parts.length !== 6 && parts.length !== 7)
    throw invalid(expression, `it has ${parts.length} fields, expected 6 or 7`);
  const sets = FIELDS.map((spec, i) =>
    parts[i] === undefined ? everything(spec) : parseField(expression, spec, parts[i]!),
  );
  const zone = resolveZone(options.timeZone);
  const fields = sets as [boolean[], boolean[], boolean[], boolean[], boolean[], boolean[], boolean[]];
  return Object.freeze({
    expression,
    timeZone: options.timeZone,
    next: (after: Date) => nextFire(fields, zone, after),
  });
}

export function nextFireTimes(schedule: CronSchedule, from: Date, count: number): Date[] {
  const out: Date[] = [];
  let cursor = from;
  while (out.length < count) {
    const next = schedule.next(cursor);
    if (!next) break;
    out.push(next);
    cursor = next;
  }
  return out;
}

// ---- time zone arithmetic (wall clock ↔ instant) with Intl ----

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** The wall clock at `ms` in `zone`, expressed as if it were UTC (ms, whole seconds). */
function wallOf(ms: number, zone: string): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(zone).formatToParts(new Date(ms)))
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour! % 24, parts.minute!, parts.second!);
}

/** How far `zone`'s wall clock is ahead of UTC at the instant `ms` (negative west of Greenwich). */
export function zoneOffsetMs(ms: number, zone: string): number {
  return offsetAt(ms, zone);
}

function offsetAt(ms: number, zone: string): number {
  const whole = Math.floor(ms / 1000) * 1000;
  return wallOf(whole, zone) - whole;
}

/**
 * The instant a wall-clock time stands for: the earlier one when it exists twice, the end
 * of the gap when it does not exist.
 */
function instantOf(wall: number, zone: string): number {
  const before = offsetAt(wall - 86_400_000, zone);
  const after = offsetAt(wall + 86_400_000, zone);
  const candidates = [...new Set([before, after, offsetAt(wall, zone)])]
    .map((o) => wall - o)
    .filter((t) => wallOf(t, zone) === wall);
  if (candidates.length > 0) return Math.min(...candidates);
  // In a gap: the transition lies between the two readings; find its first second.
  let lo = wall - Math.max(before, after);
  let hi = wall - Math.min(before, after);
  const target = offsetAt(hi, zone);
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (offsetAt(mid, zone) === target) hi = mid;
    else lo = mid;
  }
  return hi;
}

const DAY = 86_400_000;

function nextFire(f: readonly boolean[][], zone: string, after: Date): Date | undefined {
  const [sec, min, hour, dom, month, dow, year] = f as [
    boolean[],
    boolean[],
    boolean[],
    boolean[],
    boolean[],
    boolean[],
    boolean[],
  ];
  const afterMs = after.getTime();
  if (Number.isNaN(afterMs)) return undefined;
  const start = Math.floor(wallOf(Math.floor(afterMs / 1000) * 1000, zone) / 1000) * 1000 + 1000;
  let day = Math.floor(start / DAY) * DAY;
  let first = true;
  while (true) {
    const d = new Date(day);
    const y = d.getUTCFullYear();
    if (y > 2100) return undefined;
    if (!year[y]) {
      day = Date.UTC(y + 1, 0, 1);
      first = false;
      continue;
    }
    const m = d.getUTCMonth() + 1;
    if (!month[m]) {
      day = Date.UTC(y, m, 1);
      first = false;
      continue;
    }
    if (dom[d.getUTCDate()] && dow[d.getUTCDay() + 1]) {
      const offsetInDay = first ? start - day : 0;
      const h0 = Math.floor(offsetInDay / 3_600_000);
      for (let h = h0; h <= 23; h++) {
        if (!hour[h]) continue;
        const m0 = h === h0 ? Math.floor((offsetInDay % 3_600_000) / 60_000) : 0;
        for (let mi = m0; mi <= 59; mi++) {
          if (!min[mi]) continue;
          const s0 = h === h0 && mi === m0 ? Math.floor((offsetInDay % 60_000) / 1000) : 0;
          for (let s = s0; s <= 59; s++) {
            if (!sec[s]) continue;
            const instant = instantOf(day + h * 3_600_000 + mi * 60_000 + s * 1000, zone);
            if (instant > afterMs) return new Date(instant);
          }
        }
      }
    }
    day += DAY;
    first = false;
  }
}
