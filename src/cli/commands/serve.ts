import type { Command } from 'commander';

/** `lifeboat serve`: not implemented yet. */
export function registerServe(program: Command): void {
  void program;
}
