import { EventEmitter } from 'node:events';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, realpathSync, statSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import type { EncryptionKey } from '../../crypto/keys.js';
import type { KeyLookup } from '../../crypto/stream.js';
import { LifeboatError } from '../../errors.js';
import { removeStaleTemps } from '../../fs/durable.js';
import { readFully } from '../../fs/read.js';
import type { Logger } from '../../log.js';
import { readMarker } from '../../restore/swap.js';
import { runCopy } from '../../sqlite/client.js';
import Database from '../../sqlite/driver.js';
import type { CallerPin } from '../../sqlite/protocol.js';
import { createOwn, type ListedObject, type PitrObjectStore } from '../../storage/object-store.js';
import { rollingOfFile, writeBase } from '../base-object.js';
import { faultPoint } from '../fault.js';
import { encodeMeta } from '../meta.js';
import { dbPrefix, metaName, newGenId, parsePitrName, type SegmentName } from '../names.js';
import { probeConditionalWrites } from '../probe.js';
import { readHolds } from '../restore/hold.js';
import { decidePitrRetention, deletionBatches } from '../retention.js';
import type { RollingChecksum } from '../rolling.js';
import { sealObject } from '../sealed.js';
import { type BrotliCompressor, decodeSegment } from '../segment.js';
import { assertSafeSqlite } from '../sqlite-version.js';
import { writeBaseFromImage } from './base.js';
import { BrotliThread } from './brotli-thread.js';
import { rollingAtWalEnd, stillPublished, tailAfter } from './continuity.js';
import { Lease } from './lease.js';
import { type RestoredFrom, restoredFrom, timelineOf } from './lineage.js';
import {
  type ChainState,
  type PendingTransaction,
  type SealedSegment,
  sealTransactions,
  WalChangedError,
  type WalEnd,
} from './segmenter.js';
import { CaptureStateFile, type SavedChain, type SavedGeneration, savedWalEnd, walEndOf } from './state-file.js';
import { SegmentUploader, type ShippedSegment } from './uploader.js';
import { publishedWal } from './wal-index.js';
import { frameOffset, positionAfter, readCommitted, transactionBytes, type WalPosition } from './wal-tail.js';

/**
 * Continuous capture of one live SQLite database (spec §3.2): a generation starts with a base
 * (the database at a pinned WAL commit), then every committed transaction is read from the
 * `-wal`, sealed into segments at most `syncIntervalMs` after it was seen, and uploaded in order.
 *
 * Why frames cannot be lost (F5–F8): capture always holds a read transaction on one of two
 * connections. While a reader holds read-lock ≥ 1 the WAL cannot restart; on read-lock 0 no
 * checkpoint can backfill, so no restart can follow frames written after it began. A reader
 * is replaced (the new one begins, then the old one ends) only once every transaction
 * committed so far is sealed in memory — never while one is still only in the WAL.
 *
 * What it sealed is kept in memory until uploaded (bounded by `queueMax`: when full, sealing
 * waits and the WAL grows instead, up to `walMaxPages`, where capture lets go of it). A start
 * goes on with the generation `state.json` names when the bucket ends where it says and the
 * database hashes to the chain's checksum there (spec §3.9; `#resume`); otherwise — commits
 * the bucket lacks, as after a crash with segments still in memory — it begins a new generation
 * with a new base, and the time between the previous generation's last segment and that base
 * is a gap.
 */

export interface CaptureLabel {
  readonly nodeId: number;
  readonly filenameDb: string;
  readonly host: string;
}

/** Uploads the generation's first base from a database image file; returns its digest and rolling checksum. */
export type BaseWriter = (request: {
  readonly store: PitrObjectStore;
  readonly key: EncryptionKey;
  readonly imagePath: string;
  readonly dbId: string;
  readonly genId: string;
  readonly txid: number;
  readonly observedMs: number;
  readonly pageSize: number;
}) => Promise<{
  readonly digest: Buffer;
  readonly rolling: RollingChecksum;
  readonly dbPages: number;
  /** Bytes stored, when known (for the metrics). */
  readonly size?: number;
}>;

export interface CaptureOptions {
  readonly dbPath: string;
  /** 32 lower-case hex digits: the database's identity in the bucket. */
  readonly dbId: string;
  readonly store: PitrObjectStore;
  /** The active encryption key. */
  readonly key: EncryptionKey;
  /** Every key, to read a head another key wrote (default: the active key only). */
  readonly keys?: KeyLookup;
  /** This writer's id (default: kept in `{workDir}/state.json`, so a restart is the same writer). */
  readonly writerId?: string;
  /** How long the writer's lease on the database runs (default 5 min). */
  readonly leaseMs?: number;
  /** Uploads the base (default: writeBaseFromImage). */
  readonly writeBase?: BaseWriter;
  /** Runs brotli for the segments (default: a thread of capture's own, brotli-thread.ts); tests inject failures. */
  readonly compressor?: BrotliCompressor;
  readonly label?: Partial<CaptureLabel>;
  /** Longest a seen commit waits before its segment is sealed (default 1000 ms). */
  readonly syncIntervalMs?: number;
  /** How often the WAL is looked at (default 200 ms). */
  readonly pollMs?: number;
  /** Plaintext bytes of records that seal a segment early (default 16 MiB). */
  readonly segmentMax?: number;
  /** Sealed bytes waiting for upload before sealing waits (default 64 MiB). */
  readonly queueMax?: number;
  /** WAL frames after which capture runs a PASSIVE checkpoint (default 1000). */
  readonly checkpointPages?: number;
  /**
   * WAL frames at which a checkpoint cycle waits for the application's write lock (up to
   * HARD_WAIT_MS) instead of trying it once (default 16,384): a writer that is nearly always
   * in a transaction cannot keep the WAL from starting over.
   */
  readonly walHardPages?: number;
  /**
   * WAL frames at which capture lets go of the WAL while the bucket cannot take its segments
   * (default 65,536): the application's WAL starts over instead of filling the disk; what was not
   * shipped becomes a gap, and a new generation begins once the bucket answers.
   */
  readonly walMaxPages?: number;
  /** A new generation (a fresh base) after this long with commits (default 24 h): restore work stays bounded. */
  readonly rebaseEveryMs?: number;
  /**
   * …or once the segments sealed since the base would make a restore apply this many times its
   * size in pages (default 1.5; restoreWork): a restore to any point took 1.38–1.60× the base's
   * alone in the bench (docs/continuous-backup.md, "Re-basing and retention").
   */
  readonly rebaseRatio?: number;
  /** After a base inside the generation failed (S3 down mid-upload), the next try waits this long (default 10 min). */
  readonly rebaseRetryMs?: number;
  /** Generations whose newest commit is older than this are deleted (default 7 days); never the current one. */
  readonly windowMs?: number;
  /** How often retention looks (default 1 h; the first tick looks at once). */
  readonly retentionEveryMs?: number;
  /** Wall clock, unix ms (default Date.now). */
  readonly now?: () => number;
  readonly log?: Logger;
  /** Where the base image is built (default `{db}.lifeboat-pitr/`). */
  readonly workDir?: string;
}

export type CaptureState = 'starting' | 'healthy' | 'lagging' | 'stopped';

export interface CaptureStatus {
  readonly state: CaptureState;
  readonly dbId: string;
  readonly genId: string | undefined;
  /** The last transaction seen committed in the WAL. */
  readonly lastTxid: number;
  /** The last transaction whose segment the bucket acknowledged. */
  readonly shippedTxid: number;
  readonly shippedMs: number | undefined;
  readonly queuedBytes: number;
  /** When the oldest committed transaction not yet in the bucket was seen (undefined: none waits). */
  readonly oldestUnshippedMs: number | undefined;
  readonly walFrames: number;
  readonly segments: number;
  /** WAL restarts followed within this generation (each an EPOCH record). */
  readonly walRestarts: number;
  /** Since this capture started: what the bucket acknowledged (segments; bases, ciphertext bytes). */
  readonly shipped: {
    readonly segments: number;
    readonly segmentBytes: number;
    readonly bases: number;
    readonly baseBytes: number;
  };
  /**
   * Checkpoint cycles since this capture started: run, skipped (the application was writing), the
   * time the write lock was held in all of them and in the last one (what a commit may wait).
   */
  readonly checkpoints: {
    readonly done: number;
    readonly skipped: number;
    readonly lockMs: number;
    readonly lastLockMs: number;
    readonly maxLockMs: number;
    /** Time of the phase-1 checkpoints, which run before the write lock is taken and block no writer. */
    readonly phase1Ms: number;
    /** Cycles run with the WAL at walHardPages, which waited for the write lock (also counted in done or skipped). */
    readonly forced: number;
  };
  /**
   * Since this capture started: generations begun, by reason (every reason but `first-start` and
   * `restored` leaves a gap in what can be restored by transaction), and starts that went on with the
   * generation before, from the WAL (§3.9 case A) or from the database as it was (case B).
   */
  readonly generations: Readonly<Record<GenerationReason, number>>;
  readonly resumes: { readonly wal: number; readonly database: number };
  /** When this capture last began a generation that leaves a gap (any reason but first-start), unix ms. */
  readonly lastGapMs: number | undefined;
  /**
   * The S3 server's clock minus this machine's, from its latest answer (undefined before one). Beyond
   * ±10 min retention deletes nothing, and the times capture records follow a clock that is wrong.
   */
  readonly clockOffsetMs: number | undefined;
  /**
   * Bases inside the generation that failed since this capture started: `diverged`, the database
   * file was not what its WAL history says at the base's commit (damaged on disk, or written around
   * SQLite); `other`, anything else (the store, the copy). Each is tried again after rebaseRetryMs.
   */
  readonly baseFailures: { readonly diverged: number; readonly other: number };
  /**
   * Looks of retention since this capture started, by what came of them: objects deleted, nothing
   * old enough, held by a restore, skipped (the clocks disagree), failed (the store; tried again
   * after retentionEveryMs — a store that may not delete fails every time and the bucket grows).
   */
  readonly retention: Readonly<Record<RetentionResult, number>>;
  readonly error: string | undefined;
}

export const RETENTION_RESULTS = ['deleted', 'nothing', 'held', 'skipped', 'failed'] as const;
export type RetentionResult = (typeof RETENTION_RESULTS)[number];

/**
 * Why a generation began: no chain to go on with; a restore replaced the database; a chain that could not be
 * proven to go on; the WAL let go of.
 */
export const GENERATION_REASONS = ['first-start', 'restored', 'continuity-unproven', 'spool-overflow'] as const;
export type GenerationReason = (typeof GENERATION_REASONS)[number];

type Connection = InstanceType<typeof Database>;

const MiB = 1024 * 1024;
const BASE_ATTEMPTS = 3;
/** Ticks a flush tries before it says it could not see what is committed (each is immediate). */
const FLUSH_TICKS = 20;
/** How often a capture error that lasts is logged again. */
const FAILURE_LOG_EVERY_MS = 60_000;
/** While capture has let go of the WAL, a new generation that failed is tried again after this long. */
const LET_GO_RETRY_MS = 10_000;
/**
 * How long a checkpoint cycle at walHardPages waits for the write lock: longer than the
 * application's typical write transaction, short enough to stall a library's thread only briefly.
 */
const HARD_WAIT_MS = 250;
/** Atomics.wait on it sleeps the thread between two tries for the write lock. */
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

export class Capture extends EventEmitter {
  readonly #o: Required<Omit<CaptureOptions, 'log' | 'label' | 'workDir' | 'keys' | 'writerId' | 'leaseMs'>> & {
    log: Logger | undefined;
    label: CaptureLabel;
    workDir: string;
  };
  readonly #readers: [Connection, Connection];
  readonly #checkpointer: Connection;
  /** Holds the write lock for a checkpoint cycle's few milliseconds; never writes. */
  readonly #barrier: Connection;
  /** Holds the commit a base inside the generation is copied at, for as long as the copy runs. */
  readonly #pinner: Connection;
  /** The base inside the generation being copied and uploaded, while it is. */
  #rebasing: Promise<void> | undefined;
  readonly #rebaseAbort = new AbortController();
  /** Stops the base inside the generation in flight (capture let go of the WAL). */
  #rebaseStop: AbortController | undefined;
  /** No new base is tried before this (unix ms) after one failed. */
  #rebaseRetryMs = 0;
  #active = 0;
  #walFd: number | undefined;
  #walIno = 0;
  #chain: ChainState | undefined;
  /** Where scanning goes on: after the last commit seen (sealed or pending). */
  #scan: WalPosition | undefined;
  #pending: PendingTransaction[] = [];
  #seenTxid = 0;
  #restarts = 0;
  /** The newest base (the generation's first or one inside it): when, its size and txid; segment bytes sealed since. */
  #generation = { startedMs: 0, baseBytes: 0, segmentBytes: 0, baseTxid: 0 };
  #lastRetentionMs = 0;
  /** The shipped txid when retention last looked. */
  #retentionAt = -1;
  /** When retention last warned of objects named in the future (once a day). */
  #futureWarnedMs = Number.NEGATIVE_INFINITY;
  #lastSeenMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #state: CaptureState = 'starting';
  #error: string | undefined;
  /** Ticks failing in a row with one error: logged when it starts, each minute while it lasts, and when it ends. */
  #failing: { message: string; sinceMs: number; ticks: number; loggedMs: number } | undefined;
  /** Seals asked for (flush) and the last one a tick has done: a tick seals what it saw if it began after the ask. */
  #sealAsked = 0;
  #bases = { count: 0, bytes: 0 };
  #baseFailures = { diverged: 0, other: 0 };
  #retention: Record<RetentionResult, number> = { deleted: 0, nothing: 0, held: 0, skipped: 0, failed: 0 };
  #checkpoints = { done: 0, skipped: 0, lockMs: 0, lastLockMs: 0, maxLockMs: 0, phase1Ms: 0, forced: 0 };
  /** When a forced cycle that did not get the write lock last said so (one warning a minute). */
  #forcedWarnedMs = Number.NEGATIVE_INFINITY;
  readonly #generationsBy: Record<GenerationReason, number> = {
    'first-start': 0,
    restored: 0,
    'continuity-unproven': 0,
    'spool-overflow': 0,
  };
  readonly #resumes = { wal: 0, database: 0 };
  #lastGapMs: number | undefined;
  #sealDone = 0;
  /**
   * Set while capture has let go of the WAL (the bucket could not take the segments until the WAL
   * reached walMaxPages): when the oldest commit not in the bucket was seen, and when to try the
   * new generation again.
   */
  #letGo: { oldestMs: number; retryMs: number } | undefined;
  #closed = false;
  readonly #uploader: SegmentUploader;
  readonly #brotli = new BrotliThread();
  #lease: Lease | undefined;
  #stateFile: CaptureStateFile | undefined;

  readonly #given: CaptureOptions;

  private constructor(options: CaptureOptions) {
    super();
    this.#given = options;
    this.#o = {
      syncIntervalMs: 1000,
      pollMs: 200,
      segmentMax: 16 * MiB,
      queueMax: 64 * MiB,
      checkpointPages: 1000,
      walHardPages: 16_384,
      walMaxPages: 65_536,
      rebaseEveryMs: 86_400_000,
      rebaseRatio: 1.5,
      rebaseRetryMs: 600_000,
      windowMs: 7 * 86_400_000,
      retentionEveryMs: 3_600_000,
      now: Date.now,
      writeBase: writeBaseFromImage,
      compressor: this.#brotli.compress,
      ...options,
      // SQLite keeps -wal and -shm beside the real file: capture reads both by name.
      dbPath: realOrGiven(options.dbPath),
      log: options.log,
      label: {
        nodeId: options.label?.nodeId ?? 1,
        filenameDb: options.label?.filenameDb ?? basename(options.dbPath),
        host: options.label?.host ?? hostname(),
      },
      workDir: options.workDir ?? `${options.dbPath}.lifeboat-pitr`,
    };
    const open = () => {
      const db = new Database(options.dbPath, { fileMustExist: true, timeout: 2000 });
      db.pragma('wal_autocheckpoint = 0');
      return db;
    };
    this.#readers = [open(), open()];
    this.#checkpointer = open();
    this.#barrier = open();
    this.#pinner = open();
    // Never wait for the application's writer (in a library it may be this very thread): try again next tick.
    this.#barrier.pragma('busy_timeout = 0');
    this.#uploader = new SegmentUploader(options.store, {
      ...(options.log ? { log: options.log } : {}),
      beforeSend: async () => this.#lease?.renew(),
      onShipped: (segment) => this.#shipped(segment),
      onStopped: (reason) => this.#stop(reason),
    });
  }

  /**
   * Checks SQLite, the database and the store (the conditional-write probe), takes the lease,
   * uploads a first base, and starts shipping.
   */
  static async start(options: CaptureOptions): Promise<Capture> {
    const capture = new Capture(options);
    try {
      await capture.#begin();
    } catch (err) {
      await capture.close({ ship: false });
      throw err;
    }
    return capture;
  }

  status(): CaptureStatus {
    const shipped = this.#uploader.shipped();
    const sent = this.#uploader.sent();
    return {
      state: this.#state === 'healthy' && (this.#uploader.failing() || this.#letGo) ? 'lagging' : this.#state,
      dbId: this.#o.dbId,
      genId: this.#chain?.genId,
      lastTxid: this.#seenTxid,
      shippedTxid: shipped.txid,
      shippedMs: shipped.ms,
      queuedBytes: this.#uploader.queuedBytes(),
      oldestUnshippedMs: this.#letGo?.oldestMs ?? this.#uploader.oldestQueuedMs() ?? this.#pending[0]?.observedMs,
      walFrames: this.#scan ? this.#scan.nextFrame - 1 : 0,
      segments: this.#chain?.seq ?? 0,
      walRestarts: this.#restarts,
      shipped: {
        segments: sent.segments,
        segmentBytes: sent.bytes,
        bases: this.#bases.count,
        baseBytes: this.#bases.bytes,
      },
      checkpoints: { ...this.#checkpoints },
      generations: { ...this.#generationsBy },
      resumes: { ...this.#resumes },
      lastGapMs: this.#lastGapMs,
      clockOffsetMs: clockOffset(this.#o.store.serverTime(), this.#o.now()),
      baseFailures: { ...this.#baseFailures },
      retention: { ...this.#retention },
      error: this.#error ?? this.#uploader.lastError(),
    };
  }

  /** Resolves once every transaction committed before the call is in the bucket. */
  async flush(options: { signal?: AbortSignal } = {}): Promise<number> {
    if (this.#letGo) {
      throw new LifeboatError('PITR_FLUSH_INCOMPLETE', `continuous backup is not shipping: ${this.#error}`, {
        hint: 'when S3 answers again a new generation holds everything; call flush() then',
      });
    }
    const asked = ++this.#sealAsked;
    // A tick that began before this call may have read the WAL before the latest commits: the one after it has
    // not. A tick that could not read what SQLite has committed (the wal-index torn by a writer updating it, or
    // capture failing) does not count: the answer would leave out commits that returned before this call.
    for (let tries = 0; this.#sealDone < asked && tries < FLUSH_TICKS && this.#running(); tries++) {
      await this.#tickNow();
    }
    if (!this.#running()) {
      throw new LifeboatError('PITR_NOT_RUNNING', `continuous backup is ${this.#closed ? 'closed' : 'stopped'}`, {
        hint: 'see the log for why; snapshots are not affected',
      });
    }
    if (this.#sealDone < asked) {
      throw new LifeboatError(
        'PITR_FLUSH_INCOMPLETE',
        `continuous backup could not read what is committed in ${this.#o.dbPath} in ${FLUSH_TICKS} attempts ` +
          `(${this.#error ?? `the wal-index in ${this.#o.dbPath}-shm stayed unreadable`}): transactions after ` +
          `txid ${this.status().shippedTxid} may not be in the bucket`,
        { hint: 'call flush() again; if it keeps failing, see the log and /health' },
      );
    }
    const target = this.#chain!.txid;
    await this.#uploader.waitFor(target, options.signal);
    return target;
  }

  /**
   * Ships what is committed (unless `ship` is false; for at most `waitMs`, default 30 s, so an S3
   * outage cannot hold a shutdown), then releases the database. What was not shipped is in the
   * database, and in the base of the generation the next start begins.
   */
  async close(options: { ship?: boolean; waitMs?: number } = {}): Promise<void> {
    if (this.#closed) return;
    if (options.ship !== false && this.#state !== 'stopped' && this.#chain) {
      await this.flush({ signal: AbortSignal.timeout(options.waitMs ?? 30_000) }).catch((err: unknown) => {
        const { lastTxid, shippedTxid } = this.status();
        this.#o.log?.warn(
          { err, lastTxid, shippedTxid },
          `continuous backup: transactions ${shippedTxid + 1}…${lastTxid} were not shipped before closing; ` +
            'they are in the database and in the next start’s base',
        );
      });
    }
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#ticking;
    await this.#brotli.close();
    this.#uploader.stop();
    if (this.#state !== 'stopped') await this.#lease?.release();
    await this.#stateFile?.settled();
    this.#rebaseAbort.abort(new Error('capture is closing'));
    await this.#rebasing;
    for (const db of [...this.#readers, this.#checkpointer, this.#barrier, this.#pinner]) {
      if (db.inTransaction) db.exec('ROLLBACK');
      db.close();
    }
    if (this.#walFd !== undefined) closeSync(this.#walFd);
    this.#walFd = undefined;
  }

  async #begin(): Promise<void> {
    const version = String(this.#readers[0].prepare('SELECT sqlite_version()').pluck().get());
    assertSafeSqlite(version);
    const mode = String(this.#readers[0].pragma('journal_mode', { simple: true }));
    if (mode !== 'wal') {
      throw new LifeboatError('PITR_NOT_WAL', `${this.#o.dbPath} is in journal mode "${mode}", not WAL`, {
        hint: "continuous backup reads SQLite's write-ahead log: set PRAGMA journal_mode = WAL in the application",
      });
    }
    const key = this.#o.key;
    const options = this.#given;
    this.#stateFile = await CaptureStateFile.open(this.#o.workDir, this.#o.log);
    this.#lease = new Lease({
      store: this.#o.store,
      key,
      keys: this.#keys,
      dbId: this.#o.dbId,
      writerId: options.writerId ?? this.#stateFile.writerId,
      ...(options.leaseMs !== undefined ? { leaseMs: options.leaseMs } : {}),
      ...(options.now ? { now: options.now } : {}),
    });
    // Before any conditional write: proves the store honours them, and sets the ETag form it takes.
    await probeConditionalWrites(this.#o.store);
    this.#hold(this.#active);
    const saved = this.#stateFile.chain;
    if (saved?.dbId === this.#o.dbId) {
      await this.#lease.acquire(saved.genId);
      await removeLeftovers(this.#o.workDir); // under the lease
      // Listed under the lease: nobody else adds to the bucket until the chain goes on or a new
      // generation begins, so a refused resume's new generation starts above this listing.
      const listed = await this.#o.store.list(dbPrefix(this.#o.dbId));
      const why = await this.#resume(saved, listed);
      if (why !== undefined) {
        const restored = await this.#restoredFrom(listed);
        if (!restored) {
          this.#o.log?.warn(
            { genId: saved.genId, txid: saved.txid, why: why.why },
            'continuous backup: the chain cannot go on after this start; a new generation begins',
          );
        }
        await this.#newGeneration(restored ? 'restored' : 'continuity-unproven', why.image, listed, restored);
      }
    } else {
      const listed = await this.#o.store.list(dbPrefix(this.#o.dbId));
      const restored = await this.#restoredFrom(listed);
      await this.#newGeneration(restored ? 'restored' : 'first-start', undefined, listed, restored);
      // Under the lease, before any base inside the generation; once the new chain's state.json is
      // written, or its own temp file would be taken for a dead capture's.
      await this.#stateFile.settled();
      await removeLeftovers(this.#o.workDir);
    }
    this.#state = 'healthy';
    this.#schedule();
  }

  /** The restore the database came from, when nothing reached the bucket since it (lineage.ts). */
  async #restoredFrom(listed: readonly ListedObject[]): Promise<RestoredFrom | undefined> {
    // An unreadable marker only costs the label: the new generation is begun either way.
    const marker = await readMarker(this.#given.dbPath).catch(() => undefined);
    const restored = restoredFrom(marker, this.#o.dbId, listed);
    if (restored) {
      this.#o.log?.info(
        { source: restored.source, origin: restored.origin, parent: restored.parent },
        `continuous backup: the database was restored from ${restored.origin}; a new generation begins from it`,
      );
    }
    return restored;
  }

  get #keys(): KeyLookup {
    const key = this.#o.key;
    return this.#given.keys ?? ((id: string) => (id === key.id ? key : undefined));
  }

  /**
   * Continues the generation the state file names (spec §3.9), when the bucket's chain ends exactly
   * where the file says and the database continues it from there: either the WAL still holds the
   * chain's end and the database rebuilt there hashes to the chain's rolling checksum (case A: the
   * transactions after it, committed while capture was down or sealed but not shipped when it
   * died, are read from the WAL, flagged late), or the database as it is now hashes to it (case B:
   * nothing was committed since, or it was all shipped). Either way the same generation goes on
   * with no base and no gap. Otherwise returns why not, with the image pinned for case B (the new
   * generation's base), and changes nothing.
   */
  async #resume(
    saved: SavedChain,
    listed: readonly ListedObject[],
  ): Promise<{ why: string; image?: PinnedImage } | undefined> {
    const inBucket = await this.#chainInBucket(saved, listed);
    if (typeof inBucket === 'string') return { why: inBucket };
    const fromWal = await this.#fromWal(saved);
    if (typeof fromWal !== 'string') {
      const { rolling, position, tail, end, observedMs } = fromWal;
      this.#goOn(saved, rolling, position, inBucket.baseThere, false);
      this.#pending = tail;
      this.#scan = end;
      this.#seenTxid += tail.length;
      this.#lastSeenMs = observedMs;
      return undefined;
    }
    const image = await this.#pinImage(join(this.#o.workDir, `base-resume-${saved.genId}.sqlite`));
    let rolling: RollingChecksum | undefined;
    try {
      if (image.pageSize === saved.pageSize) rolling = await rollingOfFile(image.path, image.pageSize);
    } catch (err) {
      await rm(image.path, { force: true });
      throw err;
    }
    if (rolling?.value().toString('hex') !== saved.rolling) {
      const now =
        rolling === undefined
          ? `the page size is ${image.pageSize}, the generation's ${saved.pageSize}`
          : 'the database changed since the chain ended (commits the bucket does not hold)';
      return { why: `${now}, and it cannot be rebuilt at the chain's end from the WAL: ${fromWal}`, image };
    }
    await rm(image.path, { force: true });
    this.#goOn(saved, rolling, image.position, inBucket.baseThere, true);
    return undefined;
  }

  /**
   * Whether the bucket's chain of generation `saved.genId` ends exactly where the state file
   * says (its newest transaction, its last segment, that segment's digest and checksum); why not
   * otherwise. `baseThere`: the newest base the file names is in the bucket.
   */
  async #chainInBucket(saved: SavedChain, listed: readonly ListedObject[]): Promise<string | { baseThere: boolean }> {
    const { store, dbId } = this.#o;
    const highest = highestTxid(listed);
    let last: (SegmentName & { key: string }) | undefined;
    const bases = new Set<number>();
    for (const o of listed) {
      const name = parsePitrName(o.key);
      if ((name?.kind !== 'segment' && name?.kind !== 'base') || name.genId !== saved.genId) continue;
      if (name.kind === 'segment' && name.seq > (last?.seq ?? 0)) last = { ...name, key: o.key };
      if (name.kind === 'base') bases.add(name.txid);
    }
    if (highest !== saved.txid)
      return `the bucket's newest transaction is ${highest}, the chain this capture shipped ended at ${saved.txid}`;
    if ((last?.seq ?? 0) !== saved.seq)
      return `generation ${saved.genId} ends at segment ${last?.seq ?? 0} in the bucket, not ${saved.seq}`;
    if (!last && !bases.has(saved.txid))
      return `the base of generation ${saved.genId} at txid ${saved.txid} is not in the bucket`;
    if (last) {
      const object = await store.get(last.key);
      if (!object) return `segment ${last.key} is gone`;
      // One this capture cannot open (tampered, or under a key no longer in the set) is not continued.
      const segment = await decodeSegment(object.body, this.#keys, {
        name: last.key,
        dbId,
        genId: saved.genId,
        seq: last.seq,
      }).catch((err: unknown) => (err instanceof LifeboatError ? err.message : Promise.reject(err)));
      if (typeof segment === 'string') return segment;
      if (
        segment.digest.toString('hex') !== saved.digest ||
        segment.header.rollingAfter.toString('hex') !== saved.rolling
      )
        return `segment ${last.key} is not the one this capture shipped`;
    }
    // A base inside the generation that was still uploading when the state was saved may never
    // have reached the bucket: then the next commit's tick takes one.
    return { baseThere: bases.has(saved.generation.baseTxid) };
  }

  /**
   * Case A: the database rebuilt at the chain's end in the WAL, when it hashes to the chain's
   * checksum, and the transactions after it, their frames in memory, flagged late (committed at
   * unknown moments before capture saw them); or why not.
   */
  async #fromWal(saved: SavedChain): Promise<
    | {
        rolling: RollingChecksum;
        position: WalPosition;
        tail: PendingTransaction[];
        end: WalPosition;
        observedMs: number;
      }
    | string
  > {
    if (!saved.wal) return 'the chain did not end inside a WAL epoch';
    const end = walEndOf(saved.wal);
    const { position } = end;
    const walFd = existsSync(`${this.#o.dbPath}-wal`) ? this.#openWal() : undefined;
    const rebuilt = await rollingAtWalEnd(this.#o.dbPath, walFd, end, saved.pageSize);
    if (typeof rebuilt === 'string') return rebuilt;
    const { rolling } = rebuilt;
    if (rolling.value().toString('hex') !== saved.rolling)
      return 'the database rebuilt there does not hash to the chain’s checksum (a checkpoint copied later commits in)';
    const published = publishedWal(this.#o.dbPath);
    if (!published) return 'the wal-index was being updated';
    const tail = tailAfter(this.#openWal(), position, published, rebuilt.followsRestart);
    if (typeof tail === 'string') return tail;
    const observedMs = Math.max(this.#o.now(), saved.observedMs);
    const late = tail.transactions.map((tx) => ({ tx, observedMs, late: true }));
    // On a WAL checkpointed to its end capture's reader may be on read-lock 0, which does not keep the
    // application's next commit from restarting the WAL over these frames: they are read now. Otherwise no
    // checkpoint can reach the end while the reader is held, and they are read when sealed, as always.
    const bytes = late.reduce((n, p) => n + transactionBytes(p.tx), 0);
    if (tail.checkpointed && bytes > this.#o.queueMax)
      return `the WAL holds ${bytes} bytes of checkpointed frames after the chain's end, over queue_max to read in`;
    const pending = tail.checkpointed ? withFrames(this.#walFd!, late) : late;
    // A restart while the frames were read may have put another epoch's frames where they were.
    if (!stillPublished(tail.end, publishedWal(this.#o.dbPath)))
      return 'the WAL restarted while the transactions after the chain’s end were read';
    return { rolling, position, observedMs, tail: pending, end: tail.end };
  }

  /** The generation `saved` names goes on from `position`, where the database hashes to `rolling`. */
  #goOn(saved: SavedChain, rolling: RollingChecksum, position: WalPosition, baseThere: boolean, resumes: boolean) {
    const { dbId } = this.#o;
    this.#follow(
      {
        dbId,
        genId: saved.genId,
        pageSize: saved.pageSize,
        seq: saved.seq,
        prevDigest: Buffer.from(saved.digest, 'hex'),
        txid: saved.txid,
        rolling,
        position,
        dbPages: rolling.dbPages,
        lastObservedMs: saved.observedMs,
        ...(resumes ? { resumes: true } : {}),
      },
      { ...saved.generation, ...(baseThere ? {} : { segmentBytes: Number.MAX_SAFE_INTEGER }) },
      this.#o.now(),
    );
    this.#resumes[resumes ? 'database' : 'wal'] += 1;
    const how = resumes ? 'the database is where it ended' : 'from the WAL';
    this.#o.log?.info({ genId: saved.genId, txid: saved.txid }, `continuous backup: the generation goes on (${how})`);
    this.emit('resumed', { genId: saved.genId, txid: saved.txid, fromWal: !resumes });
  }

  /** The database copied at a commit pinned in the WAL, and where the WAL goes on after it. */
  async #pinImage(image: string): Promise<PinnedImage> {
    mkdirSync(this.#o.workDir, { recursive: true, mode: 0o700 });
    let why = '';
    for (let attempt = 1; attempt <= BASE_ATTEMPTS; attempt++) {
      await rm(image, { force: true });
      // Page 1 as SQLite has it: the chain's checksum is the live database's, so a later base inside
      // the generation, copied from the live files, has the checksum the segments before it end with.
      const copy = await runCopy({ op: 'copy', source: this.#o.dbPath, dest: image, keepHeader: true });
      if (copy.method !== 'file' || !copy.pin) {
        why = copy.fallback ?? 'the copy did not pin a WAL commit';
        continue;
      }
      const position = positionAfter(this.#openWal(), {
        salts: Buffer.from(copy.pin.salts, 'hex'),
        mxFrame: copy.pin.mxFrame,
        checksum: copy.pin.checksum,
      });
      if (typeof position === 'string') why = position;
      else return { path: image, position, pageSize: copy.pages === 0 ? 4096 : copy.bytes / copy.pages };
    }
    await rm(image, { force: true });
    throw new LifeboatError('PITR_BASE_FAILED', `continuous backup could not pin a base of ${this.#o.dbPath}: ${why}`, {
      hint: 'the application kept its write lock, or the WAL changed, at every attempt; start again',
    });
  }

  /**
   * A base at the newest commit (or `given`, an image pinned already), its meta, and a chain
   * continuing from it. `listed`: the database's objects, when the caller has just listed them.
   */
  async #newGeneration(
    reason: GenerationReason,
    given?: PinnedImage,
    listed?: readonly ListedObject[],
    restored?: RestoredFrom,
  ): Promise<void> {
    const { store, dbId, key } = this.#o;
    listed ??= await store.list(dbPrefix(dbId));
    const baseTxid = highestTxid(listed) + 1;
    // A restore to a point of this database opens a timeline above every one in use (spec §3.5);
    // any other new generation goes on with the timeline of the one before it.
    const timeline = await timelineOf(Boolean(restored?.parent), store, this.#keys, dbId, listed, this.#o.log);
    const genId = newGenId(this.#o.now());
    const pinned = await this.#lease!.acquire(genId).then(
      () => given ?? this.#pinImage(join(this.#o.workDir, `base-${genId}.sqlite`)),
      async (err: unknown) => {
        if (given) await rm(given.path, { force: true });
        throw err;
      },
    );
    const image = pinned.path;
    const observedMs = this.#o.now();
    let baseSize: number | undefined;
    let chain: ChainState;
    try {
      const base = await this.#o.writeBase({
        store,
        key,
        imagePath: image,
        dbId,
        genId,
        txid: baseTxid,
        observedMs,
        pageSize: pinned.pageSize,
      });
      baseSize = base.size;
      const meta = encodeMeta({
        dbId,
        genId,
        created: observedMs,
        firstTxid: baseTxid,
        pageSize: pinned.pageSize,
        reason,
        parent: restored?.parent ?? null,
        gap: null,
        timeline,
        label: this.#o.label,
      });
      const sealedMeta = await sealObject(meta, key, { kind: 'LBM1', dbId, genId, n: 0 });
      const made = await createOwn(store, metaName(dbId, genId), sealedMeta);
      if (made.kind !== 'written') {
        throw new LifeboatError(
          'PITR_FENCED',
          `the meta of new generation ${genId} already exists in ${store.description}`,
          { hint: 'another writer uses this database id: stop it, then start again' },
        );
      }
      chain = {
        dbId,
        genId,
        pageSize: pinned.pageSize,
        seq: 0,
        prevDigest: base.digest,
        txid: baseTxid,
        rolling: base.rolling,
        position: pinned.position,
        dbPages: base.dbPages,
        lastObservedMs: observedMs,
      };
    } finally {
      await rm(image, { force: true });
    }
    this.#bases = { count: this.#bases.count + 1, bytes: this.#bases.bytes + (baseSize ?? 0) };
    const baseBytes = chain.dbPages * pinned.pageSize;
    this.#follow(chain, { startedMs: observedMs, baseBytes, segmentBytes: 0, baseTxid }, observedMs);
    this.#saveChain({
      seq: 0,
      txid: baseTxid,
      digest: chain.prevDigest,
      rolling: chain.rolling.value(),
      observedMs,
      walEnd: { position: chain.position, dbPages: chain.dbPages },
    });
    this.#generationsBy[reason] += 1;
    if (reason !== 'first-start' && reason !== 'restored') this.#lastGapMs = observedMs;
    this.#o.log?.info({ genId, baseTxid, reason }, 'continuous backup: generation started');
    this.emit('generation', { genId, baseTxid, reason });
  }

  /** A segment the bucket acknowledged: the chain a restart can continue ends there (unless inside a transaction). */
  #shipped(segment: ShippedSegment): void {
    const h = segment.header;
    this.emit('shipped', { txid: h.lastTxid, ms: h.lastObservedMs });
    if (segment.continues || h.genId !== this.#chain?.genId) return;
    this.#saveChain({
      seq: h.seq,
      txid: h.lastTxid,
      digest: segment.digest,
      rolling: h.rollingAfter,
      observedMs: h.lastObservedMs,
      walEnd: segment.walEnd,
    });
  }

  #saveChain(end: {
    seq: number;
    txid: number;
    digest: Buffer;
    rolling: Buffer;
    observedMs: number;
    walEnd: WalEnd;
  }): void {
    const chain = this.#chain!;
    const { walEnd, ...at } = end;
    const wal = savedWalEnd(walEnd);
    this.#stateFile?.save({
      dbId: chain.dbId,
      genId: chain.genId,
      pageSize: chain.pageSize,
      ...at,
      digest: end.digest.toString('hex'),
      rolling: end.rolling.toString('hex'),
      generation: { ...this.#generation },
      ...(wal ? { wal } : {}),
    });
  }

  /** Capture goes on from `chain` (a new generation's base, or a resumed one): everything up to it is shipped. */
  #follow(chain: ChainState, generation: SavedGeneration, lastSeenMs: number): void {
    this.#chain = chain;
    this.#uploader.shippedUpTo(chain.txid, chain.lastObservedMs);
    this.#scan = chain.position;
    this.#pending = [];
    this.#restarts = 0;
    this.#generation = generation;
    this.#seenTxid = chain.txid;
    this.#lastSeenMs = lastSeenMs;
  }

  #openWal(): number {
    const path = `${this.#o.dbPath}-wal`;
    if (this.#walFd !== undefined) {
      const onDisk = statSync(path, { throwIfNoEntry: false });
      if (onDisk && onDisk.ino === this.#walIno) return this.#walFd;
      closeSync(this.#walFd);
      this.#walFd = undefined;
    }
    this.#walFd = openSync(path, 'r');
    this.#walIno = fstatSync(this.#walFd).ino;
    return this.#walFd;
  }

  /** Begins a read transaction on reader `i` (its snapshot keeps the WAL's frames in place). */
  #hold(i: number): void {
    beginRead(this.#readers[i]!);
  }

  /** Ends both readers' read transactions: nothing of capture's keeps the WAL from starting over. */
  #endReads(): void {
    for (const reader of this.#readers) if (reader.inTransaction) reader.exec('COMMIT');
  }

  /** Make before break (P6): the other reader begins, then the current one ends. */
  #rotate(): void {
    const next = 1 - this.#active;
    this.#hold(next);
    this.#readers[this.#active]!.exec('COMMIT');
    this.#active = next;
  }

  #schedule(): void {
    if (this.#closed || this.#state === 'stopped') return;
    this.#timer = setTimeout(() => void this.#tickNow(), this.#o.pollMs);
    this.#timer.unref();
  }

  #tickNow(): Promise<void> {
    if (!this.#ticking) {
      clearTimeout(this.#timer);
      this.#ticking = this.#tick().finally(() => {
        this.#ticking = undefined;
        this.#schedule();
      });
      return this.#ticking;
    }
    // A tick is running: the caller gets the one after it, which sees everything committed now.
    return this.#ticking.then(() => this.#tickNow());
  }

  #running(): boolean {
    return !this.#closed && this.#state !== 'stopped' && this.#chain !== undefined;
  }

  async #tick(): Promise<void> {
    if (!this.#running() || !this.#scan) return;
    const asked = this.#sealAsked;
    try {
      if (this.#letGo) {
        await this.#afterLettingGo();
        return;
      }
      const read = this.#read();
      await this.#sealIfDue(read && asked > this.#sealDone);
      if (read) this.#sealDone = Math.max(this.#sealDone, asked);
      if (this.#walOverBound()) {
        this.#letGoOfWal();
        return;
      }
      await this.#rebaseIfDue();
      await this.#retentionIfDue();
      if (this.#failing) this.#recovered();
    } catch (err) {
      if (err instanceof WalChangedError || err instanceof ChainBroken) await this.#restartGeneration(err.message);
      else this.#failed(err as Error);
    }
  }

  /**
   * A tick failed. Ticks run every poll (200 ms), so an error that lasts (the -shm removed, a disk
   * error) is logged and emitted when it starts or changes, then once a minute with the count —
   * not five times a second; /health says the lag meanwhile.
   */
  #failed(err: Error): void {
    const now = this.#o.now();
    const f = this.#failing;
    if (f?.message === err.message) {
      f.ticks += 1;
      if (now - f.loggedMs < FAILURE_LOG_EVERY_MS) return;
      f.loggedMs = now;
      this.#o.log?.error(
        { err, failedTicks: f.ticks },
        `continuous backup: capture still fails, ${f.ticks} attempts since ${new Date(f.sinceMs).toISOString()}; ` +
          'commits wait in the WAL',
      );
      return;
    }
    this.#failing = { message: err.message, sinceMs: now, ticks: 1, loggedMs: now };
    this.#error = err.message;
    this.#o.log?.error(
      { err },
      'continuous backup: capture failed; it tries again at every poll (logged again each minute while it lasts)',
    );
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  #recovered(): void {
    const f = this.#failing!;
    this.#failing = undefined;
    if (this.#error === f.message) this.#error = undefined;
    this.#o.log?.warn(
      { failedTicks: f.ticks, error: f.message },
      `continuous backup: capture works again after ${f.ticks} failed attempts since ` +
        `${new Date(f.sinceMs).toISOString()}`,
    );
  }

  /** The WAL reached walMaxPages because sealing waits for the bucket (its queue is full). */
  #walOverBound(): boolean {
    return this.#scan!.nextFrame - 1 >= this.#o.walMaxPages && this.#uploader.queuedBytes() >= this.#o.queueMax;
  }

  /**
   * The hard WAL bound (spec §3.2, back-pressure): an S3 outage must not fill the application's
   * disk. Capture ends its read transactions, so the application's next checkpoints backfill the
   * WAL and its next commit starts it over; what was committed and not sealed is no longer in a
   * chain (a gap). The segments sealed before still go up; then a new generation begins.
   */
  #letGoOfWal(): void {
    const now = this.#o.now();
    const oldestMs = this.#uploader.oldestQueuedMs() ?? this.#pending[0]?.observedMs ?? now;
    const reason =
      `the WAL reached ${this.#scan!.nextFrame - 1} frames (wal_max_pages ${this.#o.walMaxPages}) while the bucket ` +
      `could not take the segments (${this.#uploader.lastError() ?? 'no answer'}): capture let go of it, so the ` +
      `application's WAL can start over; transactions after txid ${this.#uploader.shipped().txid} are not in the ` +
      'bucket until a new generation begins, once it answers';
    this.#letGo = { oldestMs, retryMs: now };
    this.#pending = [];
    this.#endReads();
    // A base being copied holds the pinner's read transaction: the copy is killed, and its image not used.
    this.#rebaseStop?.abort(new Error('capture let go of the WAL'));
    this.#unpin();
    this.#error = reason;
    this.#o.log?.error({ shippedTxid: this.#uploader.shipped().txid }, `continuous backup: ${reason}`);
    this.emit('gap', { fromTxid: this.#uploader.shipped().txid, reason });
  }

  /** While let go: once what was sealed before is in the bucket, a new generation (tried every 10 s). */
  async #afterLettingGo(): Promise<void> {
    const letGo = this.#letGo!;
    if (this.#uploader.queuedBytes() > 0 || this.#o.now() < letGo.retryMs) return;
    try {
      // The bucket is asked first, with no read transaction: one held through a LIST that fails (for
      // seconds, with the SDK's retries) would keep the WAL from starting over that long, every try.
      const listed = await this.#o.store.list(dbPrefix(this.#o.dbId));
      this.#hold(this.#active);
      await this.#newGeneration('spool-overflow', undefined, listed);
    } catch (err) {
      this.#endReads(); // none held when the LIST failed
      letGo.retryMs = this.#o.now() + LET_GO_RETRY_MS;
      throw err;
    }
    this.#letGo = undefined;
    this.#error = undefined;
  }

  /** Reads what is committed into #pending; false when the wal-index is being updated (the next tick reads). */
  #read(): boolean {
    const fd = this.#openWal();
    const published = publishedWal(this.#o.dbPath);
    if (!published) return false;
    for (;;) {
      const got = readCommitted(fd, this.#scan!, undefined, published);
      if (got.kind === 'broken') throw new ChainBroken(got.reason);
      if (got.kind === 'restart') {
        if (this.#scan!.header.length > 0) this.#restarts += 1;
        this.#scan = got.position;
        continue;
      }
      for (const tx of got.transactions) {
        this.#lastSeenMs = Math.max(this.#lastSeenMs, this.#o.now());
        this.#pending.push({ tx, observedMs: this.#lastSeenMs });
        this.#seenTxid += 1;
      }
      this.#scan = got.end;
      return true;
    }
  }

  async #sealIfDue(force: boolean): Promise<void> {
    const chain = this.#chain!;
    const oldest = this.#pending[0];
    if (!oldest) return;
    const pendingBytes = this.#pending.reduce((n, p) => n + transactionBytes(p.tx), 0);
    const due =
      force || this.#o.now() - oldest.observedMs >= this.#o.syncIntervalMs || pendingBytes >= this.#o.segmentMax;
    if (!due) return;
    if (!force && this.#uploader.queuedBytes() >= this.#o.queueMax) return; // back-pressure: the WAL grows
    const batch = this.#pending;
    this.#pending = [];
    const fromTxid = chain.txid + 1;
    let sealed: SealedSegment[];
    try {
      sealed = await sealTransactions(this.#walFd!, chain, batch, this.#o.key, this.#o.segmentMax, {
        compressor: this.#o.compressor,
      });
    } catch (err) {
      if (err instanceof WalChangedError) throw err;
      // The chain state moved on with the transactions read, which are in no segment: only a new
      // generation (a base holding them) continues without a hole.
      throw new ChainBroken(`sealing the transactions from txid ${fromTxid} failed: ${(err as Error).message}`);
    }
    for (const s of sealed) {
      this.#uploader.enqueue(s);
      this.#generation.segmentBytes += restoreWork(s);
    }
    faultPoint('after-seal');
    this.#rotate();
    if (this.#scan!.nextFrame - 1 >= this.#o.checkpointPages) this.#checkpointCycle();
  }

  /**
   * Lets the WAL restart (spec §3.2, phase 2): while the application commits continuously, a
   * new reader never finds the WAL fully backfilled, so without this it would grow for ever.
   * Under a moment's write lock (no commit can happen): read what is committed into memory,
   * rotate onto the end, checkpoint everything, rotate again — the new reader lands on read-lock
   * 0 — and release. The application's next commit then restarts the WAL. Nothing committed is
   * only in the WAL when the restart becomes possible. Skipped when the lock is not free now —
   * unless the WAL has reached walHardPages: then it waits for the lock (spec §3.2).
   */
  #checkpointCycle(): void {
    // Phase 1 (spec §3.2), blocking no writer: backfill what every reader has passed, so that the
    // lock below is held only to copy the commits made meanwhile (13.7 ms on average before, in the
    // benchmark). Safe without the lock for the reason the application's own checkpoints are: none
    // goes past the read mark of capture's reader, and the WAL cannot start over while it is held.
    const phase1 = performance.now();
    this.#checkpointer.pragma('wal_checkpoint(PASSIVE)');
    this.#checkpoints.phase1Ms += performance.now() - phase1;
    const frames = this.#scan!.nextFrame - 1;
    const forced = frames >= this.#o.walHardPages;
    if (forced) this.#checkpoints.forced += 1;
    if (!this.#takeWriteLock(forced ? HARD_WAIT_MS : 0)) {
      this.#checkpoints.skipped += 1;
      if (forced && performance.now() - this.#forcedWarnedMs >= 60_000) {
        this.#forcedWarnedMs = performance.now();
        this.#o.log?.warn(
          { walFrames: frames, walHardPages: this.#o.walHardPages, waitedMs: HARD_WAIT_MS },
          `continuous backup: the WAL has ${frames} frames (wal_hard_pages ${this.#o.walHardPages}) and the ` +
            `application held the write lock for all of ${HARD_WAIT_MS} ms; the WAL cannot start over until a ` +
            'checkpoint gets it (tried after every segment)',
        );
      }
      return; // the application is writing: next time
    }
    const locked = performance.now();
    try {
      this.#read();
      this.#pending = withFrames(this.#walFd!, this.#pending);
      this.#rotate();
      this.#checkpointer.pragma('wal_checkpoint(PASSIVE)');
      faultPoint('during-checkpoint');
      this.#rotate();
    } finally {
      this.#barrier.exec('ROLLBACK');
      const heldMs = performance.now() - locked;
      this.#checkpoints.done += 1;
      this.#checkpoints.lockMs += heldMs;
      this.#checkpoints.lastLockMs = heldMs;
      this.#checkpoints.maxLockMs = Math.max(this.#checkpoints.maxLockMs, heldMs);
    }
  }

  /**
   * BEGIN IMMEDIATE on the barrier, tried every millisecond for up to `waitMs`. Not SQLite's
   * busy handler: it sleeps up to 100 ms between tries, and a writer that takes the lock back
   * within a few milliseconds of each commit would never be caught. The wait blocks this thread
   * (in a library, the application's) for at most waitMs, and only at walHardPages.
   */
  #takeWriteLock(waitMs: number): boolean {
    const until = performance.now() + waitMs;
    for (;;) {
      try {
        this.#barrier.exec('BEGIN IMMEDIATE');
        return true;
      } catch {
        if (performance.now() >= until) return false;
        Atomics.wait(PAUSE, 0, 0, 1);
      }
    }
  }

  async #restartGeneration(reason: string): Promise<void> {
    this.#o.log?.warn({ reason }, 'continuous backup: the WAL does not continue the chain; starting a new generation');
    this.emit('gap', { fromTxid: this.#chain?.txid, reason });
    await this.#uploader.waitFor(this.#chain?.txid ?? 0).catch(() => undefined);
    if (this.#readers[1 - this.#active]!.inTransaction) this.#readers[1 - this.#active]!.exec('COMMIT');
    await this.#newGeneration('continuity-unproven');
  }

  /**
   * Re-basing inside the generation (spec §3.8): after `rebaseEveryMs` with commits, or once the
   * segments since the last base outweigh it `rebaseRatio` times (restoreWork), a new base of the
   * same generation is taken at a segment boundary, so a restore never applies more than about
   * `rebaseRatio` database sizes of frames after its base. Shipping goes on while it is copied and
   * uploaded: the recovery point does not wait for a base, and the chain has no seam (the base
   * binds to the segment it follows, afterSeq and chainDigest). Only while the bucket keeps up (a
   * base is the largest upload); after a failure, not again for `rebaseRetryMs`.
   */
  async #rebaseIfDue(): Promise<void> {
    const chain = this.#chain!;
    const g = this.#generation;
    const now = this.#o.now();
    if (chain.txid === g.baseTxid || this.#rebasing || this.#uploader.failing() || now < this.#rebaseRetryMs) return;
    const old = now - g.startedMs >= this.#o.rebaseEveryMs;
    const heavy = g.segmentBytes > this.#o.rebaseRatio * Math.max(g.baseBytes, 1);
    if (!old && !heavy) return;
    const pin = this.#pinForBase();
    if (!pin) return; // the application was writing: next tick
    let at: BaseAt;
    try {
      // Everything up to the pinned commit goes into segments now: the base follows the last of them.
      await this.#sealIfDue(true);
      const p = chain.position;
      if (p.nextFrame !== pin.mxFrame + 1 || !p.header.subarray(16, 24).equals(Buffer.from(pin.salts, 'hex'))) {
        throw new Error(`the sealed chain ends at WAL frame ${p.nextFrame - 1}, the pinned commit at ${pin.mxFrame}`);
      }
      at = {
        txid: chain.txid,
        seq: chain.seq,
        chainDigest: Buffer.from(chain.prevDigest),
        rolling: chain.rolling.value(),
        observedMs: chain.lastObservedMs,
      };
    } catch (err) {
      this.#unpin();
      throw err;
    }
    const before = { ...g };
    this.#generation = { startedMs: now, baseBytes: pin.pages * pin.pageSize, segmentBytes: 0, baseTxid: at.txid };
    this.#o.log?.info(
      { genId: chain.genId, txid: at.txid, afterSeq: at.seq, segmentBytes: before.segmentBytes },
      'continuous backup: a new base inside the generation',
    );
    this.#rebaseStop = new AbortController();
    const signal = AbortSignal.any([this.#rebaseAbort.signal, this.#rebaseStop.signal]);
    this.#rebasing = this.#baseInGeneration(pin, at, signal)
      .catch((err: unknown) => {
        this.#rebaseRetryMs = this.#o.now() + this.#o.rebaseRetryMs;
        // The segments since the cut count towards the next attempt, with those before it.
        if (this.#chain?.genId === chain.genId) {
          const gen = this.#generation;
          this.#generation = { ...before, segmentBytes: before.segmentBytes + gen.segmentBytes };
        }
        if (this.#closed || signal.aborted) return;
        const diverged = err instanceof LifeboatError && err.code === 'PITR_CHECKSUM_MISMATCH';
        if (diverged) {
          this.#baseFailures.diverged += 1;
          this.#o.log?.error(
            { err, txid: at.txid, retryInMs: this.#o.rebaseRetryMs },
            `continuous backup: the database file ${this.#o.dbPath} is not what its WAL history says at txid ` +
              `${at.txid}: a page changed without a transaction (damage on disk, a write around SQLite, or a ` +
              'Lifeboat bug). Check it now (PRAGMA integrity_check; the disk) and report it if both are sound. ' +
              'Shipping goes on, and the bucket restores the transactions as committed; a base is refused while ' +
              'the file differs',
          );
        } else {
          this.#baseFailures.other += 1;
          this.#o.log?.warn(
            { err, txid: at.txid, retryInMs: this.#o.rebaseRetryMs },
            'continuous backup: a new base failed; shipping goes on, and the base is tried again later',
          );
        }
        const message = err instanceof Error ? err.message : String(err);
        this.emit('base-failed', { txid: at.txid, diverged, message });
      })
      .finally(() => {
        this.#unpin();
        this.#rebasing = undefined;
      });
  }

  /**
   * Under a moment's write lock: reads what is committed, and begins the pinner's read
   * transaction at exactly that commit (no one can commit in between), with the wal-index header
   * that describes it. Undefined when the lock is not free now or the WAL has no frame yet.
   */
  #pinForBase(): CallerPin | undefined {
    try {
      this.#barrier.exec('BEGIN IMMEDIATE');
    } catch {
      return undefined;
    }
    try {
      if (!this.#read()) return undefined;
      beginRead(this.#pinner);
      const pages = Number(this.#pinner.pragma('page_count', { simple: true }));
      const index = publishedWal(this.#o.dbPath);
      if (!index || index.mxFrame === 0 || index.mxFrame !== this.#scan!.nextFrame - 1) {
        this.#unpin();
        return undefined;
      }
      return {
        salts: index.salts.toString('hex'),
        mxFrame: index.mxFrame,
        checksum: index.frameChecksum,
        nBackfill: index.nBackfill,
        pageSize: this.#chain!.pageSize,
        pages,
      };
    } catch (err) {
      this.#unpin();
      throw err;
    } finally {
      this.#barrier.exec('ROLLBACK');
    }
  }

  #unpin(): void {
    if (this.#pinner.inTransaction) this.#pinner.exec('COMMIT');
  }

  /** Copies the pinned commit (then lets it go) and uploads it as a base following segment `at.seq`. */
  async #baseInGeneration(pin: CallerPin, at: BaseAt, signal: AbortSignal): Promise<void> {
    const { store, key, dbId } = this.#o;
    const genId = this.#chain!.genId;
    mkdirSync(this.#o.workDir, { recursive: true, mode: 0o700 });
    const image = join(this.#o.workDir, `base-${genId}-${at.txid}.sqlite`);
    try {
      await rm(image, { force: true });
      const source = this.#o.dbPath;
      const request = { op: 'copy', source, dest: image, pinnedByCaller: pin, keepHeader: true } as const;
      await runCopy(request, undefined, signal);
      faultPoint('during-rebase');
      this.#unpin(); // the WAL may restart again
      const written = await writeBase(
        store,
        key,
        image,
        {
          dbId,
          genId,
          txid: at.txid,
          observedMs: at.observedMs,
          pageSize: pin.pageSize,
          rolling: at.rolling,
          afterSeq: at.seq,
          chainDigest: at.chainDigest,
        },
        { signal },
      );
      this.#bases = { count: this.#bases.count + 1, bytes: this.#bases.bytes + written.size };
      this.#o.log?.info(
        { genId, txid: at.txid, afterSeq: at.seq, base: written.name },
        'continuous backup: base shipped',
      );
      this.emit('base', { genId, txid: at.txid, afterSeq: at.seq });
    } finally {
      await rm(image, { force: true });
    }
  }

  /**
   * Retention (spec §3.8): deletes what only restores points older than `windowMs`, as
   * pitr/retention.ts decides — nothing while this machine's clock and the S3 server's disagree.
   * It looks at most every `retentionEveryMs`, and only after something was shipped: an idle
   * database costs no request.
   */
  async #retentionIfDue(): Promise<void> {
    const now = this.#o.now();
    // No request while idle: only when something was shipped since it last looked.
    const shipped = this.#uploader.shipped().txid;
    if (now - this.#lastRetentionMs < this.#o.retentionEveryMs || shipped === this.#retentionAt) return;
    this.#lastRetentionMs = now;
    this.#retentionAt = shipped;
    const { store, dbId } = this.#o;
    try {
      const objects = await store.list(dbPrefix(dbId));
      // Both clocks read after the listing, at one moment: its answer dated the server's.
      const serverMs = store.serverTime();
      const at = this.#o.now();
      const d = decidePitrRetention({
        objects,
        currentGenId: this.#chain!.genId,
        nowMs: at,
        windowMs: this.#o.windowMs,
        clockOffsetMs: clockOffset(serverMs, at),
      });
      if (d.future.length > 0 && at - this.#futureWarnedMs >= 86_400_000) {
        this.#futureWarnedMs = at;
        this.#o.log?.warn(
          { objects: d.future.length, example: d.future[0] },
          `continuous backup: ${d.future.length} object(s) of database ${dbId} are named later than this ` +
            "machine's clock (a clock that was ahead wrote them): their generations are kept until that time passes",
        );
      }
      if (d.skipped !== undefined) {
        this.#o.log?.warn({ reason: d.skipped }, `continuous backup: retention deletes nothing: ${d.skipped}`);
        this.#retention.skipped += 1;
        this.emit('retention', { deleted: [], skipped: d.skipped });
        return;
      }
      // A restore's hold (restore/hold.ts) pauses every deletion of this database; holds that ran out are removed.
      const holds = await readHolds(store, d.holdKeys, serverMs ?? at, this.#o.log);
      if (holds.expired.length > 0) await store.deleteMany(holds.expired);
      if (d.expired.length === 0 && d.superseded.length === 0) {
        this.#retention.nothing += 1;
        this.emit('retention', { deleted: [] });
        return;
      }
      if (holds.inForce.length > 0) {
        const untilMs = Math.max(...holds.inForce.map((h) => h.expiresMs));
        const until = Number.isFinite(untilMs)
          ? `until ${new Date(untilMs).toISOString()} unless renewed`
          : 'unreadable';
        this.#o.log?.info(
          { holds: holds.inForce.map((h) => h.key), untilMs },
          `continuous backup: retention waits: a restore holds database ${dbId} (${until}); it looks again in an hour`,
        );
        this.#retention.held += 1;
        this.emit('retention', { deleted: [], held: holds.inForce.map((h) => h.key) });
        return;
      }
      const [restoring, metas] = deletionBatches(d);
      await store.deleteMany(restoring);
      faultPoint('during-retention');
      await store.deleteMany(metas);
      this.#o.log?.info(
        {
          generations: d.expired.map((g) => g.genId),
          objects: d.expired.reduce((n, g) => n + g.keys.length, 0) + d.superseded.length,
          ...(d.keptBaseTxid !== undefined ? { oldestBaseTxid: d.keptBaseTxid } : {}),
        },
        'continuous backup: what only restores points older than the window deleted',
      );
      this.#retention.deleted += 1;
      this.emit('retention', {
        deleted: d.expired.map((g) => g.genId),
        ...(d.superseded.length > 0 ? { superseded: d.superseded } : {}),
      });
    } catch (err) {
      this.#retention.failed += 1;
      this.emit('retention', { deleted: [], failed: err instanceof Error ? err.message : String(err) });
      this.#o.log?.warn({ err }, 'continuous backup: retention failed; it tries again in an hour');
    }
  }

  #stop(reason: string): void {
    this.#state = 'stopped';
    this.#stateFile?.save(undefined); // no restart continues a chain this capture gave up
    this.#error = reason;
    clearTimeout(this.#timer);
    this.#o.log?.error({ reason }, 'continuous backup stopped');
    this.emit('stopped', { reason });
  }
}

class ChainBroken extends Error {}

function clockOffset(serverMs: number | undefined, localMs: number): number | undefined {
  return serverMs === undefined ? undefined : serverMs - localMs;
}

/** A copy of the database at a commit pinned in the WAL. */
interface PinnedImage {
  readonly path: string;
  /** Where the WAL goes on after the pinned commit. */
  readonly position: WalPosition;
  readonly pageSize: number;
}

/** Where a base inside the generation is taken: the last sealed transaction and segment, the chain's state there. */
interface BaseAt {
  readonly txid: number;
  readonly seq: number;
  readonly chainDigest: Buffer;
  readonly rolling: Buffer;
  readonly observedMs: number;
}

/**
 * `pending` with each transaction's frames read into memory, before the WAL may restart over them
 * (read again when sealed, their checksums checked then). One buffer for all of them: many small
 * ones fragment the native heap.
 */
function withFrames(walFd: number, pending: readonly PendingTransaction[]): PendingTransaction[] {
  const all = Buffer.allocUnsafe(pending.reduce((n, p) => n + (p.frames ? 0 : transactionBytes(p.tx)), 0));
  let at = 0;
  return pending.map((p) => {
    if (p.frames) return p;
    const frames = all.subarray(at, at + transactionBytes(p.tx));
    at += frames.length;
    readFully(walFd, frames, frameOffset(p.tx.header, p.tx.firstFrame));
    return { ...p, frames };
  });
}

/** Begins a read transaction on `db` now (a bare BEGIN begins it only at the first read). */
function beginRead(db: Connection): void {
  db.exec('BEGIN');
  db.prepare('SELECT 1 FROM sqlite_schema LIMIT 1').get();
}

/**
 * What a capture killed in its work folder left there (only one capture uses it): base images it
 * copied or uploaded, database-sized, and temp files of state.json it had not renamed yet.
 */
async function removeLeftovers(workDir: string): Promise<void> {
  const names = await readdir(workDir).catch(() => [] as string[]);
  for (const name of names) if (/^base-.*\.sqlite$/.test(name)) await rm(join(workDir, name), { force: true });
  await removeStaleTemps(workDir);
}

/** The highest txid any segment or base of the database in the bucket holds (0: none). */
function highestTxid(listed: readonly ListedObject[]): number {
  let highest = 0;
  for (const o of listed) {
    const name = parsePitrName(o.key);
    if (name?.kind === 'segment') highest = Math.max(highest, name.lastTxid);
    if (name?.kind === 'base') highest = Math.max(highest, name.txid);
  }
  return highest;
}

function realOrGiven(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path; // opening it fails with SQLite's own error
  }
}

/**
 * What a segment costs a restore that passes through it: the page images it writes. Counting
 * the stored bytes instead let a workload that rewrites the same pages (brotli stores a page's
 * hundred versions in a second as little more than one) pile up ~27 database sizes of frames
 * before a new base: a restore to the latest point took 4.4× the base's alone (docs/benchmarks.md).
 */
function restoreWork(s: SealedSegment): number {
  let frames = 0;
  for (const r of s.records) if (r.type === 'tx') frames += r.frames.length;
  return Math.max(frames, s.ciphertext.length);
}
