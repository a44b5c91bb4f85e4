import type { Command } from 'commander';
import type { KeySet } from '../../crypto/keys.js';
import { ConfigError } from '../../errors.js';
import type { FileCryptResult } from '../../crypto/file.js';
import { configFromCli, formatBytes, formatDuration, withConfigOption, type ConfigFlag } from '../context.js';
import { createProgress } from '../progress.js';

export interface CryptFlags extends ConfigFlag {
  force?: boolean;
  chunkKib?: string;
}

export function keySetFromCli(flags: ConfigFlag): KeySet {
  const config = configFromCli(flags);
  if (!config.encryption) {
    throw new ConfigError(['no encryption keys are configured: set ENC_KEYS (id/base64key lines) and ENC_KEY_ACTIVE, or [encryption] keys / key_active'], {
      hint: 'create a key with `lifeboat keys generate`',
    });
  }
  return config.encryption;
}

/** Shared shape of `encrypt` and `decrypt`: two paths, --force, progress, a summary line. */
export function cryptCommand(program: Command, name: string, description: string): Command {
  return withConfigOption(program.command(name))
    .description(description)
    .argument('<in>', 'input file')
    .argument('<out>', 'output file (written atomically)')
    .option('--force', 'replace an existing output file');
}

export async function runWithProgress(label: string, work: (onProgress: (done: number, total: number) => void) => Promise<FileCryptResult>): Promise<void> {
  let progress: ReturnType<typeof createProgress> | undefined;
  const result = await work((done, total) => {
    progress ??= createProgress({ label, total });
    progress.update(done);
  });
  progress?.done();
  const mbs = result.inputBytes / 1048576 / Math.max(result.ms / 1000, 1e-6);
  process.stdout.write(`${label} ${formatBytes(result.inputBytes)} -> ${formatBytes(result.outputBytes)} in ${formatDuration(result.ms)} (${mbs.toFixed(1)} MiB/s), key id ${result.keyId ?? '?'}\n`);
}
