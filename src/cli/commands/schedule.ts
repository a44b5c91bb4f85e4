import type { Command } from 'commander';
import { ConfigError, LifeboatError } from '../../errors.js';
import { type CronSchedule, nextFireTimes, parseCron } from '../../schedule/cron.js';
import { action } from '../run.js';

interface ScheduleFlags {
  from?: string;
  count: string;
  tz?: string;
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

/** `lifeboat schedule "<expr>"`: the next fire times, one ISO-8601 UTC instant per line. */
export function registerSchedule(program: Command): void {
  program
    .command('schedule')
    .description(
      'print the next fire times of a cron expression (Hiqlite dialect: ' +
        'sec min hour dom month dow [year], dow 1-7 = Sun..Sat)',
    )
    .argument('<expression>', 'e.g. "0 30 2 * * * *" (02:30:00 every day)')
    .option('--from <iso>', 'start after this instant, ISO-8601 (default: now)')
    .option('--count <n>', 'how many fire times', '5')
    .option('--tz <zone>', 'IANA time zone the expression is read in (default: the local zone, TZ)')
    .action(
      action((expression: string, flags: ScheduleFlags) => {
        const count = parseCount(flags.count);
        const from = parseFrom(flags.from);
        const schedule = parseSchedule(expression, flags.tz);
        const times = nextFireTimes(schedule, from, count);
        if (times.length === 0)
          throw new ConfigError([
            `"${expression}" never fires after ${from.toISOString()} (no matching time up to the year 2100)`,
          ]);
        process.stdout.write(`${times.map((t) => t.toISOString()).join('\n')}\n`);
      }),
    );
}
