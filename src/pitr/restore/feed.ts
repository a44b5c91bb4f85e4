import type { KeyLookup } from '../../crypto/stream.js';
import type { PitrObjectStore, RequestOptions } from '../../storage/object-store.js';
import { missing } from '../base-object.js';
import { decodeSegment, type Segment } from '../segment.js';
import type { PlannedSegment } from './plan.js';

/**
 * A restore's segments, fetched and decoded ahead of the one applied, handed out in seq order.
 * It starts while the base downloads: segments are small (a second of commits, brotli) and
 * many, so fetching them one after another once the base is in place left the applier waiting
 * on a GET's latency for each (docs/benchmarks.md, "Restore to a point"). The ciphertext held
 * is bounded by bytes (from the listing's sizes), the decoded segments by count (each holds up
 * to 16 MiB of records); decryption and brotli run in the thread pool. What ties a segment to
 * the one before it is checked by the applier when its turn comes; a fetch or decode that
 * fails is reported then too, in order, never before the segments ahead of it are applied.
 */

export interface SegmentFeedOptions extends RequestOptions {
  readonly store: PitrObjectStore;
  readonly keys: KeyLookup;
  readonly dbId: string;
  readonly genId: string;
  /** Ciphertext fetched and not yet decoded, at most (one segment is always allowed); default 32 MiB. */
  readonly aheadBytes?: number;
  /** GETs in flight at most (default 4). */
  readonly gets?: number;
  /** Segments decoded (or decoding) and not yet taken, at most (default 2). */
  readonly decoded?: number;
}

export interface DecodedSegment {
  readonly seg: PlannedSegment;
  readonly segment: Segment;
}

const DEFAULT_AHEAD_BYTES = 32 * 1024 * 1024;
const DEFAULT_GETS = 4;
const DEFAULT_DECODED = 2;

interface Fetching {
  readonly seg: PlannedSegment;
  readonly body: Promise<Buffer>;
}

export class SegmentFeed {
  readonly #options: SegmentFeedOptions;
  readonly #queue: PlannedSegment[];
  readonly #fetching: Fetching[] = [];
  readonly #decoding: Array<Promise<DecodedSegment>> = [];
  #fetchedBytes = 0;
  #gets = 0;
  #stopped = false;

  constructor(segments: readonly PlannedSegment[], options: SegmentFeedOptions) {
    this.#options = options;
    this.#queue = [...segments];
    this.#pump();
  }

  /** Segments not yet taken. */
  get remaining(): number {
    return this.#queue.length + this.#fetching.length + this.#decoding.length;
  }

  /** Adds a segment after those already planned. */
  append(seg: PlannedSegment): void {
    this.#queue.push(seg);
    this.#pump();
  }

  /** The next segment in order, decoded (not yet checked against the one before it); undefined at the end. */
  async next(): Promise<DecodedSegment | undefined> {
    const decoded = this.#decoding.shift();
    if (!decoded) return undefined;
    this.#pump();
    const got = await decoded;
    this.#pump();
    return got;
  }

  /** Starts no more fetches or decodes (the restore ended early or failed); those in flight finish unread. */
  stop(): void {
    this.#stopped = true;
    this.#queue.length = 0;
    this.#fetching.length = 0;
  }

  #pump(): void {
    if (this.#stopped) return;
    const o = this.#options;
    const gets = Math.max(1, o.gets ?? DEFAULT_GETS);
    const budget = o.aheadBytes ?? DEFAULT_AHEAD_BYTES;
    while (this.#queue.length > 0 && this.#gets < gets) {
      const seg = this.#queue[0]!;
      if (this.#fetchedBytes > 0 && this.#fetchedBytes + seg.size > budget) break;
      this.#queue.shift();
      this.#fetchedBytes += seg.size;
      this.#gets++;
      const body = o.store.get(seg.name, o).then(
        (got) => {
          this.#gets--;
          this.#pump();
          if (!got) throw missing(`segment ${seg.name}`);
          return got.body;
        },
        (err: unknown) => {
          this.#gets--;
          throw err;
        },
      );
      body.catch(() => undefined); // reported when its turn comes
      this.#fetching.push({ seg, body });
    }
    while (this.#decoding.length < Math.max(1, o.decoded ?? DEFAULT_DECODED)) {
      const next = this.#fetching.shift();
      if (!next) return;
      const { seg, body } = next;
      const decoded = body
        .then((b) => {
          this.#fetchedBytes -= seg.size;
          this.#pump();
          return decodeSegment(b, o.keys, { name: seg.name, dbId: o.dbId, genId: o.genId, seq: seg.seq });
        })
        .then((segment) => ({ seg, segment }));
      decoded.catch(() => undefined); // reported when its turn comes
      this.#decoding.push(decoded);
    }
  }
}
