import type { Command } from 'commander';

/** `lifeboat backup`: not implemented yet. */
export function registerBackup(program: Command): void {
  void program;
}
