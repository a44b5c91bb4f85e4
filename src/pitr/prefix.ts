/**
 * The 40 bytes every binary continuous-backup object starts with (segments LBS1, bases LBB1):
 * magic (4, latin1), format version (u16 BE), flags (u16 BE; bit 0 = compressed, bit 1 = resumes), database id
 * (16, hex) and generation id (16, hex). Both codecs write and check it here, so the two
 * formats cannot drift apart.
 */

export const PREFIX_BYTES = 40;
const FLAG_COMPRESSED = 1;
/** Segments only: SQLite's WAL chain starts again here (a restart of capture, spec §3.9). */
export const FLAG_RESUMES = 2;

export interface ObjectPrefix {
  readonly compressed: boolean;
  /** Set only where the format allows FLAG_RESUMES. */
  readonly resumes?: boolean;
  readonly dbId: string;
  readonly genId: string;
}

/** A header buffer of `bytes` with the prefix written. */
export function headerWithPrefix(bytes: number, magic: string, version: number, p: ObjectPrefix): Buffer {
  const b = Buffer.alloc(bytes);
  b.write(magic, 0, 'latin1');
  b.writeUInt16BE(version, 4);
  b.writeUInt16BE((p.compressed ? FLAG_COMPRESSED : 0) | (p.resumes ? FLAG_RESUMES : 0), 6);
  b.write(p.dbId, 8, 'hex');
  b.write(p.genId, 24, 'hex');
  return b;
}

/**
 * The prefix of `b` (at least PREFIX_BYTES long), or `fail` with what is wrong: another magic,
 * another version (`versionNote` is added to that message), flags other than compressed and `allowed`.
 */
export function readPrefix(
  b: Buffer,
  magic: string,
  version: number,
  fail: (problem: string) => never,
  versionNote = '',
  allowed = 0,
): ObjectPrefix {
  const found = b.toString('latin1', 0, 4);
  if (found !== magic) fail(`it starts with ${JSON.stringify(found)}, not "${magic}"`);
  const v = b.readUInt16BE(4);
  if (v !== version) fail(`format version ${v} (this Lifeboat reads version ${version}${versionNote})`);
  const flags = b.readUInt16BE(6);
  if ((flags & ~(FLAG_COMPRESSED | allowed)) !== 0) fail(`unknown flags 0x${flags.toString(16)}`);
  return {
    compressed: (flags & FLAG_COMPRESSED) !== 0,
    ...((allowed & FLAG_RESUMES) !== 0 ? { resumes: (flags & FLAG_RESUMES) !== 0 } : {}),
    dbId: b.toString('hex', 8, 24),
    genId: b.toString('hex', 24, 40),
  };
}

/** The u64 BE at `at` as a number, or `fail` when it is above 2^53 - 1. */
export function readSafeU64(b: Buffer, at: number, field: string, fail: (problem: string) => never): number {
  const v = b.readBigUInt64BE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${field} ${v} is above 2^53 - 1`);
  return Number(v);
}
