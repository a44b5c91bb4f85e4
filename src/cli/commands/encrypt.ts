import type { Command } from 'commander';
import { encryptFile } from '../../crypto/file.js';
import { ConfigError } from '../../errors.js';
import { action } from '../run.js';
import { cryptCommand, keySetFromCli, runWithProgress, type CryptFlags } from './crypt.js';

/** `lifeboat encrypt <in> <out>`: cryptr stream format with the active key. */
export function registerEncrypt(program: Command): void {
  cryptCommand(program, 'encrypt', 'encrypt a file with the active key (ENC_KEY_ACTIVE), in the cryptr stream format Hiqlite uses on S3')
    .option('--chunk-kib <n>', 'chunk size in KiB (1-1024)', '128')
    .action(
      action(async (input: string, output: string, flags: CryptFlags) => {
        const chunk = Number(flags.chunkKib ?? '128');
        if (!Number.isInteger(chunk) || chunk < 1 || chunk > 1024) throw new ConfigError([`--chunk-kib: "${flags.chunkKib}" must be a whole number from 1 to 1024`]);
        const keys = keySetFromCli(flags);
        await runWithProgress('encrypted', (onProgress) => encryptFile(input, output, keys.active, { overwrite: flags.force ?? false, chunkSizeKiB: chunk, onProgress }));
      }),
    );
}
