// SQLite work that can take seconds on a large database (online snapshot, integrity
// check, row counts) runs here, on a worker thread with its own connection, so the host
// application's event loop and its own connection are never blocked by a backup.
//
// Plain ESM JavaScript on purpose: worker entry points are loaded by Node itself, and
// this file must load the same way from the TypeScript sources (tests) and from dist/.
// The request/response shapes are typed in src/snapshot/worker-client.ts.

import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';

// The same driver choice as src/sqlite/driver.ts (better-sqlite3 13 on Node >= 22, 12 on 20).
const Database = createRequire(import.meta.url)(
  Number(process.versions.node.split('.')[0]) >= 22 ? 'better-sqlite3-napi' : 'better-sqlite3',
);

const SQLITE_MAGIC = 'SQLite format 3\u0000';
const ALL_PAGES = 0x7fffffff;
/** Page cache of the snapshot's connections, KiB (see snapshot()). */
const CACHE_KIB = 2048;

function readHeader(path) {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(100);
    const n = readSync(fd, buf, 0, 100, 0);
    return n === 100 ? buf : buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

function headerProblem(path) {
  const size = statSync(path).size;
  if (size === 0) return 'the file is empty';
  const header = readHeader(path);
  if (header.length < 100 || header.toString('latin1', 0, 16) !== SQLITE_MAGIC)
    return 'it is not an SQLite database (bad file header)';
  const pageSize = header.readUInt16BE(16) === 1 ? 65536 : header.readUInt16BE(16);
  const pageCount = header.readUInt32BE(28);
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) return `the header has an invalid page size (${pageSize})`;
  if (pageCount > 0 && size < pageSize * pageCount)
    return `the file is truncated: ${size} bytes but the header says ${pageCount} pages of ${pageSize} bytes`;
  return undefined;
}

function check(db, mode) {
  if (mode === 'none') return [];
  const pragma = mode === 'full' ? 'integrity_check' : 'quick_check';
  const rows = db.pragma(`${pragma}(100)`);
  const messages = rows.map((r) => String(Object.values(r)[0]));
  return messages.length === 1 && messages[0] === 'ok' ? [] : messages;
}

function tables(db, countRows) {
  const names = db
    .prepare(
      "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )
    .pluck()
    .all();
  return names.map((name) => ({
    name,
    rows: countRows
      ? db
          .prepare(`SELECT count(*) FROM "${name.replaceAll('"', '""')}"`)
          .pluck()
          .get()
      : undefined,
  }));
}

async function snapshot({ source, dest, check: mode }) {
  const t0 = performance.now();
  const src = new Database(source, { fileMustExist: true, timeout: 10_000 });
  let journalMode;
  let result;
  try {
    journalMode = String(src.pragma('journal_mode', { simple: true }));
    // The copy reads every page once, so the source connection's page cache only costs
    // memory: SQLite's default here (better-sqlite3 builds with 16 MB) was ~15 MB of the
    // backup's peak RSS. 2 MB made no difference to the copy's speed.
    src.pragma(`cache_size = -${CACHE_KIB}`);
    // The first transfer only sets up; the second copies every page inside one read
    // transaction, so the copy is consistent and, in WAL mode, never blocks writers.
    // (Step-wise copies restart whenever another connection commits and may never finish.)
    result = await src.backup(dest, { progress: () => ALL_PAGES });
  } finally {
    src.close();
  }
  const copiedMs = performance.now() - t0;
  const db = new Database(dest);
  // Same for the check: it walks each b-tree once, and now runs while the push is sending.
  db.pragma(`cache_size = -${CACHE_KIB}`);
  let problems;
  try {
    // A standalone file: rollback journal mode, so restoring or opening it needs no -wal/-shm.
    db.pragma('journal_mode = DELETE');
    // The file's bytes are final from here on (checks only read): the caller may start
    // sending them while the check runs, and commits the upload only if the check passes.
    parentPort.postMessage({ event: 'copied' });
    problems = check(db, mode);
  } finally {
    db.close();
  }
  return {
    journalMode,
    pages: result.totalPages,
    bytes: statSync(dest).size,
    copyMs: copiedMs,
    checkMs: performance.now() - t0 - copiedMs,
    problems,
  };
}

function verify({ path, check: mode, countRows }) {
  const t0 = performance.now();
  const bad = headerProblem(path);
  if (bad) return { ok: false, problems: [bad], tables: [], bytes: statSync(path).size, ms: performance.now() - t0 };
  let db;
  try {
    db = new Database(path, { fileMustExist: true });
    db.pragma('journal_mode = DELETE');
    const problems = check(db, mode);
    const list = problems.length === 0 ? tables(db, countRows) : [];
    const pageSize = db.pragma('page_size', { simple: true });
    const pageCount = db.pragma('page_count', { simple: true });
    return {
      ok: problems.length === 0,
      problems,
      tables: list,
      bytes: statSync(path).size,
      pageSize,
      pageCount,
      ms: performance.now() - t0,
    };
  } catch (err) {
    return {
      ok: false,
      problems: [String(err?.message ? err.message : err)],
      tables: [],
      bytes: statSync(path).size,
      ms: performance.now() - t0,
    };
  } finally {
    db?.close();
  }
}

const request = workerData;
try {
  const value = request.op === 'snapshot' ? await snapshot(request) : verify(request);
  parentPort.postMessage({ ok: true, value });
} catch (err) {
  parentPort.postMessage({ ok: false, message: err?.message ? err.message : String(err), code: err?.code });
}
