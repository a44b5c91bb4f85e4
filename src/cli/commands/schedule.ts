import type { Command } from 'commander';
import { originsOf } from '../../config/load.js';
import { ConfigError, LifeboatError } from '../../errors.js';
import { type CronSchedule, nextFireTimes, parseCron, zoneOffsetMs } from '../../schedule/cron.js';
import { type ConfigFlag, configFromCli, withConfigOption } from '../context.js';
import { action } from '../run.js';

interface ScheduleFlags extends ConfigFlag {
  from?: string;
  count: string;
  tz?: string;
  json?: boolean;
}

/** `lifeboat schedule --json`; documented in docs/json-output.md. */
export interface ScheduleOutput {
  readonly expression: string;
  /** Where the expression came from: the command line, or the configuration (backup_cron). */
  readonly source: 'argument' | 'config';
  /** The IANA zone the expression is read in (backup_cron_tz, --tz, or the process's zone). */
  readonly timeZone: string;
  /** Each fire time as RFC 3339: in UTC, and on the wall clock of `timeZone` with its offset. */
  readonly fireTimes: ReadonlyArray<{ readonly utc: string; readonly local: string }>;
}

const MAX_COUNT = 10_000;

// `new Date()` also accepts "Nov 24 2026" or "2026"; an operator checking a backup schedule
// should get an error for anything but an unambiguous ISO-8601 date or date-time.
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

function parseFrom(text: string | undefined): Date {
  if (text === undefined) return new Date();
  const from = ISO_8601.test(text) ? new Date(text) : new Date(Number.NaN);
  if (Number.isNaN(from.getTime()))
    throw new ConfigError([`--from: "${text}" is not an ISO-8601 date/time, e.g. 2026-11-24T00:00:00Z`]);
  return from;
}

function parseCount(text: string): number {
  const count = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(count >= 1 && count <= MAX_COUNT))
    throw new ConfigError([`--count: "${text}" must be a whole number from 1 to ${MAX_COUNT}`]);
  return count;
}

function parseSchedule(expression: string, tz: string | undefined): CronSchedule {
  try {
    return parseCron(expression, tz === undefined ? {} : { timeZone: tz });
  } catch (err) {
    // The same mistake in a config file is a configuration error: exit 2, not 1.
    if (err instanceof LifeboatError)
      throw new ConfigError([err.message], err.hint ? { hint: err.hint, cause: err } : { cause: err });
    throw err;
  }
}

/** `2026-12-07T02:30:00+01:00`: the wall-clock time in `zone`, with that zone's offset then. */
export function rfc3339InZone(instant: Date, zone: string): string {
  const whole = Math.floor(instant.getTime() / 1000) * 1000;
  const offsetMs = zoneOffsetMs(whole, zone);
  const wall = new Date(whole + offsetMs).toISOString().slice(0, 19);
  const minutes = Math.round(offsetMs / 60_000);
  const abs = Math.abs(minutes);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${wall}${minutes < 0 ? '-' : '+'}${two(Math.floor(abs / 60))}:${two(abs % 60)}`;
}

/**
 * `lifeboat schedule ["<expr>"]`: the next fire times, on the schedule's wall clock and in UTC.
 * Without an expression, the configured one (backup_cron in backup_cron_tz): what `serve` will do.
 */
export function registerSchedule(program: Command): void {
  withConfigOption(program.command('schedule'))
    .description(
      'print the next fire times of a cron expression (Hiqlite dialect: ' +
        'sec min hour dom month dow [year], dow 1-7 = Sun..Sat); without one, of the configured backup_cron',
    )
    .argument('[expression]', 'e.g. "0 30 2 * * * *" (02:30:00 every day); default: backup_cron (HQL_BACKUP_CRON)')
    .option('--from <iso>', 'start after this instant, ISO-8601 (default: now)')
    .option('--count <n>', 'how many fire times', '5')
    .option(
      '--tz <zone>',
      'IANA time zone the expression is read in (default: backup_cron_tz for the configured ' +
        'expression, else the local zone, TZ)',
    )
    .option('--json', 'print JSON (docs/json-output.md)')
    .action(
      action((expression: string | undefined, flags: ScheduleFlags) => {
        const count = parseCount(flags.count);
        const from = parseFrom(flags.from);
        let source: ScheduleOutput['source'] = 'argument';
        let origin = '';
        let tz = flags.tz;
        if (expression === undefined) {
          const config = configFromCli(flags);
          source = 'config';
          expression = config.backupCron;
          tz ??= config.backupCronTz;
          const o = originsOf(config).backup_cron ?? 'default';
          origin = o === 'env' ? 'HQL_BACKUP_CRON' : o === 'file' ? (config.configFile ?? 'file') : o;
        }
        const schedule = parseSchedule(expression, tz);
        const zone = schedule.timeZone ?? new Intl.DateTimeFormat().resolvedOptions().timeZone;
        const times = nextFireTimes(schedule, from, count);
        if (times.length === 0)
          throw new ConfigError([
            `"${expression}" never fires after ${from.toISOString()} (no matching time up to the year 2100)`,
          ]);
        const output: ScheduleOutput = {
          expression,
          source,
          timeZone: zone,
          fireTimes: times.map((t) => ({ utc: t.toISOString(), local: rfc3339InZone(t, zone) })),
        };
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
          return;
        }
        const what = source === 'config' ? `backup_cron "${expression}" (${origin})` : `"${expression}"`;
        const lines = [`# ${what} in ${zone}`, `${`LOCAL (${zone})`.padEnd(25)}  UTC`];
        for (const t of output.fireTimes)
          lines.push(`${t.local.replace('T', ' ').padEnd(25)}  ${t.utc.replace('.000Z', 'Z')}`);
        process.stdout.write(`${lines.join('\n')}\n`);
      }),
    );
}
