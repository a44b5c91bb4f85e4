import type { Command } from 'commander';

/** `lifeboat encrypt`: not implemented yet. */
export function registerEncrypt(program: Command): void {
  void program;
}
