import type { Command } from 'commander';

/** `lifeboat keys`: not implemented yet. */
export function registerKeys(program: Command): void {
  void program;
}
