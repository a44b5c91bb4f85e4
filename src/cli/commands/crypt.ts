import { basename } from 'node:path';
import type { Command } from 'commander';
import type { FileCryptOptions, FileCryptResult } from '../../crypto/file.js';
import type { KeySet } from '../../crypto/keys.js';
import { ConfigError } from '../../errors.js';
import { formatSize } from '../../fs/space.js';
import { type ConfigFlag, configFromCli, formatDuration, withConfigOption } from '../context.js';
import { createProgress, type Progress } from '../progress.js';

/** What `encrypt` and `decrypt` share: the flags, the key set, progress, Ctrl-C, the summary. */

export interface CryptFlags extends ConfigFlag {
  force?: boolean;
  chunkKib?: string;
}

/** The configured key set; none configured is a configuration error (exit 2). */
export function keySetFromCli(flags: ConfigFlag): KeySet {
  const config = configFromCli(flags);
  if (!config.encryption) {
    throw new ConfigError(
      [
        'no encryption keys are configured: set ENC_KEYS (one id/base64key per line) ' +
          'and ENC_KEY_ACTIVE, or [encryption] keys and key_active in the config file',
      ],
      {
        hint: 'create a key with `lifeboat keys generate`',
      },
    );
  }
  return config.encryption;
}

export function cryptCommand(program: Command, name: string, description: string): Command {
  return withConfigOption(program.command(name))
    .description(description)
    .argument('<in>', 'input file')
    .argument('<out>', 'output file (written to a temp file, renamed into place when complete)')
    .option('--force', 'replace an existing output file');
}

type Work = (options: Pick<FileCryptOptions, 'onProgress' | 'signal'>) => Promise<FileCryptResult>;

/**
 * Runs the work with a progress line on a terminal, turns Ctrl-C / SIGTERM into a clean
 * abort (the temp file is removed, an existing output stays), and prints a one-line summary.
 */
export async function runCrypt(
  verb: 'encrypted' | 'decrypted',
  input: string,
  output: string,
  work: Work,
): Promise<void> {
  const controller = new AbortController();
  const stop = () => {
    // A second Ctrl-C gets Node's default behaviour (exit at once).
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  let progress: Progress | undefined;
  try {
    const result = await work({
      signal: controller.signal,
      onProgress: (done, total) => {
        progress ??= createProgress({
          label: `${verb === 'encrypted' ? 'encrypting' : 'decrypting'} ${basename(input)}`,
          total,
        });
        progress.update(done);
      },
    });
    progress?.done();
    const mbps = result.inputBytes / 1e6 / Math.max(result.ms / 1000, 1e-6);
    process.stdout.write(
      `${verb} ${input} (${formatSize(result.inputBytes)}) -> ${output} (${formatSize(result.outputBytes)}) ` +
        `in ${formatDuration(result.ms)}, ${mbps.toFixed(1)} MB/s, key id ${result.keyId}\n`,
    );
  } finally {
    progress?.done();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
