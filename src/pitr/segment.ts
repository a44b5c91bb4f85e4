import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { brotliCompress, brotliDecompress, constants as zlib } from 'node:zlib';
import type { EncryptionKey } from '../crypto/keys.js';
import type { KeyLookup } from '../crypto/stream.js';
import { LifeboatError } from '../errors.js';
import {
  continuesEpoch,
  FRAME_HEADER_BYTES,
  isPageSize,
  lockBytePage,
  readWalHeader,
  WAL_HEADER_BYTES,
  type WalHeaderFields,
} from '../sqlite/wal-header.js';
import { parseSegmentName, type SegmentName, segmentName } from './names.js';
import { FLAG_RESUMES, headerWithPrefix, type ObjectPrefix, readPrefix, readSafeU64 } from './prefix.js';
import { HASH_BYTES } from './rolling.js';
import { openObject, sealObject } from './sealed.js';

/**
 * The LBS1 segment (spec §3.4): a run of committed transactions as SQLite's own WAL frames,
 * bound to its database, generation, seq and predecessor. Plaintext, all big-endian:
 *
 *   header (196 bytes)  "LBS1" version u16 flags u16 (bit 0 compressed, bit 1 resumes) | dbId[16] genId[16] seq u64 |
 *                       firstTxid lastTxid firstObservedMs lastObservedMs u64 | pageSize dbPagesAfter u32 |
 *                       walHeader[32] startFrame s0 s1 u32 | prevDigest[32] | rollingBefore[16] rollingAfter[16]
 *   records             brotli-compressed when flags bit 0 (quality 4, 1 MiB window), else raw:
 *                         TX    u8 1, txid u64, observedMs u64, flags u8 (bit 0 late, bit 1 continues),
 *                               frameCount u32, dbPages u32, rollingAfter[16], frames (24-byte header + page each)
 *                         EPOCH u8 2, walHeader[32]            — the WAL restarted; its frames follow
 *                         CONT  u8 3, txid u64                 — first record only: the transaction the
 *                                                                previous segment ended inside goes on here
 *   trailer digest[32]  SHA-256 of everything before it: the segment's digest, the next one's prevDigest
 *
 * A transaction larger than segment_max is cut at a frame boundary: its piece in segment k is
 * a TX with `continues` (no commit frame, dbPages 0, rollingAfter zero) and the last record;
 * segment k+1 opens with CONT{txid} then a TX of the same txid. firstTxid/lastTxid are the
 * first/last txid with a record in the segment, so the next segment's firstTxid is lastTxid + 1,
 * or lastTxid itself when it continues. dbPagesAfter and rollingAfter describe the state after
 * the last *complete* transaction (the state before the first one when none completes here).
 *
 * Then the whole plaintext is one cryptr stream under the key derived for (LBS1, dbId, genId,
 * seq) — sealed.ts. A segment is buffered whole (segment_max, 16 MiB plaintext by default;
 * SEGMENT_RECORDS_MAX at most): its digest covers all of it and it is one PutObject anyway.
 * The encoder checks its input with the same rules as the decoder, so it cannot write a
 * segment a restore would refuse. Hand-written: the format is Lifeboat's own.
 */

export const SEGMENT_MAGIC = 'LBS1';
export const SEGMENT_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 196;
export const DIGEST_BYTES = 32;
/** Refused above this many bytes of (uncompressed) records: 4 × the default segment_max. */
export const SEGMENT_RECORDS_MAX = 64 * 1024 * 1024;
const TX_LATE = 1;
const TX_CONTINUES = 2;
const TX = 1;
const EPOCH = 2;
const CONT = 3;
const TX_HEAD_BYTES = 42;
const ZERO_HASH = Buffer.alloc(HASH_BYTES);
/**
 * Brotli at quality 4 with a 1 MiB window, told the input is under 1 MiB. Told the true size of
 * a second of commits (≥ 1 MiB), quality 4 picks its large hasher (a 16 MiB table) and, with a
 * 4 MiB window, a 4 MiB ring buffer: 14.5 MiB of native memory per segment, which glibc then
 * keeps in the compressing thread's arena. This way: 4.2 MiB, twice as fast, 1.5% larger
 * output on the bench's workload (8 MB of WAL frames → 214 KB instead of 211 KB;
 * docs/benchmarks.md). Any window decodes: the stream names its own.
 */
const BROTLI = {
  params: {
    [zlib.BROTLI_PARAM_QUALITY]: 4,
    [zlib.BROTLI_PARAM_LGWIN]: 20,
  },
};
/** Quality 4 switches to its large hasher from this size hint on. */
const LARGE_HASHER_FROM = 1 << 20;

export type SegmentRecord =
  | {
      readonly type: 'tx';
      readonly txid: number;
      readonly observedMs: number;
      /** Committed before capture could observe it (after downtime): exact by txid, not by time. */
      readonly late: boolean;
      /** The transaction goes on in the next segment: no commit frame here. */
      readonly continues: boolean;
      /** Database size in pages after the commit (0 while it continues). */
      readonly dbPages: number;
      /** Rolling checksum after the commit (zero while it continues). */
      readonly rollingAfter: Buffer;
      /** frameCount × (24-byte frame header + page), as in the WAL. */
      readonly frames: Buffer;
    }
  | { readonly type: 'epoch'; readonly walHeader: Buffer }
  | { readonly type: 'cont'; readonly txid: number };

export type TxRecord = Extract<SegmentRecord, { type: 'tx' }>;

/** What the writer states; the rest of the header follows from the records. */
export interface SegmentFields {
  readonly dbId: string;
  readonly genId: string;
  readonly seq: number;
  readonly pageSize: number;
  /** The WAL header of the epoch in force before the first record. */
  readonly walHeader: Buffer;
  /** Frame index (in that epoch) of the first frame, and SQLite's running checksum before it. */
  readonly startFrame: number;
  readonly s0: number;
  readonly s1: number;
  /** The previous segment's digest; for seq 1 the digest of the generation's first base. */
  readonly prevDigest: Buffer;
  readonly rollingBefore: Buffer;
  /** Database pages before the first record: the header's dbPagesAfter when no transaction completes here. */
  readonly dbPagesBefore: number;
  /**
   * SQLite's WAL chain starts again at this segment (header flag bit 1): capture restarted and proved
   * with the rolling checksum that the database was where the chain had ended (spec §3.9). Only the
   * content carries on: the walHeader, startFrame and s0/s1 are checked as a first segment's are.
   */
  readonly resumes?: boolean;
}

export interface SegmentHeader extends Omit<SegmentFields, 'dbPagesBefore'> {
  readonly compressed: boolean;
  readonly firstTxid: number;
  readonly lastTxid: number;
  readonly firstObservedMs: number;
  readonly lastObservedMs: number;
  readonly dbPagesAfter: number;
  readonly rollingAfter: Buffer;
}

export interface Segment {
  readonly header: SegmentHeader;
  readonly records: readonly SegmentRecord[];
  /** SHA-256 of the plaintext before the trailer: the next segment's prevDigest. */
  readonly digest: Buffer;
  /** The object name the header spells. */
  readonly name: string;
}

export interface EncodedSegment extends Segment {
  readonly plaintext: Buffer;
}

/** What a restore's plan says about the segment it fetched. */
export interface SegmentExpectation {
  /** The object's name (relative to the store prefix): its seq, lastTxid and lastMs must match the header. */
  readonly name: string;
  readonly dbId: string;
  readonly genId: string;
  readonly seq: number;
  readonly pageSize?: number;
  /** The previous segment's digest (or the first base's, for seq 1). */
  readonly prevDigest?: Buffer;
  /** The previous segment's lastTxid + 1, or its lastTxid when it ended inside a transaction. */
  readonly firstTxid?: number;
  /** Whether the previous segment ended inside transaction `firstTxid` (so this one must open with CONT). */
  readonly continuing?: boolean;
}

export interface EncodeOptions {
  /** Brotli-compress the records (default true). */
  readonly compress?: boolean;
  /** Fixed cryptr nonce prefix, for known-answer tests only. */
  readonly noncePrefix?: Buffer;
  /** Runs brotli (default: Node's brotliCompress, on libuv's pool); capture brings a thread of its own. */
  readonly compressor?: BrotliCompressor;
}

/** Compresses a segment's records with these brotli params; it may take `raw` (detach its memory). */
export type BrotliCompressor = (raw: Buffer, params: Record<number, number>) => Promise<Buffer>;

const compressAsync = promisify(brotliCompress);
const poolCompressor: BrotliCompressor = (raw, params) => compressAsync(raw, { params });
const decompress = promisify(brotliDecompress);

/**
 * zlib's output chunk for a segment's records: large enough that the records usually come out in
 * one piece. zlib's default, 16 KiB, made each chunk a thread-pool round trip and the end a copy of
 * them all into fresh memory; a segment of small transactions inflates ~80× (8 MiB from 100 KB),
 * and those round trips and copies were half of a point-in-time restore's apply time
 * (docs/benchmarks.md). The guess is bounded: 128× the compressed size, at most a sealed
 * segment's 16 MiB (a larger one comes out in a few chunks); what it overestimates is address
 * space, not resident memory.
 */
function decompressChunk(compressed: number): number {
  return Math.min(16 * 1024 * 1024 + 64 * 1024, Math.max(64 * 1024, compressed * 128));
}

/** The plaintext of a segment: checked, laid out, compressed, digested. */
export async function encodeSegmentPlaintext(
  fields: SegmentFields,
  records: readonly SegmentRecord[],
  options: EncodeOptions = {},
): Promise<EncodedSegment> {
  const fail = (problem: string): never => {
    throw new RangeError(`cannot encode segment seq ${fields.seq}: ${problem}`);
  };
  const epoch = checkHeaderFields(fields, fail);
  const summary = checkRecords(records, fields.pageSize, epoch, fail);
  const header: SegmentHeader = {
    dbId: fields.dbId,
    genId: fields.genId,
    seq: fields.seq,
    pageSize: fields.pageSize,
    walHeader: fields.walHeader,
    startFrame: fields.startFrame,
    s0: fields.s0,
    s1: fields.s1,
    prevDigest: fields.prevDigest,
    rollingBefore: fields.rollingBefore,
    compressed: options.compress ?? true,
    resumes: fields.resumes ?? false,
    firstTxid: summary.firstTxid,
    lastTxid: summary.lastTxid,
    firstObservedMs: summary.firstObservedMs,
    lastObservedMs: summary.lastObservedMs,
    dbPagesAfter: summary.lastComplete?.dbPages ?? fields.dbPagesBefore,
    rollingAfter: summary.lastComplete?.rollingAfter ?? fields.rollingBefore,
  };
  const name = nameOf(header, fail);
  const raw = writeRecords(records, fields.pageSize);
  if (raw.length > SEGMENT_RECORDS_MAX) fail(`${raw.length} bytes of records exceed ${SEGMENT_RECORDS_MAX}`);
  const body = header.compressed
    ? await (options.compressor ?? poolCompressor)(raw, {
        ...BROTLI.params,
        [zlib.BROTLI_PARAM_SIZE_HINT]: Math.min(raw.length, LARGE_HASHER_FROM - 1),
      })
    : raw;
  const head = writeHeader(header);
  const digest = createHash('sha256').update(head).update(body).digest();
  const plaintext = Buffer.concat([head, body, digest]);
  return { header, records, digest, name, plaintext };
}

/** A sealed segment: its ciphertext (what is uploaded), name and digest. */
export async function encodeSegment(
  fields: SegmentFields,
  records: readonly SegmentRecord[],
  key: EncryptionKey,
  options: EncodeOptions = {},
): Promise<EncodedSegment & { readonly ciphertext: Buffer }> {
  const encoded = await encodeSegmentPlaintext(fields, records, options);
  const ciphertext = await sealObject(
    encoded.plaintext,
    key,
    { kind: 'LBS1', dbId: fields.dbId, genId: fields.genId, n: fields.seq },
    options.noncePrefix ? { noncePrefix: options.noncePrefix } : {},
  );
  return { ...encoded, ciphertext };
}

/**
 * Opens and checks a fetched segment: authentication under the key derived from the plan
 * (PITR_KEY_MISSING, PITR_OBJECT_TAMPERED), header against the name and the plan
 * (PITR_OBJECT_MISMATCH), digest, framing, txid continuity and frame structure
 * (PITR_OBJECT_MALFORMED). Every error names the object and the failed check.
 */
export async function decodeSegment(
  ciphertext: Buffer,
  keys: KeyLookup,
  expected: SegmentExpectation,
): Promise<Segment> {
  plannedName(expected);
  const plaintext = await openObject(ciphertext, keys, {
    kind: 'LBS1',
    dbId: expected.dbId,
    genId: expected.genId,
    n: expected.seq,
    name: expected.name,
  });
  return decodeSegmentPlaintext(plaintext, expected);
}

/** The checks of decodeSegment after decryption. */
export async function decodeSegmentPlaintext(plaintext: Buffer, expected: SegmentExpectation): Promise<Segment> {
  const object = expected.name;
  const fail = (problem: string): never => {
    throw new LifeboatError('PITR_OBJECT_MALFORMED', `segment ${object} is malformed: ${problem}`, {
      hint: MALFORMED_HINT,
    });
  };
  if (plaintext.length < SEGMENT_HEADER_BYTES + DIGEST_BYTES)
    fail(`${plaintext.length} bytes is shorter than a header and a trailer`);
  const prefix = readPrefix(plaintext, SEGMENT_MAGIC, SEGMENT_VERSION, fail, '; a newer one wrote it?', FLAG_RESUMES);
  const end = plaintext.length - DIGEST_BYTES;
  const digest = createHash('sha256').update(plaintext.subarray(0, end)).digest();
  if (!digest.equals(plaintext.subarray(end))) fail('the trailer digest is not the SHA-256 of the segment');
  const header = readHeader(plaintext, prefix, fail);

  const named = plannedName(expected);
  const plan = [
    ['dbId', header.dbId, expected.dbId],
    ['genId', header.genId, expected.genId],
    ['seq', header.seq, expected.seq],
    ['lastTxid', header.lastTxid, named.lastTxid],
    ['lastObservedMs', header.lastObservedMs, named.lastMs],
    ['pageSize', header.pageSize, expected.pageSize],
  ] as const;
  for (const [field, got, want] of plan) {
    if (want !== undefined && got !== want)
      throw mismatch(object, `its header says ${field} ${got}, the name and plan say ${want}`);
  }
  checkChainHeader(header, object, expected);

  const epoch = checkHeaderFields(header, fail);
  const body = plaintext.subarray(SEGMENT_HEADER_BYTES, end);
  let raw = body;
  if (header.compressed) {
    try {
      raw = await decompress(body, { maxOutputLength: SEGMENT_RECORDS_MAX, chunkSize: decompressChunk(body.length) });
    } catch (err) {
      fail(`its records do not decompress (${(err as Error).message})`);
    }
  } else if (raw.length > SEGMENT_RECORDS_MAX) fail(`${raw.length} bytes of records exceed ${SEGMENT_RECORDS_MAX}`);
  const records = readRecords(raw, header.pageSize, fail);
  const summary = checkRecords(records, header.pageSize, epoch, fail);
  const derived = [
    ['firstTxid', header.firstTxid, summary.firstTxid],
    ['lastTxid', header.lastTxid, summary.lastTxid],
    ['firstObservedMs', header.firstObservedMs, summary.firstObservedMs],
    ['lastObservedMs', header.lastObservedMs, summary.lastObservedMs],
    ['dbPagesAfter', header.dbPagesAfter, summary.lastComplete?.dbPages ?? header.dbPagesAfter],
  ] as const;
  for (const [field, got, want] of derived)
    if (got !== want) fail(`the header says ${field} ${got}, its records say ${want}`);
  const rollingAfter = summary.lastComplete?.rollingAfter ?? header.rollingBefore;
  if (!header.rollingAfter.equals(rollingAfter))
    fail(`the header's rollingAfter is not the checksum after its last complete transaction`);
  const segment = { header, records, digest, name: object };
  checkContinuation(segment, expected);
  return segment;
}

/** What ties a segment to the one before it: that one's digest and last txid, and whether it ended inside one. */
export type ChainExpectation = Pick<SegmentExpectation, 'prevDigest' | 'firstTxid' | 'continuing'>;

/**
 * The checks of decodeSegment that need the segment before it, for a segment decoded without
 * them: a restore decodes the next segments (decryption and brotli, in the thread pool) while it
 * applies one, before that one's digest is known. Same checks, same errors.
 */
export function checkChain(segment: Segment, expected: ChainExpectation): void {
  checkChainHeader(segment.header, segment.name, expected);
  checkContinuation(segment, expected);
}

function checkChainHeader(header: SegmentHeader, object: string, expected: ChainExpectation): void {
  if (expected.firstTxid !== undefined && header.firstTxid !== expected.firstTxid)
    throw mismatch(
      object,
      `its header says firstTxid ${header.firstTxid}, the name and plan say ${expected.firstTxid}`,
    );
  if (expected.prevDigest && !header.prevDigest.equals(expected.prevDigest)) {
    throw mismatch(
      object,
      `its prevDigest ${short(header.prevDigest)} is not the digest ${short(expected.prevDigest)} of the ` +
        'object before it: it belongs to another chain (replayed, spliced from another generation, or a segment ' +
        'before it was replaced)',
    );
  }
}

function checkContinuation(segment: Segment, expected: ChainExpectation): void {
  if (expected.continuing !== undefined && expected.continuing !== (segment.records[0]?.type === 'cont')) {
    throw mismatch(
      segment.name,
      expected.continuing
        ? `the segment before it ended inside transaction ${segment.header.firstTxid}, and this one does not ` +
            'continue it'
        : `it continues transaction ${segment.header.firstTxid}, but the segment before it ended after a commit`,
    );
  }
}

const MALFORMED_HINT =
  'the object authenticated, so it was written with your key, but its contents break the segment format: ' +
  'a Lifeboat bug or a newer version wrote it — report it; restore to a point before it';

function mismatch(object: string, problem: string): LifeboatError {
  return new LifeboatError('PITR_OBJECT_MISMATCH', `segment ${object} is not the one the restore needs: ${problem}`, {
    hint:
      'an object was copied, renamed or replayed in the bucket, or the chain was spliced: restore to a point ' +
      'before it, and check the bucket (versioning and Object Lock protect against this)',
  });
}

/** The expected name, parsed, when it is the segment the plan wants; PITR_OBJECT_MISMATCH otherwise. */
function plannedName(expected: SegmentExpectation): SegmentName {
  const name = parseSegmentName(expected.name);
  if (!name || name.dbId !== expected.dbId || name.genId !== expected.genId || name.seq !== expected.seq) {
    throw mismatch(
      expected.name,
      `the plan wants seq ${expected.seq} of generation ${expected.genId} of database ${expected.dbId}, ` +
        'and this name is not that segment',
    );
  }
  return name;
}

function short(digest: Buffer): string {
  return `${digest.toString('hex', 0, 8)}…`;
}

function nameOf(h: SegmentHeader, fail: (problem: string) => never): string {
  try {
    return segmentName(h.dbId, h.genId, h.seq, h.lastTxid, h.lastObservedMs);
  } catch (err) {
    return fail((err as Error).message);
  }
}

/** Checks what the header states by itself; returns the epoch in force at the start. */
function checkHeaderFields(
  h: Pick<SegmentFields, 'seq' | 'pageSize' | 'walHeader' | 'prevDigest' | 'rollingBefore' | 'startFrame'>,
  fail: (problem: string) => never,
): WalHeaderFields {
  if (!Number.isSafeInteger(h.seq) || h.seq < 1) fail(`seq ${h.seq} is not a whole number from 1`);
  if (!isPageSize(h.pageSize)) fail(`page size ${h.pageSize} is not a power of two from 512 to 65536`);
  const wal = readWalHeader(h.walHeader);
  if (typeof wal === 'string') fail(`its WAL header: ${wal}`);
  const epoch = wal as WalHeaderFields;
  if (epoch.pageSize !== h.pageSize) fail(`its WAL header says page size ${epoch.pageSize}, not ${h.pageSize}`);
  if (h.prevDigest.length !== DIGEST_BYTES) fail(`prevDigest is ${h.prevDigest.length} bytes`);
  if (h.rollingBefore.length !== HASH_BYTES) fail(`rollingBefore is ${h.rollingBefore.length} bytes`);
  if (!isU32(h.startFrame)) fail(`startFrame ${h.startFrame}`);
  return epoch;
}

interface RecordSummary {
  readonly firstTxid: number;
  readonly lastTxid: number;
  readonly firstObservedMs: number;
  readonly lastObservedMs: number;
  readonly lastComplete: TxRecord | undefined;
}

/**
 * The rules for the record list, for the encoder and the decoder alike: CONT only first and
 * followed by a TX of its txid; txids +1 from record to record; observedMs never decreasing; a
 * continuing TX only last; EPOCH a proper restart of the epoch before it, followed by a TX;
 * frames whole, of known pages, with the epoch's salts, the commit frame last and only there.
 */
function checkRecords(
  records: readonly SegmentRecord[],
  pageSize: number,
  start: WalHeaderFields,
  fail: (problem: string) => never,
): RecordSummary {
  let epoch = start;
  let first: TxRecord | undefined;
  let last: TxRecord | undefined;
  let lastComplete: TxRecord | undefined;
  const frameBytes = FRAME_HEADER_BYTES + pageSize;
  const lockPage = lockBytePage(pageSize);
  records.forEach((r, i) => {
    const at = `record ${i}`;
    const prev = records[i - 1];
    if (last?.continues) fail(`${at} follows transaction ${last.txid}, which continues in the next segment`);
    if (prev?.type === 'cont' && (r.type !== 'tx' || r.txid !== prev.txid))
      fail(`${at}: CONT ${prev.txid} must be followed by a TX of the same txid`);
    if (r.type === 'cont') {
      if (i !== 0) fail(`${at}: a CONT record may only open a segment`);
      if (!isTxid(r.txid)) fail(`${at}: CONT txid ${r.txid}`);
      return;
    }
    if (r.type === 'epoch') {
      const next = readWalHeader(r.walHeader);
      if (typeof next === 'string') fail(`${at} (EPOCH): ${next}`);
      if (!continuesEpoch(epoch, next as WalHeaderFields))
        fail(`${at} (EPOCH) is not a restart of the WAL before it (sequence +1, salt-1 +1, same page size)`);
      epoch = next as WalHeaderFields;
      if (records[i + 1]?.type !== 'tx') fail(`${at} (EPOCH) is not followed by a transaction`);
      return;
    }
    if (!isTxid(r.txid)) fail(`${at}: txid ${r.txid}`);
    if (last && r.txid !== last.txid + 1) fail(`${at}: txid ${r.txid} after ${last.txid} (must be +1)`);
    if (!isMs(r.observedMs)) fail(`${at}: observedMs ${r.observedMs}`);
    if (last && r.observedMs < last.observedMs)
      fail(`${at}: observedMs ${r.observedMs} is before the previous transaction's ${last.observedMs}`);
    if (r.rollingAfter.length !== HASH_BYTES) fail(`${at}: rollingAfter is ${r.rollingAfter.length} bytes`);
    const count = r.frames.length / frameBytes;
    if (count < 1 || !Number.isInteger(count) || count > 0xffffffff)
      fail(`${at}: ${r.frames.length} bytes of frames are not a whole number of ${frameBytes}-byte frames`);
    for (let f = 0; f < count; f++) {
      const o = f * frameBytes;
      const pgno = r.frames.readUInt32BE(o);
      const commitSize = r.frames.readUInt32BE(o + 4);
      if (pgno < 1 || pgno === lockPage) fail(`${at}, frame ${f}: page number ${pgno}`);
      if (r.frames.readUInt32BE(o + 8) !== epoch.salt1 || r.frames.readUInt32BE(o + 12) !== epoch.salt2)
        fail(`${at}, frame ${f}: its salts are not those of the WAL header in force`);
      const isLast = f === count - 1;
      if (commitSize !== 0 && (r.continues || !isLast))
        fail(`${at}, frame ${f}: a commit frame inside transaction ${r.txid}`);
      if (!r.continues && isLast && commitSize !== r.dbPages)
        fail(`${at}: the last frame commits ${commitSize} pages, the record says ${r.dbPages}`);
    }
    if (r.continues && (r.dbPages !== 0 || !r.rollingAfter.equals(ZERO_HASH)))
      fail(`${at}: transaction ${r.txid} continues, yet states a size or checksum after its commit`);
    if (!r.continues && !isU32(r.dbPages)) fail(`${at}: dbPages ${r.dbPages}`);
    first ??= r;
    last = r;
    if (!r.continues) lastComplete = r;
  });
  if (!first || !last) return fail('it holds no transaction');
  return {
    firstTxid: first.txid,
    lastTxid: last.txid,
    firstObservedMs: first.observedMs,
    lastObservedMs: last.observedMs,
    lastComplete,
  };
}

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

function isTxid(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 1;
}

function isMs(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function writeHeader(h: SegmentHeader): Buffer {
  const b = headerWithPrefix(SEGMENT_HEADER_BYTES, SEGMENT_MAGIC, SEGMENT_VERSION, h);
  b.writeBigUInt64BE(BigInt(h.seq), 40);
  b.writeBigUInt64BE(BigInt(h.firstTxid), 48);
  b.writeBigUInt64BE(BigInt(h.lastTxid), 56);
  b.writeBigUInt64BE(BigInt(h.firstObservedMs), 64);
  b.writeBigUInt64BE(BigInt(h.lastObservedMs), 72);
  b.writeUInt32BE(h.pageSize, 80);
  b.writeUInt32BE(h.dbPagesAfter, 84);
  h.walHeader.copy(b, 88);
  b.writeUInt32BE(h.startFrame, 120);
  b.writeUInt32BE(h.s0, 124);
  b.writeUInt32BE(h.s1, 128);
  h.prevDigest.copy(b, 132);
  h.rollingBefore.copy(b, 164);
  h.rollingAfter.copy(b, 180);
  return b;
}

function readHeader(b: Buffer, prefix: ObjectPrefix, fail: (problem: string) => never): SegmentHeader {
  const u64 = (at: number, field: string): number => readSafeU64(b, at, field, fail);
  return {
    ...prefix,
    seq: u64(40, 'seq'),
    firstTxid: u64(48, 'firstTxid'),
    lastTxid: u64(56, 'lastTxid'),
    firstObservedMs: u64(64, 'firstObservedMs'),
    lastObservedMs: u64(72, 'lastObservedMs'),
    pageSize: b.readUInt32BE(80),
    dbPagesAfter: b.readUInt32BE(84),
    walHeader: Buffer.from(b.subarray(88, 120)),
    startFrame: b.readUInt32BE(120),
    s0: b.readUInt32BE(124),
    s1: b.readUInt32BE(128),
    prevDigest: Buffer.from(b.subarray(132, 164)),
    rollingBefore: Buffer.from(b.subarray(164, 180)),
    rollingAfter: Buffer.from(b.subarray(180, 196)),
  };
}

function writeRecords(records: readonly SegmentRecord[], pageSize: number): Buffer {
  let size = 0;
  for (const r of records)
    size += r.type === 'tx' ? TX_HEAD_BYTES + r.frames.length : r.type === 'epoch' ? 1 + WAL_HEADER_BYTES : 9;
  const b = Buffer.alloc(size);
  let o = 0;
  for (const r of records) {
    if (r.type === 'cont') {
      b[o] = CONT;
      b.writeBigUInt64BE(BigInt(r.txid), o + 1);
      o += 9;
    } else if (r.type === 'epoch') {
      b[o] = EPOCH;
      r.walHeader.copy(b, o + 1);
      o += 1 + WAL_HEADER_BYTES;
    } else {
      const frameBytes = r.frames.length;
      b[o] = TX;
      b.writeBigUInt64BE(BigInt(r.txid), o + 1);
      b.writeBigUInt64BE(BigInt(r.observedMs), o + 9);
      b[o + 17] = (r.late ? TX_LATE : 0) | (r.continues ? TX_CONTINUES : 0);
      // checkRecords made sure the frames are a whole number of frames.
      b.writeUInt32BE(frameBytes / (FRAME_HEADER_BYTES + pageSize), o + 18);
      b.writeUInt32BE(r.dbPages, o + 22);
      r.rollingAfter.copy(b, o + 26);
      r.frames.copy(b, o + TX_HEAD_BYTES);
      o += TX_HEAD_BYTES + frameBytes;
    }
  }
  return b;
}

/** The records of a segment, framing checked; frames are views into `b`. */
function readRecords(b: Buffer, pageSize: number, fail: (problem: string) => never): SegmentRecord[] {
  const records: SegmentRecord[] = [];
  const frameBytes = FRAME_HEADER_BYTES + pageSize;
  let o = 0;
  const need = (bytes: number, what: string): void => {
    if (o + bytes > b.length)
      fail(`record ${records.length} (${what}) needs ${bytes} bytes at offset ${o}, only ${b.length - o} are left`);
  };
  // Two u32 reads rather than readBigUInt64BE: two BigInts per transaction were a restore's garbage.
  const u64 = (at: number): number => {
    const high = b.readUInt32BE(at);
    if (high > 0x1fffff) fail(`record ${records.length}: ${b.readBigUInt64BE(at)} is above 2^53 - 1`);
    return high * 0x1_0000_0000 + b.readUInt32BE(at + 4);
  };
  while (o < b.length) {
    const type = b[o]!;
    if (type === CONT) {
      need(9, 'CONT');
      records.push({ type: 'cont', txid: u64(o + 1) });
      o += 9;
    } else if (type === EPOCH) {
      need(1 + WAL_HEADER_BYTES, 'EPOCH');
      records.push({ type: 'epoch', walHeader: b.subarray(o + 1, o + 1 + WAL_HEADER_BYTES) });
      o += 1 + WAL_HEADER_BYTES;
    } else if (type === TX) {
      need(TX_HEAD_BYTES, 'TX');
      const flags = b[o + 17]!;
      if ((flags & ~(TX_LATE | TX_CONTINUES)) !== 0)
        fail(`record ${records.length}: unknown TX flags 0x${flags.toString(16)}`);
      const count = b.readUInt32BE(o + 18);
      const bytes = count * frameBytes;
      need(TX_HEAD_BYTES + bytes, `TX with ${count} frames`);
      records.push({
        type: 'tx',
        txid: u64(o + 1),
        observedMs: u64(o + 9),
        late: (flags & TX_LATE) !== 0,
        continues: (flags & TX_CONTINUES) !== 0,
        dbPages: b.readUInt32BE(o + 22),
        rollingAfter: b.subarray(o + 26, o + TX_HEAD_BYTES),
        frames: b.subarray(o + TX_HEAD_BYTES, o + TX_HEAD_BYTES + bytes),
      });
      o += TX_HEAD_BYTES + bytes;
    } else {
      fail(`record ${records.length} at offset ${o} has unknown type ${type}`);
    }
  }
  return records;
}
