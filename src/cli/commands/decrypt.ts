import type { Command } from 'commander';
import { decryptFile } from '../../crypto/file.js';
import { action } from '../run.js';
import { cryptCommand, keySetFromCli, runWithProgress, type CryptFlags } from './crypt.js';

/** `lifeboat decrypt <in> <out>`: any key of the set, chosen by the id in the header. */
export function registerDecrypt(program: Command): void {
  cryptCommand(program, 'decrypt', 'decrypt a cryptr stream (e.g. a backup downloaded from S3) with the key named in its header').action(
    action(async (input: string, output: string, flags: CryptFlags) => {
      const keys = keySetFromCli(flags);
      await runWithProgress('decrypted', (onProgress) => decryptFile(input, output, keys, { overwrite: flags.force ?? false, onProgress }));
    }),
  );
}
