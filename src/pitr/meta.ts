import { LifeboatError } from '../errors.js';
import { isPageSize } from '../sqlite/wal-header.js';
import { isId, parsePitrName } from './names.js';

/**
 * A generation's meta record (spec §3.5), written once per generation with If-None-Match and
 * sealed like a segment (kind LBM1, n = 0). Its plaintext is JSON, one object with a fixed key
 * order: it is written once per generation and read once per restore, holds strings (label,
 * reason) and optional nested parts (parent, gap), and tomorrow's fields can be added under a
 * new version — a binary layout would buy nothing here. Decoding is strict: every field of
 * version 1, of the right type, and nothing else, so a corrupt or foreign record fails here
 * instead of steering a restore. Numbers are exact JS integers (txids < 2^53). Hand-written:
 * a small schema check is clearer than a schema library for nine fields.
 */

export const META_FORMAT = 'LBM1';
export const META_VERSION = 1;

/** Why generations start (§3.5, §3.9); decoding accepts any lower-case word for newer writers. */
export const GENERATION_REASONS = [
  'first-start',
  'continuity-unproven',
  'restored',
  'adopted',
  'page-size-changed',
  'journal-mode-changed',
  'parser-mismatch',
  'spool-overflow',
  'database-replaced',
] as const;

export interface GenerationMeta {
  readonly dbId: string;
  readonly genId: string;
  /** Unix ms when the generation began. */
  readonly created: number;
  readonly firstTxid: number;
  readonly pageSize: number;
  readonly reason: string;
  /** The restore point this generation branched from, if it did. */
  readonly parent: { readonly genId: string; readonly txid: number } | null;
  /** What could not be captured before this generation began. */
  readonly gap: { readonly fromTxid: number; readonly fromMs: number; readonly toMs: number } | null;
  readonly timeline: number;
  readonly label: { readonly nodeId: number; readonly filenameDb: string; readonly host: string };
}

export interface MetaExpectation {
  readonly name: string;
  readonly dbId: string;
  readonly genId: string;
}

export function encodeMeta(meta: GenerationMeta): Buffer {
  const problem = metaProblem(meta);
  if (problem) throw new RangeError(`cannot encode generation meta: ${problem}`);
  const { dbId, genId, created, firstTxid, pageSize, reason, parent, gap, timeline, label } = meta;
  const ordered = {
    format: META_FORMAT,
    version: META_VERSION,
    dbId,
    genId,
    created,
    firstTxid,
    pageSize,
    reason,
    parent: parent && { genId: parent.genId, txid: parent.txid },
    gap: gap && { fromTxid: gap.fromTxid, fromMs: gap.fromMs, toMs: gap.toMs },
    timeline,
    label: { nodeId: label.nodeId, filenameDb: label.filenameDb, host: label.host },
  };
  return Buffer.from(JSON.stringify(ordered), 'utf8');
}

/** The meta record of `plain`, checked against its name and the plan. */
export function decodeMeta(plain: Buffer, expected: MetaExpectation): GenerationMeta {
  const object = expected.name;
  const malformed = (problem: string): never => {
    throw new LifeboatError('PITR_OBJECT_MALFORMED', `generation meta ${object} is malformed: ${problem}`, {
      hint:
        'the object authenticated, so it was written with your key, but it is not a meta record this Lifeboat ' +
        'reads: a Lifeboat bug or a newer version wrote it — report it',
    });
  };
  let value: unknown;
  try {
    value = JSON.parse(plain.toString('utf8'));
  } catch {
    malformed('it is not JSON');
  }
  if (!isObject(value)) return malformed('it is not a JSON object');
  if (value.format !== META_FORMAT || value.version !== META_VERSION)
    malformed(`format ${JSON.stringify(value.format)} version ${JSON.stringify(value.version)}, not LBM1 version 1`);
  const { format: _f, version: _v, ...rest } = value;
  const extra = Object.keys(rest).filter((k) => !FIELDS.includes(k));
  if (extra.length > 0) malformed(`unknown field(s) ${extra.join(', ')}`);
  const meta = rest as unknown as GenerationMeta;
  const problem = metaProblem(meta);
  if (problem) malformed(problem);
  const named = parsePitrName(object);
  const want = named?.kind === 'meta' ? named : undefined;
  for (const [field, got, should] of [
    ['dbId', meta.dbId, expected.dbId],
    ['genId', meta.genId, expected.genId],
    ['dbId', meta.dbId, want?.dbId],
    ['genId', meta.genId, want?.genId],
  ] as const) {
    if (got !== should) {
      throw new LifeboatError(
        'PITR_OBJECT_MISMATCH',
        `generation meta ${object} is not the one the restore needs: it says ${field} ${got}, ` +
          `the name and plan say ${should ?? '(not a meta name)'}`,
        { hint: 'an object was copied or renamed in the bucket: check the bucket' },
      );
    }
  }
  return meta;
}

const FIELDS = ['dbId', 'genId', 'created', 'firstTxid', 'pageSize', 'reason', 'parent', 'gap', 'timeline', 'label'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isWhole(v: unknown, min = 0): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
}

function keysAre(v: Record<string, unknown>, keys: readonly string[]): boolean {
  const own = Object.keys(v);
  return own.length === keys.length && keys.every((k) => own.includes(k));
}

function isText(v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length <= max && !/[\u0000-\u001f]/.test(v);
}

/** What is wrong with a meta record's fields, or undefined. */
function metaProblem(m: GenerationMeta): string | undefined {
  const missing = FIELDS.filter((k) => !(k in m));
  if (missing.length > 0) return `missing field(s) ${missing.join(', ')}`;
  if (typeof m.dbId !== 'string' || !isId(m.dbId)) return 'dbId is not 32 lower-case hex digits';
  if (typeof m.genId !== 'string' || !isId(m.genId)) return 'genId is not 32 lower-case hex digits';
  if (!isWhole(m.created)) return `created ${String(m.created)} is not a time in ms`;
  if (!isWhole(m.firstTxid, 1)) return `firstTxid ${String(m.firstTxid)} is not a whole number from 1`;
  if (!isPageSize(m.pageSize)) return `pageSize ${String(m.pageSize)} is not a SQLite page size`;
  if (typeof m.reason !== 'string' || !/^[a-z][a-z0-9-]{0,63}$/.test(m.reason))
    return `reason ${JSON.stringify(m.reason)} is not a lower-case word`;
  const p: unknown = m.parent;
  if (p !== null && !(isObject(p) && keysAre(p, ['genId', 'txid']) && isId(String(p.genId)) && isWhole(p.txid)))
    return 'parent is neither null nor {genId, txid}';
  const g: unknown = m.gap;
  if (g !== null) {
    if (!(isObject(g) && keysAre(g, ['fromTxid', 'fromMs', 'toMs'])))
      return 'gap is neither null nor {fromTxid, fromMs, toMs}';
    if (!isWhole(g.fromTxid) || !isWhole(g.fromMs) || !isWhole(g.toMs)) return 'gap bounds are not whole numbers';
    if (g.toMs < g.fromMs) return 'gap ends before it begins';
  }
  if (!isWhole(m.timeline, 1)) return `timeline ${String(m.timeline)} is not a whole number from 1`;
  const l: unknown = m.label;
  if (
    !(isObject(l) && keysAre(l, ['nodeId', 'filenameDb', 'host'])) ||
    !isWhole(l.nodeId, 1) ||
    !isText(l.filenameDb, 255) ||
    !isText(l.host, 255)
  )
    return 'label is not {nodeId, filenameDb, host}';
  return undefined;
}
