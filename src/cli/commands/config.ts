import type { Command } from 'commander';

/** `lifeboat config`: not implemented yet. */
export function registerConfig(program: Command): void {
  void program;
}
