import { Command, CommanderError } from 'commander';
import { EXIT_USAGE } from '../errors.js';
import { enableGarbageCollection } from '../memory.js';
import { commands } from './commands/index.js';

export function buildProgram(): Command {
  const program = new Command('lifeboat')
    .description('Backups and disaster recovery for an embedded SQLite database (Hiqlite-compatible)')
    .showHelpAfterError()
    .exitOverride();
  for (const register of commands) register(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  // The CLI is its own process: it may force collections to keep memory flat (src/memory.ts).
  enableGarbageCollection();
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; every other parse problem is a usage error.
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    throw err;
  }
}
