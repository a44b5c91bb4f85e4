import { createHash, randomBytes } from 'node:crypto';

/**
 * Object names of continuous backup (spec §3.3), relative to the store's prefix (the store
 * puts `{prefix}` in front, as for snapshots):
 *
 *   lifeboat-pitr/<dbId>/head
 *   lifeboat-pitr/<dbId>/g/<genId>/meta
 *   lifeboat-pitr/<dbId>/g/<genId>/b/<txid>-<ms>.lbb
 *   lifeboat-pitr/<dbId>/g/<genId>/s/<seq>-<lastTxid>-<lastMs>.lbs
 *   lifeboat-pitr/<dbId>/holds/<restoreId>
 *   lifeboat-pitr/.probe/<probeId>
 *
 * Ids are 32 lower-case hex digits (128 bits), seq and txids 16 lower-case hex digits, ms 13
 * decimal digits: fixed widths, so the lexical order S3 lists in is the numeric order and a
 * restore plans from LIST alone. Parsing accepts exactly what formatting produces (one
 * spelling per object) and returns undefined for anything else, so a lister can skip foreign
 * keys. Numbers are JS numbers: seq and txids above 2^53 − 1 (285,000 years at 1,000 tx/s)
 * are refused rather than rounded. Hand-written: the layout is Lifeboat's own.
 */

export const PITR_ROOT = 'lifeboat-pitr/';
/** The largest seq, txid or ms a name can carry (exact in a JS number). */
export const MAX_NAME_NUMBER = Number.MAX_SAFE_INTEGER;
const MAX_MS = 9_999_999_999_999;
const ID = /^[0-9a-f]{32}$/;
const HEX16 = '([0-9a-f]{16})';
const MS13 = '([0-9]{13})';
const ID32 = '([0-9a-f]{32})';

export type PitrName =
  | { readonly kind: 'head'; readonly dbId: string }
  | { readonly kind: 'meta'; readonly dbId: string; readonly genId: string }
  | { readonly kind: 'base'; readonly dbId: string; readonly genId: string; readonly txid: number; readonly ms: number }
  | {
      readonly kind: 'segment';
      readonly dbId: string;
      readonly genId: string;
      readonly seq: number;
      readonly lastTxid: number;
      readonly lastMs: number;
    }
  | { readonly kind: 'hold'; readonly dbId: string; readonly restoreId: string }
  | { readonly kind: 'probe'; readonly probeId: string };

export type SegmentName = Extract<PitrName, { kind: 'segment' }>;
export type BaseName = Extract<PitrName, { kind: 'base' }>;

/** 128 random bits: one database, for its whole life. */
export function newDbId(): string {
  return randomBytes(16).toString('hex');
}

/** 48-bit ms time then 80 random bits: generations sort by creation time and never collide. */
/**
 * The continuous-backup id of a database: its identity (src/identity, a UUID kept beside the
 * database and in the stores' marker) as 32 hex digits, so it moves with the database to a new
 * machine and a restore finds it from the bucket's marker. Another form of id is hashed.
 */
export function pitrDbId(identity: string): string {
  const hex = identity.toLowerCase().replaceAll('-', '');
  return /^[0-9a-f]{32}$/.test(hex) ? hex : createHash('sha256').update(identity).digest('hex').slice(0, 32);
}

export function newGenId(nowMs: number): string {
  if (!Number.isInteger(nowMs) || nowMs < 0 || nowMs >= 2 ** 48) throw new RangeError(`genId time ${nowMs} ms`);
  return nowMs.toString(16).padStart(12, '0') + randomBytes(10).toString('hex');
}

/** The creation time a genId carries. */
export function genIdTime(genId: string): number {
  checkId(genId, 'genId');
  return Number.parseInt(genId.slice(0, 12), 16);
}

/** 128 random bits, for a restore's hold or a probe object. */
export function newRandomId(): string {
  return randomBytes(16).toString('hex');
}

export function isId(id: string): boolean {
  return ID.test(id);
}

function checkId(id: string, what: string): void {
  if (!ID.test(id)) throw new RangeError(`${what} must be 32 lower-case hex digits`);
}

function hex16(n: number, what: string): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} ${n} is not a whole number 0..2^53-1`);
  return n.toString(16).padStart(16, '0');
}

function ms13(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms > MAX_MS) throw new RangeError(`ms ${ms} is outside 13 digits`);
  return String(ms).padStart(13, '0');
}

export function dbPrefix(dbId: string): string {
  checkId(dbId, 'dbId');
  return `${PITR_ROOT}${dbId}/`;
}

export function generationPrefix(dbId: string, genId: string): string {
  checkId(genId, 'genId');
  return `${dbPrefix(dbId)}g/${genId}/`;
}

/** What to LIST for a generation's bases / segments. */
export function basesPrefix(dbId: string, genId: string): string {
  return `${generationPrefix(dbId, genId)}b/`;
}

export function segmentsPrefix(dbId: string, genId: string): string {
  return `${generationPrefix(dbId, genId)}s/`;
}

export function headName(dbId: string): string {
  return `${dbPrefix(dbId)}head`;
}

export function metaName(dbId: string, genId: string): string {
  return `${generationPrefix(dbId, genId)}meta`;
}

export function baseName(dbId: string, genId: string, txid: number, ms: number): string {
  return `${basesPrefix(dbId, genId)}${hex16(txid, 'txid')}-${ms13(ms)}.lbb`;
}

export function segmentName(dbId: string, genId: string, seq: number, lastTxid: number, lastMs: number): string {
  if (seq < 1) throw new RangeError(`seq ${seq}: segments count from 1`);
  return `${segmentsPrefix(dbId, genId)}${hex16(seq, 'seq')}-${hex16(lastTxid, 'lastTxid')}-${ms13(lastMs)}.lbs`;
}

export function holdName(dbId: string, restoreId: string): string {
  checkId(restoreId, 'restoreId');
  return `${dbPrefix(dbId)}holds/${restoreId}`;
}

export function probeName(probeId: string): string {
  checkId(probeId, 'probeId');
  return `${PITR_ROOT}.probe/${probeId}`;
}

const PATTERNS: readonly [RegExp, (m: RegExpExecArray) => PitrName | undefined][] = [
  [new RegExp(`^${ID32}/head$`), (m) => ({ kind: 'head', dbId: m[1]! })],
  [new RegExp(`^${ID32}/g/${ID32}/meta$`), (m) => ({ kind: 'meta', dbId: m[1]!, genId: m[2]! })],
  [
    new RegExp(`^${ID32}/g/${ID32}/b/${HEX16}-${MS13}\\.lbb$`),
    (m) => {
      const txid = num(m[3]!);
      return txid === undefined ? undefined : { kind: 'base', dbId: m[1]!, genId: m[2]!, txid, ms: Number(m[4]) };
    },
  ],
  [
    new RegExp(`^${ID32}/g/${ID32}/s/${HEX16}-${HEX16}-${MS13}\\.lbs$`),
    (m) => {
      const seq = num(m[3]!);
      const lastTxid = num(m[4]!);
      if (seq === undefined || seq < 1 || lastTxid === undefined) return undefined;
      return { kind: 'segment', dbId: m[1]!, genId: m[2]!, seq, lastTxid, lastMs: Number(m[5]) };
    },
  ],
  [new RegExp(`^${ID32}/holds/${ID32}$`), (m) => ({ kind: 'hold', dbId: m[1]!, restoreId: m[2]! })],
  [new RegExp(`^\\.probe/${ID32}$`), (m) => ({ kind: 'probe', probeId: m[1]! })],
];

/** 16 hex digits as a number, or undefined above 2^53 − 1. */
function num(hex: string): number | undefined {
  const n = Number.parseInt(hex, 16);
  return n <= MAX_NAME_NUMBER ? n : undefined;
}

/** The object a name denotes, or undefined for any other string. */
export function parsePitrName(name: string): PitrName | undefined {
  if (!name.startsWith(PITR_ROOT)) return undefined;
  const rest = name.slice(PITR_ROOT.length);
  for (const [pattern, build] of PATTERNS) {
    const m = pattern.exec(rest);
    if (m) return build(m);
  }
  return undefined;
}

export function parseSegmentName(name: string): SegmentName | undefined {
  const parsed = parsePitrName(name);
  return parsed?.kind === 'segment' ? parsed : undefined;
}

export function parseBaseName(name: string): BaseName | undefined {
  const parsed = parsePitrName(name);
  return parsed?.kind === 'base' ? parsed : undefined;
}
