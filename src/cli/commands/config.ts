import type { Command } from 'commander';
import { describeConfig } from '../../config/redact.js';
import { configFromCli, withConfigOption, type ConfigFlag } from '../context.js';
import { action } from '../run.js';

/** `lifeboat config`: the effective configuration (secrets as ***); exit 2 when invalid. */
export function registerConfig(program: Command): void {
  withConfigOption(program.command('config'))
    .description('print the effective configuration with where each value comes from (secrets as ***)')
    .option('--json', 'print JSON')
    .action(
      action((flags: ConfigFlag & { json?: boolean }) => {
        const view = describeConfig(configFromCli(flags));
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
          return;
        }
        const width = Math.max(...view.entries.map((e) => e.key.length));
        const lines = [`# config file: ${view.configFile ?? 'none (defaults and environment)'}`];
        for (const e of view.entries) lines.push(`${e.key.padEnd(width)} = ${JSON.stringify(e.value)}  # ${e.origin}${e.env ? `, ${e.env}` : ''}`);
        lines.push('', `# database: ${view.paths.dbFile}`, `# backups:  ${view.paths.backupsDir}`);
        process.stdout.write(`${lines.join('\n')}\n`);
      }),
    );
}
