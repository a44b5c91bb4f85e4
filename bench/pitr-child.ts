// The continuous-backup side of bench/pitr.ts, in a process of its own so that its peak RSS and
// CPU time are its own (bench/pitr.ts starts it under GNU time):
//   node bench/pitr-child.js '<json request>'
// `capture`: starts Capture on the database, prints `started {baseTxid…}`, then answers lines on
// stdin: `counts <label>` → `counts <label> {at, cpuS, requests}`, `flush` → `flushed {txid}`,
// `stop` → closes and prints `result {shipped, status}`. `idle`: the same process and modules with
// continuous backup off; waits for `stop`. `restore`: one point-in-time restore, one JSON line.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import type { S3Config } from '../src/config/types.js';
import { enableGarbageCollection } from '../src/memory.js';
import { Capture } from '../src/pitr/capture/capture.js';
import { dbPrefix, parsePitrName } from '../src/pitr/names.js';
import { restorePitr } from '../src/pitr/restore/apply.js';
import type { PitrTarget } from '../src/pitr/restore/plan.js';
import type { EtagForm, PitrObjectStore } from '../src/storage/object-store.js';
import { S3ConditionalStore } from '../src/storage/s3/conditional.js';
import { BENCH_KEYS } from './lib/stores.js';

export type PitrChildRequest =
  | {
      readonly op: 'capture';
      readonly db: string;
      readonly s3: S3Config;
      readonly dbId: string;
      readonly syncIntervalMs: number;
      /** Capture's rebaseRatio (default: capture's own, 1). */
      readonly rebaseRatio?: number;
    }
  | { readonly op: 'idle'; readonly s3: S3Config }
  | {
      readonly op: 'restore';
      readonly s3: S3Config;
      readonly dbId: string;
      readonly target: PitrTarget;
      readonly path: string;
    };

export interface PitrRestoreReply {
  readonly ms: number;
  readonly txid: number;
  readonly segments: number;
  /** Stored (sealed) bytes of the base the restore began from and of the segments after it up to the target. */
  readonly baseBytes: number;
  readonly segmentBytes: number;
  readonly segmentCount: number;
  /** The txid of the base the restore began from. */
  readonly baseTxid: number;
  /** The txids of the database's bases in the bucket, oldest first. */
  readonly baseTxids: number[];
}

/** One acknowledgement: the last txid of a segment the bucket accepted, and when (unix ms, fractional). */
export interface Shipped {
  readonly txid: number;
  readonly at: number;
}

type Method = 'get' | 'getStream' | 'putStream' | 'putIfAbsent' | 'putIfMatch' | 'list' | 'delete' | 'deleteMany';

/**
 * Counts the store's calls by method: each is one HTTP request, except putStream (multipart
 * when larger than a part: create, parts, complete) and deleteMany (1,000 keys a request); the
 * SDK's own retries are not seen here.
 */
export class CountingStore implements PitrObjectStore {
  readonly counts: Record<Method, number> = {
    get: 0,
    getStream: 0,
    putStream: 0,
    putIfAbsent: 0,
    putIfMatch: 0,
    list: 0,
    delete: 0,
    deleteMany: 0,
  };
  readonly #inner: PitrObjectStore;
  constructor(inner: PitrObjectStore) {
    this.#inner = inner;
  }
  /** Counts one call of `method`; the store to make it on. */
  #hit(method: Method): PitrObjectStore {
    this.counts[method]++;
    return this.#inner;
  }
  get description(): string {
    return this.#inner.description;
  }
  get etagForm(): EtagForm {
    return this.#inner.etagForm;
  }
  set etagForm(form: EtagForm) {
    this.#inner.etagForm = form;
  }
  get: PitrObjectStore['get'] = (...a) => this.#hit('get').get(...a);
  getStream: PitrObjectStore['getStream'] = (...a) => this.#hit('getStream').getStream(...a);
  putStream: PitrObjectStore['putStream'] = (...a) => this.#hit('putStream').putStream(...a);
  putIfAbsent: PitrObjectStore['putIfAbsent'] = (...a) => this.#hit('putIfAbsent').putIfAbsent(...a);
  putIfMatch: PitrObjectStore['putIfMatch'] = (...a) => this.#hit('putIfMatch').putIfMatch(...a);
  list: PitrObjectStore['list'] = (...a) => this.#hit('list').list(...a);
  delete: PitrObjectStore['delete'] = (...a) => this.#hit('delete').delete(...a);
  deleteMany: PitrObjectStore['deleteMany'] = (...a) => this.#hit('deleteMany').deleteMany(...a);
  serverTime(): number | undefined {
    return this.#inner.serverTime();
  }
}

const nowMs = () => performance.timeOrigin + performance.now();
const cpuS = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};
/**
 * This process's resident set now and its high-water mark (VmRSS, VmHWM), bytes, and what the resident set is:
 * anonymous (malloc, V8), file-backed (mapped files: the binary, an mmap'd database) and shared (-shm).
 */
const memory = () => {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  const { heapUsed, external, arrayBuffers } = process.memoryUsage();
  return {
    rss: kb('VmRSS'),
    hwm: kb('VmHWM'),
    anon: kb('RssAnon'),
    file: kb('RssFile'),
    shmem: kb('RssShmem'),
    heapUsed,
    external,
    arrayBuffers,
  };
};
const print = (line: string) => process.stdout.write(`${line}\n`);

async function capture(req: Extract<PitrChildRequest, { op: 'capture' }>): Promise<void> {
  const inner = new S3ConditionalStore(req.s3);
  const store = new CountingStore(inner);
  const shipped: Shipped[] = [];
  const c = await Capture.start({
    dbPath: req.db,
    dbId: req.dbId,
    store,
    key: BENCH_KEYS.active,
    keys: BENCH_KEYS,
    syncIntervalMs: req.syncIntervalMs,
    ...(req.rebaseRatio !== undefined ? { rebaseRatio: req.rebaseRatio } : {}),
  });
  c.on('shipped', ({ txid }: { txid: number }) => shipped.push({ txid, at: nowMs() }));
  // The application is paused: nothing was committed since the base, so the last txid seen is the base's.
  const started = c.status();
  print(`started ${JSON.stringify({ baseTxid: started.lastTxid, genId: started.genId, at: nowMs() })}`);
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const [cmd, label] = line.trim().split(' ');
    if (cmd === 'counts')
      print(`counts ${label} ${JSON.stringify({ at: nowMs(), cpuS: cpuS(), ...memory(), requests: store.counts })}`);
    else if (cmd === 'flush') print(`flushed ${JSON.stringify({ txid: await c.flush(), at: nowMs() })}`);
    else if (cmd === 'stop') break;
  }
  lines.close();
  const status = c.status();
  await c.close();
  inner.close();
  print(`result ${JSON.stringify({ shipped, status })}`);
}

async function idle(req: Extract<PitrChildRequest, { op: 'idle' }>): Promise<void> {
  const inner = new S3ConditionalStore(req.s3);
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) if (line.trim() === 'stop') break;
  lines.close();
  inner.close();
  print(`result ${JSON.stringify({ cpuS: cpuS() })}`);
}

async function restore(req: Extract<PitrChildRequest, { op: 'restore' }>): Promise<PitrRestoreReply> {
  const store = new S3ConditionalStore(req.s3);
  try {
    const t0 = performance.now();
    const trace = memoryTrace(t0);
    const got = await restorePitr({
      store,
      keys: BENCH_KEYS,
      dbId: req.dbId,
      target: req.target,
      path: req.path,
      onProgress: trace?.progress,
    });
    const ms = performance.now() - t0;
    trace?.write(req.path);
    const listed = (await store.list(dbPrefix(req.dbId))).flatMap((o) => {
      const name = parsePitrName(o.key);
      return name ? [{ name, size: o.size, key: o.key }] : [];
    });
    const baseTxids = listed.flatMap((o) => (o.name.kind === 'base' ? [o.name.txid] : [])).sort((a, b) => a - b);
    const from = listed.find((o) => o.key === got.base);
    const baseBytes = from?.size ?? NaN;
    const fromTxid = from?.name.kind === 'base' ? from.name.txid : NaN;
    // The segments after the base, up to the first that reaches the target (which holds it).
    const segments = listed
      .flatMap((o) => (o.name.kind === 'segment' && o.name.lastTxid > fromTxid ? [{ ...o.name, size: o.size }] : []))
      .sort((a, b) => a.seq - b.seq);
    const through = segments.findIndex((x) => x.lastTxid >= got.txid);
    const used = through < 0 ? segments : segments.slice(0, through + 1);
    const segmentBytes = used.reduce((n, x) => n + x.size, 0);
    return {
      ms,
      txid: got.txid,
      segments: got.segments,
      baseBytes,
      segmentBytes,
      segmentCount: used.length,
      baseTxid: fromTxid,
      baseTxids,
    };
  } finally {
    store.close();
  }
}

/**
 * LIFEBOAT_BENCH_MEMTRACE=<dir>: the restore's memory every 20 ms (ms since its start, RSS, V8 heap used, external,
 * ArrayBuffers, stored bytes fetched and used so far), a TSV per restore in <dir>: where a restore's peak is
 * (docs/benchmarks.md, "A restore's memory").
 */
function memoryTrace(t0: number) {
  const dir = process.env.LIFEBOAT_BENCH_MEMTRACE;
  if (!dir) return undefined;
  const lines = ['ms\trss\theap_used\texternal\tarray_buffers\tbytes'];
  let bytes = 0;
  const timer = setInterval(() => {
    const m = memory();
    lines.push([Math.round(performance.now() - t0), m.rss, m.heapUsed, m.external, m.arrayBuffers, bytes].join('\t'));
  }, 20);
  return {
    progress: (done: number) => {
      bytes = done;
    },
    write: (restoredPath: string) => {
      clearInterval(timer);
      writeFileSync(join(dir, `${basename(restoredPath, '.sqlite')}.memory.tsv`), `${lines.join('\n')}\n`);
    },
  };
}

// As bench/child.ts: Lifeboat's code runs here as in the CLI, which opts in to forced collections.
enableGarbageCollection();

const [entry, requestJson] = process.argv.slice(1);
if (entry && requestJson && import.meta.url === pathToFileURL(entry).href) {
  const req = JSON.parse(requestJson) as PitrChildRequest;
  if (req.op === 'capture') await capture(req);
  else if (req.op === 'idle') await idle(req);
  else print(JSON.stringify(await restore(req)));
}
