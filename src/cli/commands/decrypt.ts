import type { Command } from 'commander';
import { decryptFile } from '../../crypto/file.js';
import { action } from '../run.js';
import { type CryptFlags, cryptCommand, keySetFromCli, runCrypt } from './crypt.js';

/** `lifeboat decrypt <in> <out>`: any key of the set, chosen by the id in the header (rotation). */
export function registerDecrypt(program: Command): void {
  cryptCommand(
    program,
    'decrypt',
    'decrypt a cryptr stream (e.g. a backup downloaded from S3) with the ' +
      'key its header names; the output appears only if it all authenticates',
  ).action(
    action(async (input: string, output: string, flags: CryptFlags) => {
      const keys = keySetFromCli(flags);
      await runCrypt('decrypted', input, output, (o) =>
        decryptFile(input, output, keys, { ...o, overwrite: flags.force ?? false }),
      );
    }),
  );
}
