import { formatSize } from '../fs/space.js';
import type { Logger } from '../log.js';
import { cliLogger } from './context.js';

/**
 * One line of progress for long work (encrypt, decrypt, backup, restore), drawn only when
 * the stream is a terminal: logs, pipes and CI output never get carriage returns or escape
 * codes. Redrawn at most every `intervalMs`, so calling update() for every chunk is cheap.
 * Elsewhere (a service, a container, CI) progress becomes log records instead: one at each
 * 10% step, `{stage, bytes, total, percent}`, so a long restore is visibly alive in the logs.
 *
 *   const p = createProgress({ label: 'encrypt', total: size });
 *   p.update(bytesDone); ... p.done();
 */
export interface Progress {
  /** Bytes done so far (absolute, not an increment). */
  update(bytes: number): void;
  /** Clears the line (if anything was drawn). Idempotent. */
  done(): void;
}

export interface ProgressOptions {
  readonly label: string;
  /** Total bytes, when known: adds a percentage and an ETA. */
  readonly total?: number;
  /** Default process.stderr, so stdout stays clean for results. */
  readonly stream?: NodeJS.WriteStream;
  /** Minimum time between redraws; default 200 ms. */
  readonly intervalMs?: number;
  /** Clock in ms, injectable for tests; default performance.now. */
  readonly now?: () => number;
  /** `false` for work without a byte count (a database check): the line is just the label. */
  readonly bytes?: boolean;
  /** Where progress goes when the stream is not a terminal; default the CLI's logger. */
  readonly logger?: Logger;
}

const MiB = 1024 * 1024;
const CLEAR_TO_END = '\u001b[K';

function mib(bytes: number): string {
  return (bytes / MiB).toFixed(1);
}

/** "42 s", "3 min 05 s", "2 h 07 min": short and stable in width for the common cases. */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** The text of one progress line (without the carriage return and clearing). */
export function progressLine(label: string, bytes: number, total: number | undefined, elapsedMs: number): string {
  const secs = elapsedMs / 1000;
  const rate = secs > 0 ? bytes / secs : 0;
  const known = total !== undefined && total > 0;
  const pct = known ? ` ${Math.min(100, Math.floor((bytes / total) * 100))}%` : '';
  const size = known ? `${mib(bytes)}/${mib(total)}` : mib(bytes);
  const eta = known && rate > 0 && bytes < total ? ` eta ${formatEta((total - bytes) / rate)}` : '';
  return `${label}${pct} ${size} MiB ${mib(rate)} MiB/s${eta}`;
}

/** Without a known total there are no 10% steps: a record this often instead. */
const UNKNOWN_TOTAL_INTERVAL_MS = 30_000;

/** Progress as log records: at each 10% step, or every 30 s when the total is unknown. */
function loggedProgress(options: ProgressOptions, logger: Logger): Progress {
  const now = options.now ?? (() => performance.now());
  const stage = options.label;
  const total = options.total !== undefined && options.total > 0 ? options.total : undefined;
  let lastStep = 0; // tenths already logged
  let lastAt = now();
  let started = false;
  let finished = false;
  return {
    update(bytes: number) {
      if (finished) return;
      if (options.bytes === false) {
        // No byte count (a database check): one record when it starts.
        if (!started) logger.info({ stage }, `${stage}…`);
        started = true;
        return;
      }
      if (total === undefined) {
        const t = now();
        if (t - lastAt < UNKNOWN_TOTAL_INTERVAL_MS) return;
        lastAt = t;
        logger.info({ stage, bytes }, `${stage}: ${formatSize(bytes)} so far`);
        return;
      }
      const step = Math.min(10, Math.floor((bytes / total) * 10));
      if (step <= lastStep) return;
      lastStep = step;
      const percent = step * 10;
      logger.info(
        { stage, bytes, total, percent },
        `${stage}: ${percent}% (${formatSize(bytes)} of ${formatSize(total)})`,
      );
    },
    done() {
      finished = true;
    },
  };
}

export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  if (!stream.isTTY) return loggedProgress(options, options.logger ?? cliLogger());
  const now = options.now ?? (() => performance.now());
  const interval = options.intervalMs ?? 200;
  const started = now();
  let last = Number.NEGATIVE_INFINITY; // the first update always draws
  let drawn = false;
  let finished = false;
  return {
    update(bytes: number) {
      if (finished) return;
      const t = now();
      // Always draw the 100% state, so a fast finish does not leave a stale number behind.
      const complete = options.total !== undefined && bytes >= options.total;
      if (t - last < interval && !complete) return;
      last = t;
      let line =
        options.bytes === false ? `${options.label}…` : progressLine(options.label, bytes, options.total, t - started);
      // A line wider than the terminal wraps, and \r then only clears its last row.
      const columns = stream.columns;
      if (columns && line.length >= columns) line = line.slice(0, Math.max(0, columns - 1));
      stream.write(`\r${line}${CLEAR_TO_END}`);
      drawn = true;
    },
    done() {
      if (finished) return;
      finished = true;
      if (drawn) stream.write(`\r${CLEAR_TO_END}`);
    },
  };
}
