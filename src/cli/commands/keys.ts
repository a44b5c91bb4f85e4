import type { Command } from 'commander';
import { ConfigError } from '../../errors.js';
import { generateKey, KEY_ID_PATTERN } from '../../crypto/keys.js';
import { configFromCli, withConfigOption, type ConfigFlag } from '../context.js';
import { action } from '../run.js';

/** `lifeboat keys generate|list`. */
export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('encryption keys (ENC_KEYS / ENC_KEY_ACTIVE)');
  keys
    .command('generate')
    .description('print a new key line "id/base64key" (32 random bytes) to add to ENC_KEYS')
    .option('--id <id>', 'key id, 2-20 characters of a-z A-Z 0-9 _ - (default: random)')
    .action(
      action((flags: { id?: string }) => {
        if (flags.id !== undefined && !KEY_ID_PATTERN.test(flags.id)) throw new ConfigError([`--id: "${flags.id}" must be 2-20 characters of a-z, A-Z, 0-9, _ or -`]);
        process.stdout.write(`${generateKey(flags.id)}\n`);
      }),
    );
  withConfigOption(keys.command('list'))
    .description('list the configured key ids and the active one (never the keys)')
    .action(
      action((flags: ConfigFlag) => {
        const config = configFromCli(flags);
        if (!config.encryption) throw new ConfigError(['no encryption keys are configured: set ENC_KEYS and ENC_KEY_ACTIVE (or [encryption] keys / key_active)']);
        const active = config.encryption.active.id;
        process.stdout.write(`${config.encryption.ids.map((id) => `${id}${id === active ? '  (active)' : ''}`).join('\n')}\n`);
      }),
    );
}
