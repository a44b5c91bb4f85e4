import { LifeboatError } from '../errors.js';
import { isPageSize } from '../sqlite/wal-header.js';
import { baseName, parseBaseName } from './names.js';
import { headerWithPrefix, readPrefix, readSafeU64 } from './prefix.js';
import { HASH_BYTES } from './rolling.js';

/**
 * The header of an LBB1 base (spec §3.5): the database image at `txid`, which a restore
 * starts from before it applies segments `afterSeq + 1`, … Plaintext, big-endian, 120 bytes:
 *
 *   "LBB1" version u16 flags u16 (bit 0: image brotli-compressed) | dbId[16] genId[16] |
 *   txid u64 observedMs u64 | pageSize u32 dbPages u32 | rolling[16] | afterSeq u64 | chainDigest[32]
 *
 * then the image (dbPages × pageSize bytes, compressed when flagged), the whole a cryptr
 * stream under the key derived for (LBB1, dbId, genId, txid). `observedMs` is not in the spec's
 * field list: it is added so that every part of the name (`b/<txid>-<ms>.lbb`) is bound to the
 * authenticated content — the derived key covers only dbId, genId and txid. `chainDigest` is
 * the digest of segment `afterSeq` (= the prevDigest of `afterSeq + 1`); the generation's
 * first base has afterSeq 0 and a zero chainDigest. A base's own digest (segment 1's
 * prevDigest) is the SHA-256 of its whole plaintext, header and image as stored. Bases are
 * database-sized and stream, so only this header is a codec here. Hand-written: Lifeboat's format.
 */

export const BASE_MAGIC = 'LBB1';
export const BASE_VERSION = 1;
export const BASE_HEADER_BYTES = 120;
const ZERO_DIGEST = Buffer.alloc(32);

export interface BaseHeader {
  readonly compressed: boolean;
  readonly dbId: string;
  readonly genId: string;
  readonly txid: number;
  readonly observedMs: number;
  readonly pageSize: number;
  readonly dbPages: number;
  readonly rolling: Buffer;
  readonly afterSeq: number;
  readonly chainDigest: Buffer;
}

export interface BaseExpectation {
  /** The object's name: its txid and ms must match the header. */
  readonly name: string;
  readonly dbId: string;
  readonly genId: string;
}

export function encodeBaseHeader(h: BaseHeader): Buffer {
  const problem = headerProblem(h);
  if (problem) throw new RangeError(`cannot encode base header: ${problem}`);
  baseName(h.dbId, h.genId, h.txid, h.observedMs); // throws on ids, txid or ms a name cannot carry
  const b = headerWithPrefix(BASE_HEADER_BYTES, BASE_MAGIC, BASE_VERSION, h);
  b.writeBigUInt64BE(BigInt(h.txid), 40);
  b.writeBigUInt64BE(BigInt(h.observedMs), 48);
  b.writeUInt32BE(h.pageSize, 56);
  b.writeUInt32BE(h.dbPages, 60);
  h.rolling.copy(b, 64);
  b.writeBigUInt64BE(BigInt(h.afterSeq), 80);
  h.chainDigest.copy(b, 88);
  return b;
}

/** The name a base with this header is stored under. */
export function baseNameOf(h: BaseHeader): string {
  return baseName(h.dbId, h.genId, h.txid, h.observedMs);
}

/**
 * Reads the header from the first bytes of a decrypted base and checks it against its name
 * and the plan: PITR_OBJECT_MALFORMED or PITR_OBJECT_MISMATCH, naming the object.
 */
export function decodeBaseHeader(plain: Buffer, expected: BaseExpectation): BaseHeader {
  const object = expected.name;
  const malformed = (problem: string): never => {
    throw new LifeboatError('PITR_OBJECT_MALFORMED', `base ${object} is malformed: ${problem}`, {
      hint:
        'the object authenticated, so it was written with your key, but its header breaks the base format: ' +
        'a Lifeboat bug or a newer version wrote it — report it; restore from another base',
    });
  };
  if (plain.length < BASE_HEADER_BYTES) malformed(`${plain.length} bytes is shorter than its header`);
  const prefix = readPrefix(plain, BASE_MAGIC, BASE_VERSION, malformed);
  const u64 = (at: number, field: string): number => readSafeU64(plain, at, field, malformed);
  const h: BaseHeader = {
    ...prefix,
    txid: u64(40, 'txid'),
    observedMs: u64(48, 'observedMs'),
    pageSize: plain.readUInt32BE(56),
    dbPages: plain.readUInt32BE(60),
    rolling: Buffer.from(plain.subarray(64, 80)),
    afterSeq: u64(80, 'afterSeq'),
    chainDigest: Buffer.from(plain.subarray(88, 120)),
  };
  const problem = headerProblem(h);
  if (problem) malformed(problem);
  const named = parseBaseName(object);
  const checks = [
    ['dbId', h.dbId, expected.dbId],
    ['genId', h.genId, expected.genId],
    ['dbId', h.dbId, named?.dbId],
    ['genId', h.genId, named?.genId],
    ['txid', h.txid, named?.txid],
    ['observedMs', h.observedMs, named?.ms],
  ] as const;
  for (const [field, got, want] of checks) {
    if (got !== want) {
      throw new LifeboatError(
        'PITR_OBJECT_MISMATCH',
        `base ${object} is not the one the restore needs: its header says ${field} ${got}, ` +
          `the name and plan say ${want ?? '(not a base name)'}`,
        { hint: 'an object was copied or renamed in the bucket: restore from another base, and check the bucket' },
      );
    }
  }
  return h;
}

function headerProblem(h: BaseHeader): string | undefined {
  if (!isPageSize(h.pageSize)) return `page size ${h.pageSize} is not a power of two from 512 to 65536`;
  if (!Number.isInteger(h.dbPages) || h.dbPages < 0 || h.dbPages > 0xffffffff) return `dbPages ${h.dbPages}`;
  if (h.rolling.length !== HASH_BYTES) return `the rolling checksum is ${h.rolling.length} bytes`;
  if (h.chainDigest.length !== 32) return `chainDigest is ${h.chainDigest.length} bytes`;
  if (!Number.isSafeInteger(h.afterSeq) || h.afterSeq < 0) return `afterSeq ${h.afterSeq}`;
  if ((h.afterSeq === 0) !== h.chainDigest.equals(ZERO_DIGEST))
    return h.afterSeq === 0
      ? 'a first base (afterSeq 0) has a non-zero chainDigest'
      : `a base after seq ${h.afterSeq} has a zero chainDigest`;
  return undefined;
}
