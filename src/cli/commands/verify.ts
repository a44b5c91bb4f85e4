import type { Command } from 'commander';

/** `lifeboat verify`: not implemented yet. */
export function registerVerify(program: Command): void {
  void program;
}
