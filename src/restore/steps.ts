/**
 * The step boundaries of a restore, in order. A caller may pass `onStep` to hear them: the
 * crash tests kill the process at each one (test/support/restore-child.ts), as a power cut would.
 */
export type RestoreStep =
  | 'during-materialise'
  | 'after-materialise'
  | 'after-validate'
  | 'after-settle'
  | 'after-intent'
  | 'after-keep-old'
  | 'after-rename'
  | 'after-marker';

export type StepHook = ((step: RestoreStep) => void) | undefined;
