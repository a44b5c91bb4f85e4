import { Command, CommanderError } from 'commander';
import { describeError, EXIT_USAGE, exitCodeOf, LifeboatError } from '../errors.js';
import { logSettingsFromEnv, parseLogLevel } from '../log.js';
import { enableGarbageCollection } from '../memory.js';
import { packageVersion } from '../version.js';
import { commands } from './commands/index.js';
import { cliLogger, setCliLogLevel } from './context.js';

/**
 * Process warnings (e.g. the AWS SDK's "NodeVersionSupportWarning" on Node 20) as log
 * records instead of Node's plain-text lines, so a JSON log stream stays JSON for collectors.
 * Nothing is hidden: the warning is logged at level warn. Only the CLI does this (it owns
 * its process); a library must not take over process-wide handlers.
 */
function logProcessWarnings(): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    try {
      cliLogger().warn({ warning: warning.name }, warning.message);
    } catch {
      process.stderr.write(`lifeboat: ${warning.name}: ${warning.message}\n`);
    }
  });
}

/** `lifeboat keys list`, for the hint after a usage error. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)];
}

export function buildProgram(): Command {
  const program = new Command('lifeboat')
    .description('Backups and disaster recovery for an embedded SQLite database (Hiqlite-compatible)')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--log-level <level>', 'trace, debug, info, warn, error, fatal or silent (overrides $LIFEBOAT_LOG)')
    // Errors in the same form as a failed command ("lifeboat: …"); inherited by every
    // subcommand, since they are created below.
    .configureOutput({ outputError: (text, write) => write(`lifeboat: ${text.replace(/^error: /, '')}`) })
    .exitOverride()
    .hook('preAction', (_program, actionCommand) => {
      // Checked before any work, for every command: a typo in a log setting must not be
      // ignored (or crash inside the logger halfway through a restore).
      logSettingsFromEnv(process.env);
      const level = actionCommand.optsWithGlobals<{ logLevel?: string }>().logLevel;
      if (level !== undefined) setCliLogLevel(parseLogLevel(level, '--log-level'));
    });
  for (const register of commands) register(program);
  // The error and one line pointing at the right help, not the whole help: the error is
  // what the operator has to read.
  for (const cmd of allCommands(program)) cmd.showHelpAfterError(`try '${commandPath(cmd)} --help'`);
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  // The CLI is its own process: it may force collections to keep memory flat (src/memory.ts).
  enableGarbageCollection();
  logProcessWarnings();
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; every other parse problem is a usage error.
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    // From the preAction hook (the action itself reports through run.ts).
    if (err instanceof LifeboatError) {
      process.stderr.write(`lifeboat: ${describeError(err)}\n`);
      process.exitCode = exitCodeOf(err);
      return;
    }
    throw err;
  }
}
