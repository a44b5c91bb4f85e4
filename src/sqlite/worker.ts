// SQLite checks that can take seconds on a large database (integrity checks, row counts) run
// here, on a worker thread with its own connection, so the host application's event loop and
// its own connection are never blocked by a backup. The online copy runs in a child process
// instead (copy.ts says why).
import { closeSync, openSync, statSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { readFully } from '../fs/read.js';
import Database from './driver.js';
import { DB_HEADER_BYTES, hasSqliteMagic, headerPageSize } from './file-header.js';
import type { CheckMode, TableInfo, VerifyOutcome, VerifyRequest } from './protocol.js';
import { replyOf } from './reply.js';

type Connection = InstanceType<typeof Database>;

/**
 * Page cache of the worker's connections, KiB. The copy reads every page once and the check
 * walks each b-tree once, so a cache only costs memory: better-sqlite3's default (16 MB) was
 * ~15 MB of a backup's peak RSS; 2 MB made no difference to either's speed.
 */
const CACHE_KIB = 2048;

function readHeader(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(DB_HEADER_BYTES);
    return buf.subarray(0, readFully(fd, buf, 0));
  } finally {
    closeSync(fd);
  }
}

/** What is wrong with the file as an SQLite database before SQLite opens it, or undefined. */
function headerProblem(path: string): string | undefined {
  const size = statSync(path).size;
  if (size === 0) return 'the file is empty';
  const header = readHeader(path);
  if (header.length < DB_HEADER_BYTES || !hasSqliteMagic(header)) {
    return 'it is not an SQLite database (bad file header)';
  }
  const pageSize = headerPageSize(header);
  const pageCount = header.readUInt32BE(28);
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) return `the header has an invalid page size (${pageSize})`;
  if (pageCount > 0 && size < pageSize * pageCount) {
    return `the file is truncated: ${size} bytes but the header says ${pageCount} pages of ${pageSize} bytes`;
  }
  return undefined;
}

function check(db: Connection, mode: CheckMode): string[] {
  if (mode === 'none') return [];
  const rows = db.pragma('integrity_check(100)') as Array<Record<string, unknown>>;
  const messages = rows.map((r) => String(Object.values(r)[0]));
  return messages.length === 1 && messages[0] === 'ok' ? [] : messages;
}

function tables(db: Connection, countRows: boolean): TableInfo[] {
  const names = db
    .prepare(
      "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )
    .pluck()
    .all() as string[];
  return names.map((name) => ({
    name,
    rows: countRows
      ? (db
          .prepare(`SELECT count(*) FROM "${name.replaceAll('"', '""')}"`)
          .pluck()
          .get() as number)
      : undefined,
  }));
}

function verify({ path, check: mode, countRows }: VerifyRequest): VerifyOutcome {
  const t0 = performance.now();
  const bytes = () => statSync(path).size;
  const bad = headerProblem(path);
  if (bad) return { ok: false, problems: [bad], tables: [], bytes: bytes(), ms: performance.now() - t0 };
  let db: Connection | undefined;
  try {
    db = new Database(path, { fileMustExist: true });
    db.pragma(`cache_size = -${CACHE_KIB}`);
    db.pragma('journal_mode = DELETE');
    const problems = check(db, mode);
    const list = problems.length === 0 ? tables(db, countRows) : [];
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const pageCount = db.pragma('page_count', { simple: true }) as number;
    const ok = problems.length === 0;
    return { ok, problems, tables: list, bytes: bytes(), pageSize, pageCount, ms: performance.now() - t0 };
  } catch (err) {
    const problem = err instanceof Error ? err.message : String(err);
    return { ok: false, problems: [problem], tables: [], bytes: bytes(), ms: performance.now() - t0 };
  } finally {
    db?.close();
  }
}

parentPort?.postMessage(await replyOf(() => verify(workerData as VerifyRequest)));
