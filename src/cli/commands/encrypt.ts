import type { Command } from 'commander';
import { encryptFile } from '../../crypto/file.js';
import { DEFAULT_CHUNK_KIB, isValidChunkKiB, MAX_CHUNK_KIB, MIN_CHUNK_KIB } from '../../crypto/format.js';
import { ConfigError } from '../../errors.js';
import { action } from '../run.js';
import { type CryptFlags, cryptCommand, keySetFromCli, runCrypt } from './crypt.js';

/** `lifeboat encrypt <in> <out>`: the cryptr stream format Hiqlite writes to S3, with the active key. */
export function registerEncrypt(program: Command): void {
  cryptCommand(
    program,
    'encrypt',
    'encrypt a file with the active key (ENC_KEY_ACTIVE), in the cryptr stream format Hiqlite uses on S3',
  )
    .option(
      '--chunk-kib <n>',
      `chunk size in KiB (${MIN_CHUNK_KIB}-${MAX_CHUNK_KIB}); keep the default for Hiqlite`,
      String(DEFAULT_CHUNK_KIB),
    )
    .action(
      action(async (input: string, output: string, flags: CryptFlags) => {
        const raw = flags.chunkKib ?? String(DEFAULT_CHUNK_KIB);
        const chunk = /^\d+$/.test(raw) ? Number(raw) : NaN;
        if (!isValidChunkKiB(chunk))
          throw new ConfigError([
            `--chunk-kib: "${raw}" must be a whole number from ${MIN_CHUNK_KIB} to ${MAX_CHUNK_KIB}`,
          ]);
        const keys = keySetFromCli(flags);
        await runCrypt('encrypted', input, output, (o) =>
          encryptFile(input, output, keys.active, { ...o, overwrite: flags.force ?? false, chunkSizeKiB: chunk }),
        );
      }),
    );
}
