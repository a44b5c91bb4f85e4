import type { Command } from 'commander';
import { Lifeboat } from '../../lifeboat.js';
import { type StatusServer, startStatusServer } from '../../server/http.js';
import { parseListen } from '../../server/listen.js';
import { type ConfigFlag, cliLogger, withConfigOption } from '../context.js';
import { action } from '../run.js';

interface ServeFlags extends ConfigFlag {
  db?: string;
  initialBackup?: boolean;
  listen?: string;
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
    .option(
      '--listen <addr>',
      'serve GET /health and /metrics on PORT (127.0.0.1), :PORT (every interface), ' +
        'HOST:PORT or [IPv6]:PORT (env LIFEBOAT_HTTP_LISTEN; default: off)',
    )
    .action(
      action(async (flags: ServeFlags) => {
        const listenText = flags.listen ?? (process.env.LIFEBOAT_HTTP_LISTEN || undefined);
        const listen =
          listenText === undefined
            ? undefined
            : parseListen(listenText, flags.listen !== undefined ? '--listen' : 'LIFEBOAT_HTTP_LISTEN');
        const logger = cliLogger();
        // A signal during the start (a start-up restore's download, the wait for the database)
        // stops it cleanly: temp copy removed, lock released, nothing changed.
        const starting = new AbortController();
        const stopStart = (signal: NodeJS.Signals) => {
          logger.warn({ signal }, 'stopping during start-up');
          starting.abort(new Error(`stopped by ${signal}`));
        };
        process.once('SIGINT', stopStart);
        process.once('SIGTERM', stopStart);
        let lifeboat: Lifeboat;
        try {
          lifeboat = await Lifeboat.open({
            ...(flags.config !== undefined ? { configFile: flags.config } : {}),
            ...(flags.db !== undefined ? { dbPath: flags.db, waitForDatabase: true } : {}),
            logger,
            backupOnStart: flags.initialBackup === false ? 'never' : 'if-none',
            signal: starting.signal,
          });
        } finally {
          process.off('SIGINT', stopStart);
          process.off('SIGTERM', stopStart);
        }
        // A signal that came once the start could no longer be stopped (a restore past its
        // download finishes: it is crash-safe, not interruptible): stop right after it.
        if (starting.signal.aborted) {
          await lifeboat.close();
          return;
        }
        let server: StatusServer | undefined;
        try {
          server = listen ? await startStatusServer(lifeboat, listen, logger) : undefined;
        } catch (err) {
          await lifeboat.close();
          throw err;
        }
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
        await server?.close();
        await lifeboat.close();
      }),
    );
}
