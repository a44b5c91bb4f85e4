import type { PitrConfig } from '../config/types.js';
import type { KeySet } from '../crypto/keys.js';
import { LifeboatError } from '../errors.js';
import { establishIdentity } from '../identity/identity.js';
import type { Logger } from '../log.js';
import type { PitrObjectStore } from '../storage/object-store.js';
import type { BackupStore } from '../storage/store.js';
import { Capture, type CaptureStatus } from './capture/capture.js';
import { pitrDbId } from './names.js';

/**
 * Continuous backup inside Lifeboat (the library and `lifeboat serve`): starts capture in the
 * background and keeps it going. It never holds up the application: the probe, the first base
 * and every upload wait for S3, and an outage only delays them (a start that fails is tried
 * again with a growing pause; segments wait in memory). What S3 or SQLite cannot do —
 * conditional writes, an SQLite with the WAL-reset bug, a database not in WAL mode — is
 * refused once, loudly, and not retried: a restart after the fix starts it. Snapshots are
 * not touched either way.
 */

export const CONTINUOUS_STATES = ['starting', 'healthy', 'lagging', 'retrying', 'refused', 'stopped'] as const;
export type ContinuousState = (typeof CONTINUOUS_STATES)[number];

export interface ContinuousStatus {
  readonly state: ContinuousState;
  /** Why it is retrying, refused or stopped. */
  readonly error: string | undefined;
  readonly capture: CaptureStatus | undefined;
}

/** The `[pitr]` table's settings (config/types.ts) that capture takes as they are. */
export interface ContinuousOptions extends Omit<PitrConfig, 'enabled'> {
  readonly dbFile: string;
  readonly nodeId: number;
  readonly local: BackupStore;
  /** The snapshots' remote store: where the database's identity may be found after a move. */
  readonly remote: BackupStore | undefined;
  readonly store: PitrObjectStore;
  readonly keys: KeySet;
  readonly logger: Logger;
  /** Pause before the first retry of a failed start (default 5 s; doubles up to 5 min). */
  readonly retryMs?: number;
  readonly onChange?: (status: ContinuousStatus) => void;
  /**
   * Runs work in line with the backups (Lifeboat's queue): establishing the database's identity
   * beside a first backup that does the same would let each make an id of its own.
   */
  readonly serialize?: <T>(work: () => Promise<T>) => Promise<T>;
}

/**
 * Failures a retry cannot fix. Not PITR_NOT_WAL: a restore leaves the database in rollback-journal
 * mode until the application opens it and sets WAL again, and `lifeboat serve` beside it (a
 * sidecar after an init container's restore) often starts first: it retries until then.
 */
const REFUSALS = new Set(['PITR_NO_CONDITIONAL_WRITES', 'PITR_SQLITE_WAL_RESET_BUG', 'PITR_FENCED']);

export class ContinuousBackup {
  readonly #o: ContinuousOptions;
  #capture: Capture | undefined;
  #state: ContinuousState = 'starting';
  #error: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #starting: Promise<void> | undefined;
  #failures = 0;

  constructor(options: ContinuousOptions) {
    this.#o = options;
  }

  /** Starts in the background; returns at once. */
  start(): void {
    this.#starting = this.#attempt();
  }

  status(): ContinuousStatus {
    const capture = this.#capture?.status();
    const state =
      capture && (this.#state === 'healthy' || this.#state === 'lagging')
        ? capture.state === 'stopped'
          ? 'stopped'
          : capture.state === 'lagging'
            ? 'lagging'
            : 'healthy'
        : this.#state;
    return { state, error: capture?.error ?? this.#error, capture };
  }

  /** Resolves when every transaction committed before the call is in the bucket. */
  async flush(signal?: AbortSignal): Promise<number> {
    await this.#starting;
    if (!this.#capture) {
      throw new LifeboatError('PITR_NOT_RUNNING', `continuous backup is not running: ${this.#error ?? this.#state}`, {
        hint: 'see the log and `lifeboat status` for why; snapshots are not affected',
      });
    }
    return this.#capture.flush(signal ? { signal } : {});
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#starting;
    await this.#capture?.close();
  }

  async #attempt(): Promise<void> {
    if (this.#closed) return;
    const o = this.#o;
    try {
      const identify = () =>
        establishIdentity({ path: o.dbFile, nodeId: o.nodeId }, o.local, o.remote ? [o.remote] : []);
      const identity = await (o.serialize ? o.serialize(identify) : identify());
      if (this.#closed) return;
      const capture = await Capture.start({
        dbPath: o.dbFile,
        dbId: pitrDbId(identity),
        store: o.store,
        key: o.keys.active,
        keys: o.keys,
        label: { nodeId: o.nodeId },
        syncIntervalMs: o.syncIntervalMs,
        windowMs: o.windowMs,
        rebaseEveryMs: o.rebaseEveryMs,
        rebaseRatio: o.rebaseRatio,
        checkpointPages: o.checkpointPages,
        walHardPages: o.walHardPages,
        walMaxPages: o.walMaxPages,
        log: o.logger,
      });
      if (this.#closed) {
        await capture.close();
        return;
      }
      capture.on('stopped', () => o.onChange?.(this.status()));
      this.#capture = capture;
      this.#failures = 0;
      this.#set('healthy', undefined);
      o.logger.info(
        { dbId: capture.status().dbId, genId: capture.status().genId, store: o.store.description },
        'continuous backup started',
      );
    } catch (err) {
      const code = err instanceof LifeboatError ? err.code : undefined;
      const message = (err as Error).message;
      if (code && REFUSALS.has(code)) {
        this.#set('refused', message);
        o.logger.error({ err }, `continuous backup refused to start: ${message}`);
        return;
      }
      if (this.#closed) return;
      this.#failures += 1;
      const pause = Math.min(300_000, (o.retryMs ?? 5000) * 2 ** Math.min(this.#failures - 1, 6));
      this.#set('retrying', message);
      o.logger.warn({ err, retryInMs: pause }, 'continuous backup could not start; trying again');
      this.#timer = setTimeout(() => {
        this.#starting = this.#attempt();
      }, pause);
      this.#timer.unref();
    }
  }

  #set(state: ContinuousState, error: string | undefined): void {
    this.#state = state;
    this.#error = error;
    this.#o.onChange?.(this.status());
  }
}
