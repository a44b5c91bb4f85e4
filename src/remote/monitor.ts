import type { Logger } from 'pino';
import { pushBackupFile, RemotePushError, type RemoteTarget, removeRemoteLeftovers } from '../backup/job.js';
import { sortBackupsNewestFirst } from '../backup/naming.js';
import { LifeboatError } from '../errors.js';
import { acquireLock } from '../fs/lock.js';
import { type DatabaseSelf, readDatabaseId } from '../identity/identity.js';
import type { Clock } from '../schedule/clock.js';
import { newestBackup, type RemoteState, type RemoteStatus } from '../server/status.js';
import type { LocalStore } from '../storage/local.js';

/**
 * The remote store's health for a long-running Lifeboat (the application, `lifeboat serve`),
 * and the catch-up after an outage. Nothing here blocks a start or a backup: the store is
 * probed in the background, at start and, while it fails, again and again with a growing
 * pause (30 s doubling to 10 min, on the injected clock). When it answers, the newest local
 * backup is pushed if the store lacks it — unless the store already holds a newer one — and
 * what interrupted uploads left behind is removed.
 */

/** The pause before the probe after `failedProbes` failed ones: 30 s, 60 s, 120 s, … at most 10 min. */
export function probeDelayMs(failedProbes: number): number {
  return Math.min(30_000 * 2 ** Math.min(failedProbes, 20), 600_000);
}

export interface RemoteMonitorOptions {
  readonly remote: RemoteTarget;
  /** The database whose backups are caught up (the store must belong to it). */
  readonly database: DatabaseSelf;
  readonly local: LocalStore;
  /** The backups folder's lock: a catch-up never runs beside a backup of another process. */
  readonly lockFile: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Runs work in line with this process's backups (never beside one). */
  readonly serialize: <T>(work: () => Promise<T>) => Promise<T>;
  /** Called when the state becomes `ok` or `failing` (the application's `remote` event). */
  readonly onChange?: (status: RemoteStatus) => void;
}

export class RemoteMonitor {
  readonly #o: RemoteMonitorOptions;
  readonly #stop = new AbortController();
  #state: RemoteState = 'unknown';
  #since: Date;
  #lastError: RemoteStatus['lastError'];
  #lastSuccess: Date | undefined;
  #nextCheckAt: Date | undefined;
  #catchUpPushes = 0;
  /** Backup names in the store as last seen (a listing, then our own pushes and expiries); undefined until listed. */
  #listed: Set<string> | undefined;
  /** The probe loop runs (set and cleared synchronously with the state it looks at). */
  #looping = false;

  constructor(options: RemoteMonitorOptions) {
    this.#o = options;
    this.#since = options.clock.now();
  }

  status(): RemoteStatus {
    const listed = this.#listed ? [...this.#listed].map((name) => ({ name })) : undefined;
    return {
      store: this.#o.remote.store.description,
      state: this.#state,
      since: this.#since,
      lastError: this.#lastError,
      lastSuccess: this.#lastSuccess,
      nextCheckAt: this.#nextCheckAt,
      catchUpPushes: this.#catchUpPushes,
      backups: listed?.length,
      newestBackup: listed ? newestBackup(listed, this.#o.clock.now()) : undefined,
    };
  }

  /** Probes now in the background (and catches up); keeps probing while the store fails. */
  start(): void {
    this.#loop(true);
  }

  /**
   * A backup's push worked: `object` is in the store now and `expired` (its retention) gone.
   * Followed without listing again, so that a push costs no extra request.
   */
  pushed(push?: { readonly object: string; readonly expired: readonly string[] }): void {
    this.#ok();
    if (push && this.#listed) {
      this.#listed.add(push.object);
      for (const name of push.expired) this.#listed.delete(name);
    }
  }

  /** A backup's push failed: the store fails; it is probed again after the first pause. */
  pushFailed(err: unknown): void {
    if (this.#stop.signal.aborted) return;
    this.#failed(err instanceof RemotePushError ? err.cause : err);
    this.#loop(false);
  }

  /** Probes now, catching up when the store answers; resolves with the status afterwards. */
  async check(): Promise<RemoteStatus> {
    await this.#cycle();
    return this.status();
  }

  /** Stops probing and any catch-up push in progress (its upload is aborted). */
  stop(): void {
    this.#stop.abort(new LifeboatError('ABORTED', 'Lifeboat is closing'));
  }

  #loop(probeFirst: boolean): void {
    if (this.#looping || this.#stop.signal.aborted) return;
    this.#looping = true;
    void (async () => {
      const { clock, logger } = this.#o;
      let failedProbes = 0;
      let probe = probeFirst;
      for (;;) {
        if (probe) await this.#cycle();
        probe = true;
        if (this.#stop.signal.aborted || this.#state === 'ok') break;
        const at = new Date(clock.now().getTime() + probeDelayMs(failedProbes++));
        this.#nextCheckAt = at;
        logger.info({ store: this.#o.remote.store.description, next: at.toISOString() }, 'remote store: next check');
        await clock.sleepUntil(at, this.#stop.signal);
        this.#nextCheckAt = undefined;
        if (this.#stop.signal.aborted) break;
      }
      // In the same step as the state check above: a push failing after it starts a new loop.
      this.#looping = false;
    })();
  }

  /** One probe (a listing), then the catch-up when it answered. Never rejects. */
  async #cycle(): Promise<void> {
    try {
      this.#seen(await this.#o.remote.store.list());
    } catch (err) {
      if (!this.#stop.signal.aborted) this.#failed(err);
      return;
    }
    if (this.#stop.signal.aborted) return;
    this.#ok();
    try {
      await this.#o.serialize(() => this.#catchUp());
    } catch (err) {
      if (!this.#stop.signal.aborted) this.#failed(err);
    }
  }

  /** Pushes the newest local backup when the store lacks it and holds nothing newer. */
  async #catchUp(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    const { local, remote, logger, clock } = this.#o;
    let lock: Awaited<ReturnType<typeof acquireLock>>;
    try {
      lock = await acquireLock(this.#o.lockFile, 'catch-up push');
    } catch (err) {
      if (err instanceof LifeboatError && err.code === 'LOCKED') {
        logger.info('remote store: a backup runs in another process; it pushes its own backup');
        return;
      }
      throw err;
    }
    try {
      const newest = sortBackupsNewestFirst(await local.list())[0];
      const stored = sortBackupsNewestFirst(await remote.store.list());
      this.#seen(stored);
      if (newest && !stored.some((o) => o.name === newest.name)) {
        const newer = stored[0];
        if (newer && newer.id.unixSeconds > newest.id.unixSeconds) {
          logger.info(
            { backup: newest.name, remoteNewest: newer.name },
            `not pushing ${newest.name}: the remote store holds a newer backup (${newer.name}); ` +
              'an older one would only cost bandwidth',
          );
        } else {
          logger.info(
            { backup: newest.name, store: remote.store.description },
            `catching up: pushing ${newest.name}, the newest local backup, which the remote store lacks`,
          );
          const id = await readDatabaseId(this.#o.database.path);
          const { durationMs } = await pushBackupFile(
            newest.name,
            local.pathOf(newest.name),
            remote,
            this.#stop.signal,
            id ? { self: this.#o.database, id } : undefined,
          );
          this.#catchUpPushes++;
          this.#ok();
          this.#listed?.add(newest.name);
          logger.info({ object: newest.name, ms: Math.round(durationMs) }, 'caught up: encrypted backup pushed');
        }
      }
      await removeRemoteLeftovers(remote.store, clock.now(), logger);
    } finally {
      await lock.release();
    }
  }

  #seen(objects: readonly { readonly name: string }[]): void {
    this.#listed = new Set(sortBackupsNewestFirst(objects).map((o) => o.name));
  }

  #ok(): void {
    const now = this.#o.clock.now();
    this.#lastSuccess = now;
    if (this.#state === 'ok') return;
    if (this.#state === 'failing') {
      this.#o.logger.info(
        { store: this.#o.remote.store.description, failingSince: this.#since.toISOString() },
        `the remote store answers again (it failed since ${this.#since.toISOString()})`,
      );
    }
    this.#state = 'ok';
    this.#since = now;
    this.#o.onChange?.(this.status());
  }

  #failed(err: unknown): void {
    const at = this.#o.clock.now();
    const message = err instanceof Error ? err.message : String(err);
    const code = err instanceof LifeboatError ? err.code : undefined;
    this.#lastError = { at, message, code };
    const fields = { store: this.#o.remote.store.description, code, err: message };
    if (this.#state === 'failing') {
      this.#o.logger.info(fields, 'the remote store still fails');
      return;
    }
    this.#state = 'failing';
    this.#since = at;
    this.#o.logger.warn(
      fields,
      `the remote store fails: ${message}; backups are taken and kept locally, ` +
        'and the newest is pushed once the store answers again',
    );
    this.#o.onChange?.(this.status());
  }
}
