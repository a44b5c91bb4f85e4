/**
 * Named moments where the kill-and-restore proof stops capture dead (spec §5, `LIFEBOAT_FAULT`):
 * with `LIFEBOAT_FAULT=<point>` in its environment, the process kills itself with SIGKILL the
 * first time it passes that point, as a power cut there would. Random kills land mostly where
 * capture waits; these are the moments between two writes that must not both be needed. Read
 * at each pass, so a test can arm a running process; unset, a pass costs one lookup.
 */

export const FAULT_POINTS = [
  /** Segments sealed and queued in memory, none of them sent. */
  'after-seal',
  /** The bucket holds a segment; capture has not counted it as shipped, nor recorded it in state.json. */
  'after-put',
  /** state.json's new content is written and synced under a temp name, not yet renamed over the old. */
  'before-state-rename',
  /** Inside the checkpoint cycle: the WAL checkpointed under the write lock, frames read only into memory. */
  'during-checkpoint',
  /** A base inside the generation copied to the work folder, not yet uploaded. */
  'during-rebase',
] as const;

/**
 * Points a kill-and-restore run does not pass (its window is days long, so retention never
 * deletes there); test/pitr/retention.test.ts kills capture at each.
 */
export const RETENTION_FAULT_POINTS = [
  /** Retention deleted an expired generation's bases and segments, not yet its meta. */
  'during-retention',
] as const;

export type FaultPoint = (typeof FAULT_POINTS)[number] | (typeof RETENTION_FAULT_POINTS)[number];

export const FAULT_ENV = 'LIFEBOAT_FAULT';

export function faultPoint(point: FaultPoint): void {
  if (process.env[FAULT_ENV] === point) process.kill(process.pid, 'SIGKILL');
}
