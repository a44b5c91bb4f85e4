import type { Command } from 'commander';
import { describeConfig, formatConfig } from '../../config/redact.js';
import { type ConfigFlag, configFromCli, withConfigOption } from '../context.js';
import { action } from '../run.js';

/**
 * `lifeboat config [--config F] [--json]`: the effective configuration with where each value
 * comes from (secrets as ***); exit 0. Invalid: every problem on stderr, exit 2 (ConfigError).
 */
export function registerConfig(program: Command): void {
  withConfigOption(program.command('config'))
    .description(
      'print the effective configuration and where each value comes ' +
        'from (secrets as ***); exit 2 listing every problem when invalid',
    )
    .option('--json', 'print JSON')
    .action(
      action((flags: ConfigFlag & { json?: boolean }) => {
        const view = describeConfig(configFromCli(flags));
        process.stdout.write(flags.json ? `${JSON.stringify(view, null, 2)}\n` : formatConfig(view));
      }),
    );
}
