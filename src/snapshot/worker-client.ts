import { Worker } from 'node:worker_threads';
import { LifeboatError } from '../errors.js';

/** How thorough a check is: `quick` = PRAGMA quick_check, `full` = PRAGMA integrity_check. */
export type CheckMode = 'quick' | 'full' | 'none';

export interface SnapshotRequest {
  readonly op: 'snapshot';
  readonly source: string;
  readonly dest: string;
  readonly check: CheckMode;
}

export interface SnapshotOutcome {
  /** Journal mode of the source (writers are only non-blocking in `wal`). */
  readonly journalMode: string;
  readonly pages: number;
  readonly bytes: number;
  readonly copyMs: number;
  readonly checkMs: number;
  /** Empty when the check passed. */
  readonly problems: readonly string[];
}

export interface VerifyRequest {
  readonly op: 'verify';
  /** A file Lifeboat owns (a temp copy): the check converts it to rollback-journal mode. */
  readonly path: string;
  readonly check: CheckMode;
  readonly countRows: boolean;
}

export interface TableInfo {
  readonly name: string;
  readonly rows: number | undefined;
}

export interface VerifyOutcome {
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly tables: readonly TableInfo[];
  readonly bytes: number;
  readonly pageSize?: number;
  readonly pageCount?: number;
  readonly ms: number;
}

/** A failure inside the SQLite worker; `sqliteCode` is SQLite's (e.g. SQLITE_CORRUPT). */
export class SqliteWorkerError extends LifeboatError {
  constructor(
    readonly sqliteCode: string | undefined,
    message: string,
  ) {
    super('SQLITE_ERROR', sqliteCode ? `${message} (${sqliteCode})` : message);
  }
}

type Reply<T> = { ok: true; value: T } | { ok: false; message: string; code?: string };

/**
 * The worker runs a few SQLite calls and almost no JavaScript, and it now runs while the push
 * sends: a small young generation keeps its heap from growing as Node 24's defaults let it
 * (measured: a 512 MiB backup to S3 peaked ~15 MB higher with the overlap on Node 24).
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 };

// Same relative path from src/snapshot/ and dist/snapshot/.
const WORKER_URL = new URL('../../lib/sqlite-worker.mjs', import.meta.url);

/** Sent by a snapshot once the copy's bytes are final, before its check. */
interface CopiedEvent {
  readonly event: 'copied';
}

export interface WorkerEvents {
  /** The snapshot's bytes are final (the check is still to come). */
  readonly onCopied?: () => void;
}

export function runSqliteWorker(request: SnapshotRequest, events?: WorkerEvents): Promise<SnapshotOutcome>;
export function runSqliteWorker(request: VerifyRequest): Promise<VerifyOutcome>;
export function runSqliteWorker(
  request: SnapshotRequest | VerifyRequest,
  events: WorkerEvents = {},
): Promise<SnapshotOutcome | VerifyOutcome> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_URL, { workerData: request, resourceLimits: WORKER_LIMITS });
    let settled = false;
    worker.on('message', (reply: Reply<SnapshotOutcome | VerifyOutcome> | CopiedEvent) => {
      if ('event' in reply) {
        events.onCopied?.();
        return;
      }
      settled = true;
      if (reply.ok) resolve(reply.value);
      else reject(new SqliteWorkerError(reply.code, reply.message));
    });
    worker.once('error', (err) => {
      if (!settled) reject(err);
      settled = true;
    });
    worker.once('exit', (code) => {
      if (!settled)
        reject(new LifeboatError('WORKER_EXIT', `the SQLite worker exited with code ${code} before answering`));
    });
  });
}
