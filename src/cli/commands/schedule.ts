import type { Command } from 'commander';
import { ConfigError, LifeboatError } from '../../errors.js';
import { nextFireTimes, parseCron } from '../../schedule/cron.js';
import { action } from '../run.js';

interface ScheduleFlags {
  from?: string;
  count: string;
  tz?: string;
}

/** `lifeboat schedule "<expr>"`: the next fire times, one ISO-8601 UTC instant per line. */
export function registerSchedule(program: Command): void {
  program
    .command('schedule')
    .description('print the next fire times of a cron expression (Hiqlite dialect: sec min hour dom month dow [year], dow 1-7 = Sun..Sat)')
    .argument('<expression>', 'e.g. "0 30 2 * * * *"')
    .option('--from <iso>', 'start from this instant (default: now)')
    .option('--count <n>', 'how many fire times', '5')
    .option('--tz <zone>', 'IANA time zone (default: the local zone, TZ)')
    .action(
      action((expression: string, flags: ScheduleFlags) => {
        const count = Number(flags.count);
        if (!Number.isInteger(count) || count < 1 || count > 10_000) throw new ConfigError([`--count: "${flags.count}" must be a whole number from 1 to 10000`]);
        const from = flags.from === undefined ? new Date() : new Date(flags.from);
        if (Number.isNaN(from.getTime())) throw new ConfigError([`--from: "${flags.from}" is not an ISO-8601 date/time, e.g. 2026-11-24T00:00:00Z`]);
        let schedule;
        try {
          schedule = parseCron(expression, flags.tz ? { timeZone: flags.tz } : {});
        } catch (err) {
          if (err instanceof LifeboatError) throw new ConfigError([err.message], err.hint ? { hint: err.hint } : {});
          throw err;
        }
        const times = nextFireTimes(schedule, from, count);
        if (times.length === 0) throw new ConfigError([`"${expression}" never fires after ${from.toISOString()} (no matching time before 2100)`]);
        process.stdout.write(`${times.map((t) => t.toISOString()).join('\n')}\n`);
      }),
    );
}
