import { fork } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { LifeboatError } from '../errors.js';
import { threadEntry } from '../threads.js';
import type { CopyOutcome, CopyProgress, CopyRequest, VerifyOutcome, VerifyRequest, WorkerReply } from './protocol.js';

/** A failure inside the SQLite worker; `sqliteCode` is SQLite's (e.g. SQLITE_CORRUPT). */
export class SqliteWorkerError extends LifeboatError {
  constructor(
    readonly sqliteCode: string | undefined,
    message: string,
  ) {
    super('SQLITE_ERROR', sqliteCode ? `${message} (${sqliteCode})` : message);
  }
}

/**
 * The worker runs a few SQLite calls and almost no JavaScript, while a push may be sending
 * beside it: a small young generation keeps its heap from growing as Node 24's defaults let it
 * (measured: a 512 MiB backup to S3 peaked ~15 MB higher without these limits on Node 24).
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 };

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER = threadEntry(import.meta.url, 'worker');

/** Runs one check on a fresh worker thread and resolves with its outcome (the copy runs in a process: runCopy). */
export function runSqliteWorker(request: VerifyRequest): Promise<VerifyOutcome> {
  const worker = new Worker(WORKER.entry, { eval: WORKER.eval, workerData: request, resourceLimits: WORKER_LIMITS });
  return replyOf<VerifyOutcome>(worker, 'the SQLite worker');
}

/** The one reply of a worker thread or child process: its outcome, its error, or its early exit. */
function replyOf<T>(runner: EventEmitter, what: string, onProgress?: (progress: CopyProgress) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    let settled = false;
    runner.on('message', (reply: WorkerReply<T> | CopyProgress) => {
      if ('progress' in reply) {
        if (!settled) onProgress?.(reply);
        return;
      }
      settled = true;
      if (reply.ok) resolve(reply.value);
      else reject(new SqliteWorkerError(reply.code, reply.message));
    });
    runner.once('error', (err: Error) => {
      if (!settled) reject(err);
      settled = true;
    });
    runner.once('exit', (code: number | null, signal?: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      reject(new LifeboatError('WORKER_EXIT', `${what} exited (${signal ?? `code ${code}`}) before answering`));
    });
  });
}

/**
 * copy-process.js beside this file once compiled; from the TypeScript sources, the .ts file
 * with tsx's loader. The heap limits match the worker's: the copy runs almost no JavaScript.
 */
const COPY_PROCESS = FROM_SOURCE
  ? { entry: new URL('./copy-process.ts', import.meta.url), execArgv: ['--import', import.meta.resolve('tsx')] }
  : { entry: new URL('./copy-process.js', import.meta.url), execArgv: [] };

/**
 * The online copy in its child process; `onProgress` hears what it says before its reply. An
 * abort kills the process (the reply then fails with WORKER_EXIT; what it wrote is the caller's to remove).
 */
export function runCopy(
  request: CopyRequest,
  onProgress?: (progress: CopyProgress) => void,
  signal?: AbortSignal,
): Promise<CopyOutcome> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  const child = fork(COPY_PROCESS.entry, [], {
    execArgv: [...COPY_PROCESS.execArgv, '--max-old-space-size=64', '--max-semi-space-size=2'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  const reply = replyOf<CopyOutcome>(child, 'the snapshot copy process', onProgress);
  if (signal) {
    const kill = () => child.kill('SIGKILL');
    signal.addEventListener('abort', kill, { once: true });
    void reply.catch(() => undefined).finally(() => signal.removeEventListener('abort', kill));
  }
  child.send(request);
  return reply;
}
