import type { Command } from 'commander';
import { type Composition, compose } from '../compose.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { createLogger, type Logger } from '../log.js';

export interface ConfigFlag {
  readonly config?: string;
}

/** Adds `--config F` (the TOML file; default ./config.toml or LIFEBOAT_CONFIG). */
export function withConfigOption(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'TOML configuration file (default: ./config.toml, or $LIFEBOAT_CONFIG)');
}

export function configFromCli(flags: ConfigFlag): Config {
  return loadConfig({
    ...(flags.config !== undefined ? { configFile: flags.config } : {}),
    env: process.env,
    cwd: process.cwd(),
  });
}

let logLevel: string | undefined;
let logger: Logger | undefined;

/** `--log-level`, set by main.ts before a command runs; it beats LIFEBOAT_LOG. */
export function setCliLogLevel(level: string | undefined): void {
  logLevel = level;
  logger = undefined;
}

/** The one logger of a CLI process (stderr), shared by the command, its parts and its progress. */
export function cliLogger(): Logger {
  logger ??= createLogger(logLevel !== undefined ? { level: logLevel } : {});
  return logger;
}

/**
 * The parts a command works with, built by the composition root from `--config` and `--db`.
 * `run` gets them and they are closed afterwards, whatever happens.
 */
export async function withParts<T>(
  flags: ConfigFlag & { readonly db?: string | undefined },
  run: (parts: Composition) => Promise<T>,
): Promise<T> {
  const parts = await compose({ config: configFromCli(flags), logger: cliLogger(), dbPath: flags.db });
  try {
    return await run(parts);
  } finally {
    parts.close();
  }
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** "3 h", "2 d 4 h": how long ago a backup was taken. */
export function formatAge(from: Date, now: Date): string {
  const s = Math.max(0, Math.floor((now.getTime() - from.getTime()) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}
