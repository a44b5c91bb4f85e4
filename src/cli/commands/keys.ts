import type { Command } from 'commander';
import { originsOf } from '../../config/load.js';
import { generateKey, keyIdProblem } from '../../crypto/keys.js';
import { ConfigError } from '../../errors.js';
import { type ConfigFlag, configFromCli, withConfigOption } from '../context.js';
import { action } from '../run.js';

/** `lifeboat keys generate|list`. */
export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('encryption keys (ENC_KEYS / ENC_KEY_ACTIVE)');
  keys
    .command('generate')
    .description(
      'print a new key line "id/base64key" (32 random bytes) ' +
        'to add to ENC_KEYS; the only command that prints key material',
    )
    .option('--id <id>', 'key id, 2-20 characters of a-z A-Z 0-9 _ - (default: 8 random characters)')
    .action(
      action((flags: { id?: string }) => {
        const problem = flags.id === undefined ? undefined : keyIdProblem(flags.id);
        if (problem) throw new ConfigError([`--id: ${problem}`]);
        const line = generateKey(flags.id);
        process.stdout.write(`${line}\n`);
        if (process.stderr.isTTY) {
          const id = line.slice(0, line.indexOf('/'));
          process.stderr.write(
            `# add this line to ENC_KEYS (one entry per line, keep the old keys), then set ENC_KEY_ACTIVE=${id}\n`,
          );
        }
      }),
    );
  withConfigOption(keys.command('list'))
    .description('list the configured key ids and the active one (never the keys)')
    .option('--json', 'print JSON: {"ids": [...], "active": "..."} (docs/json-output.md)')
    .action(
      action((flags: ConfigFlag & { json?: boolean }) => {
        const config = configFromCli(flags);
        if (!config.encryption) {
          throw new ConfigError(
            [
              'encryption.keys (ENC_KEYS): no encryption keys are configured; ' +
                'set ENC_KEYS and ENC_KEY_ACTIVE (or [encryption] keys / key_active)',
            ],
            {
              hint: '`lifeboat keys generate` prints a new key',
            },
          );
        }
        const active = config.encryption.active.id;
        if (flags.json) {
          // The same shape as `keys` in `lifeboat config --json`.
          process.stdout.write(`${JSON.stringify({ ids: config.encryption.ids, active }, null, 2)}\n`);
          return;
        }
        process.stdout.write(
          `${config.encryption.ids.map((id) => `${id}${id === active ? '  (active)' : ''}`).join('\n')}\n`,
        );
        const origin = originsOf(config).keys;
        if (process.stderr.isTTY && origin)
          process.stderr.write(
            `# keys from ${origin === 'file' ? config.configFile : origin === 'env' ? 'ENC_KEYS' : origin}\n`,
          );
      }),
    );
}
