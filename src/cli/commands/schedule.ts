import type { Command } from 'commander';

/** `lifeboat schedule`: not implemented yet. */
export function registerSchedule(program: Command): void {
  void program;
}
