import type { Command } from 'commander';

/** `lifeboat list`: not implemented yet. */
export function registerList(program: Command): void {
  void program;
}
