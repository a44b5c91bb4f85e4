import type { Command } from 'commander';

/** `lifeboat decrypt`: not implemented yet. */
export function registerDecrypt(program: Command): void {
  void program;
}
