import type { Command } from 'commander';
import { Lifeboat } from '../../lifeboat.js';
import { cliLogger, withConfigOption, type ConfigFlag } from '../context.js';
import { action } from '../run.js';

interface ServeFlags extends ConfigFlag {
  db?: string;
  initialBackup?: boolean;
}

/**
 * `lifeboat serve`: run the backup schedule until SIGINT/SIGTERM. Without --db it hosts the
 * embedded database (created in WAL mode); with --db it is a sidecar for a database that
 * another process writes.
 */
export function registerServe(program: Command): void {
  withConfigOption(program.command('serve'))
    .description('run the backup schedule until SIGINT/SIGTERM (sidecar with --db)')
    .option('--db <path>', 'back up this database, written by another process (sidecar mode)')
    .option('--no-initial-backup', 'do not take a backup at start when none exists yet')
    .action(
      action(async (flags: ServeFlags) => {
        const logger = cliLogger();
        const lifeboat = await Lifeboat.open({
          ...(flags.config !== undefined ? { configFile: flags.config } : {}),
          ...(flags.db !== undefined ? { dbPath: flags.db } : {}),
          logger,
          backupOnStart: flags.initialBackup === false ? 'never' : 'if-none',
        });
        await new Promise<void>((resolve) => {
          const stop = (signal: NodeJS.Signals) => {
            logger.info({ signal }, 'stopping: waiting for a running backup to finish');
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            resolve();
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
        await lifeboat.close();
      }),
    );
}
