import { spawnSync } from 'node:child_process';

/** A command prefix that runs a process as pid 1 of a new PID namespace with its own /proc, as a container does. */
export const UNSHARE = ['unshare', '--pid', '--fork', '--mount-proc'] as const;

/** Why the PID-namespace tests cannot run here, or undefined when they can. */
export function unshareUnavailable(): string | undefined {
  const probe = spawnSync(UNSHARE[0], [...UNSHARE.slice(1), 'true'], { encoding: 'utf8' });
  if (probe.error) return `unshare is not available: ${probe.error.message}`;
  if (probe.status !== 0) return `unshare cannot make a PID namespace here: ${probe.stderr.trim()}`;
  return undefined;
}
