import type { Command } from 'commander';

/** `lifeboat restore`: not implemented yet. */
export function registerRestore(program: Command): void {
  void program;
}
