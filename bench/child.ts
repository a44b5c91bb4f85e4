// One measured operation in its own process, so its peak RSS and CPU time are its own:
//   node bench/child.js '<json request>'      (compiled by bench/lib/build.ts), or through tsx
// Prints one JSON line with the timings. bench/run.ts starts it under GNU time.
import { createReadStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { runBackup } from '../src/backup/job.js';
import { createEncryptStream } from '../src/crypto/stream.js';
import { fsyncPath } from '../src/fs/durable.js';
import { silentLogger } from '../src/log.js';
import { enableGarbageCollection } from '../src/memory.js';
import { restoreDatabase } from '../src/restore/restore.js';
import { systemClock } from '../src/schedule/clock.js';
import { checkSnapshot, copySnapshot } from '../src/snapshot/snapshot.js';
import { runSqliteWorker } from '../src/sqlite/client.js';
import Database from '../src/sqlite/driver.js';
import { LocalStore } from '../src/storage/local.js';
import { storeObject } from '../src/storage/store.js';
import { BENCH_KEYS, fileRangeSource, openStore, type StoreSpec } from './lib/stores.js';

export type ChildRequest =
  | { readonly op: 'snapshot'; readonly db: string; readonly target: string; readonly check: 'none' | 'full' }
  | { readonly op: 'vacuum'; readonly db: string; readonly target: string }
  | { readonly op: 'backup'; readonly db: string; readonly work: string; readonly store: StoreSpec }
  | {
      readonly op: 'put';
      readonly file: string;
      readonly store: StoreSpec;
      readonly name: string;
    }
  | { readonly op: 'encrypt'; readonly file: string }
  | { readonly op: 'get'; readonly store: StoreSpec; readonly name: string }
  | { readonly op: 'restore'; readonly store: StoreSpec; readonly name: string; readonly dbFile: string }
  | { readonly op: 'verify'; readonly file: string; readonly check: 'full' };

export interface ChildReply {
  readonly ms: number;
  /** CPU seconds of the whole process (all threads) during the operation, start-up excluded. */
  readonly opCpuS?: number;
  readonly bytes?: number;
  readonly snapshotMs?: number;
  readonly pushMs?: number;
  readonly copyMs?: number;
  readonly checkMs?: number;
  readonly name?: string;
}

function discard(count: { bytes: number }): Writable {
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _e, done) {
      count.bytes += chunk.length;
      done();
    },
  });
}

async function perform(req: ChildRequest): Promise<ChildReply> {
  const t0 = performance.now();
  const ms = () => performance.now() - t0;
  switch (req.op) {
    case 'snapshot': {
      const copy = await copySnapshot(req.db, req.target);
      const check = req.check === 'full' ? await checkSnapshot(req.target, req.db, []) : undefined;
      return { ms: ms(), bytes: copy.bytes, copyMs: copy.ms, checkMs: check?.ms };
    }
    case 'vacuum': {
      // What Hiqlite does for its backups, with the same SQLite library Lifeboat uses.
      const db = new Database(req.db, { fileMustExist: true });
      try {
        db.prepare('VACUUM INTO ?').run(req.target);
      } finally {
        db.close();
      }
      await fsyncPath(req.target); // VACUUM INTO does not sync its output; the others do
      return { ms: ms() };
    }
    case 'backup': {
      mkdirSync(req.work, { recursive: true });
      const report = await runBackup({
        dbFile: req.db,
        nodeId: 1,
        local: new LocalStore(join(req.work, 'backups')),
        lockFile: join(req.work, 'backups', '.lifeboat-backup.lock'),
        keepDaysLocal: 3,
        remote: { store: openStore(req.store), key: BENCH_KEYS.active },
        keepDaysRemote: 30,
        keepMin: 3,
        expectTables: [],
        clock: systemClock,
        logger: silentLogger(),
      });
      return {
        ms: ms(),
        bytes: report.bytes,
        snapshotMs: report.snapshotMs,
        pushMs: report.remote?.durationMs,
        name: report.name,
      };
    }
    case 'put': {
      // The server's ingest ceiling: the same bytes through the same store (client, part size,
      // queue), without snapshot or encryption, streamed part by part from the file (as the push does).
      const stored = await storeObject(openStore(req.store), req.name, fileRangeSource(req.file));
      return { ms: ms(), bytes: stored.size };
    }
    case 'encrypt': {
      const count = { bytes: 0 };
      await pipeline(createReadStream(req.file), createEncryptStream(BENCH_KEYS.active), discard(count));
      return { ms: ms(), bytes: count.bytes };
    }
    case 'get': {
      const count = { bytes: 0 };
      await pipeline(await openStore(req.store).get(req.name), discard(count));
      return { ms: ms(), bytes: count.bytes };
    }
    case 'restore': {
      const report = await restoreDatabase({
        source: { kind: 's3', object: req.name },
        dbFile: req.dbFile,
        remote: openStore(req.store),
        keys: BENCH_KEYS,
        skipValidation: false,
        expectTables: ['events'],
        force: true,
        requestedBy: 'library',
        logger: silentLogger(),
        now: () => new Date(),
      });
      return { ms: ms(), bytes: report.bytes };
    }
    case 'verify': {
      // The check a restore runs, alone (on a file Lifeboat owns: it is switched to rollback-journal mode).
      const outcome = await runSqliteWorker({ op: 'verify', path: req.file, check: req.check, countRows: false });
      if (!outcome.ok) throw new Error(`verify failed: ${outcome.problems.join('; ')}`);
      return { ms: ms(), bytes: outcome.bytes };
    }
  }
}

// Lifeboat's code runs here as it does in the CLI, which opts in to forced collections.
enableGarbageCollection();

const [entry, requestJson] = process.argv.slice(1);
if (entry && requestJson && import.meta.url === pathToFileURL(entry).href) {
  const cpu0 = process.cpuUsage();
  const reply = await perform(JSON.parse(requestJson) as ChildRequest);
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(`${JSON.stringify({ ...reply, opCpuS: (cpu.user + cpu.system) / 1e6 })}\n`);
}
