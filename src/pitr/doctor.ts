import { hostname } from 'node:os';
import { MAX_CLOCK_OFFSET_MS } from '../backup/retention.js';
import type { KeySet } from '../crypto/keys.js';
import { LifeboatError } from '../errors.js';
import { DB_HEADER_BYTES, hasSqliteMagic, headerPageSize, readFileHead } from '../sqlite/file-header.js';
import type { PitrObjectStore } from '../storage/object-store.js';
import { decodeHead } from './capture/lease.js';
import { readStateFile } from './capture/state-file.js';
import { headName } from './names.js';
import { probeConditionalWrites } from './probe.js';
import { FIXED_SQLITE_VERSIONS, SQLITE_UPGRADE_HINT, walResetBugProblem } from './sqlite-version.js';

/**
 * `lifeboat doctor --pitr`: whether continuous backup can run for this database, here, against
 * this bucket — each requirement checked the way capture checks it at its start (spec §2 P10,
 * §3.1, §3.7), and who ships the database now. Reads the database's header rather than opening
 * it (no lock, nothing written); writes only the probe's own object to the bucket, and deletes it.
 */

export type FindingStatus = 'ok' | 'warn' | 'fail';

export interface Finding {
  readonly check: string;
  readonly status: FindingStatus;
  readonly detail: string;
  readonly hint?: string;
}

export interface PitrDoctorInputs {
  /** `[pitr] enabled` (LIFEBOAT_PITR). */
  readonly enabled: boolean;
  /** `sidecar`: another process writes the database, with an SQLite Lifeboat cannot see. */
  readonly mode: 'embedded' | 'sidecar';
  readonly dbFile: string;
  /** The SQLite of Lifeboat's driver. */
  readonly sqliteVersion: string;
  readonly keys: KeySet | undefined;
  /** The continuous-backup bucket; undefined without S3. */
  readonly store: PitrObjectStore | undefined;
  /** The database's id in the bucket (from its identity), if it has one yet. */
  readonly dbId: string | undefined;
  /** Where this host keeps capture's state: `{db}.lifeboat-pitr`. */
  readonly workDir: string;
  readonly now?: () => number;
  readonly signal?: AbortSignal | undefined;
}

export async function diagnosePitr(inputs: PitrDoctorInputs): Promise<Finding[]> {
  const out: Finding[] = [];
  out.push(
    inputs.enabled
      ? { check: 'enabled', status: 'ok', detail: 'continuous backup is on ([pitr] enabled)' }
      : {
          check: 'enabled',
          status: 'warn',
          detail: 'continuous backup is off; the checks below say whether it could run',
          hint: 'set LIFEBOAT_PITR=true (or [pitr] enabled = true) to turn it on',
        },
  );
  const bug = walResetBugProblem(inputs.sqliteVersion);
  out.push(
    bug
      ? {
          check: 'sqlite',
          status: 'fail',
          detail: `Lifeboat's SQLite ${inputs.sqliteVersion}: ${bug}`,
          hint: SQLITE_UPGRADE_HINT,
        }
      : { check: 'sqlite', status: 'ok', detail: `Lifeboat's SQLite ${inputs.sqliteVersion} has no WAL-reset bug` },
  );
  if (inputs.mode === 'sidecar') {
    out.push({
      check: 'application sqlite',
      status: 'warn',
      detail: "the application's own SQLite is out of Lifeboat's sight; the WAL-reset bug is in the writer too",
      hint: `make sure the application's SQLite is ${FIXED_SQLITE_VERSIONS} (better-sqlite3 ≥ 12.8.0)`,
    });
  }
  out.push(await databaseFinding(inputs.dbFile));
  out.push(
    inputs.keys
      ? {
          check: 'keys',
          status: 'ok',
          detail: `active key ${inputs.keys.active.id} (${inputs.keys.ids.length} in the key set)`,
        }
      : {
          check: 'keys',
          status: 'fail',
          detail: 'no encryption keys: every continuous-backup object is encrypted',
          hint: 'set ENC_KEYS and ENC_KEY_ACTIVE (`lifeboat keys generate` prints a key)',
        },
  );
  if (!inputs.store) {
    out.push({
      check: 'conditional writes',
      status: 'fail',
      detail: 'no S3 store is configured: continuous backup lives in S3',
      hint: 'set cluster.s3_url (HQL_S3_URL) and the other s3_* keys',
    });
    return out;
  }
  const store = inputs.store;
  try {
    const probe = await probeConditionalWrites(store, { signal: inputs.signal });
    out.push({
      check: 'conditional writes',
      status: 'ok',
      detail:
        `${store.description} honours If-None-Match and If-Match (ETags ${probe.etagForm}; probe ` +
        `${Math.round(probe.ms)} ms, its object deleted)`,
    });
  } catch (err) {
    out.push({ check: 'conditional writes', status: 'fail', ...problemOf(err) });
    return out;
  }
  out.push(clockFinding(store.serverTime(), (inputs.now ?? Date.now)()));
  out.push(await writerFinding(inputs, store));
  return out;
}

/** This machine's clock against the S3 server's (from its latest answer's Date): retention trusts neither alone. */
export function clockFinding(serverMs: number | undefined, localMs: number): Finding {
  if (serverMs === undefined)
    return { check: 'clock', status: 'warn', detail: 'the S3 server did not date its answers' };
  const offset = serverMs - localMs;
  const off = Math.abs(offset);
  const words =
    off < 2_000
      ? "agrees with the S3 server's (within the Date header's second)"
      : `is ${off < 120_000 ? `${Math.round(off / 1000)} s` : `${Math.round(off / 60_000)} min`} ` +
        `${offset < 0 ? 'ahead of' : 'behind'} the S3 server's`;
  if (off <= MAX_CLOCK_OFFSET_MS) return { check: 'clock', status: 'ok', detail: `this machine's clock ${words}` };
  return {
    check: 'clock',
    status: 'warn',
    detail:
      `this machine's clock ${words}: continuous backup's retention deletes nothing while they disagree by more ` +
      'than 10 min, and the times it records (for restores by time) follow this clock',
    hint: 'fix the clock (NTP)',
  };
}

/**
 * SQLite's header: "SQLite format 3\0", and bytes 18–19 are 2 (WAL) or 1 (rollback journal);
 * continuous backup needs WAL (`requireWal`, the default).
 */
export async function databaseFinding(dbFile: string, options: { requireWal?: boolean } = {}): Promise<Finding> {
  let header: Buffer;
  try {
    header = await readFileHead(dbFile);
  } catch (err) {
    return {
      check: 'database',
      status: 'fail',
      detail: `${dbFile} cannot be read: ${(err as Error).message}`,
      hint: 'start the application first (it creates the database), or pass --db <path>',
    };
  }
  if (header.length < DB_HEADER_BYTES || !hasSqliteMagic(header)) {
    return {
      check: 'database',
      status: 'fail',
      detail: `${dbFile} is not an SQLite database (or is still empty)`,
    };
  }
  const pageSize = headerPageSize(header);
  const wal = header[18] === 2 && header[19] === 2;
  if (!wal && options.requireWal === false) {
    return { check: 'database', status: 'ok', detail: `${dbFile}: rollback-journal mode, ${pageSize}-byte pages` };
  }
  if (!wal) {
    return {
      check: 'database',
      status: 'fail',
      detail: `${dbFile} is in rollback-journal mode, not WAL`,
      hint: "continuous backup reads SQLite's write-ahead log: set PRAGMA journal_mode = WAL in the application",
    };
  }
  return { check: 'database', status: 'ok', detail: `${dbFile}: WAL mode, ${pageSize}-byte pages` };
}

/** Who ships this database now, by the head's lease, and whether a Lifeboat here would take over. */
async function writerFinding(inputs: PitrDoctorInputs, store: PitrObjectStore): Promise<Finding> {
  if (!inputs.dbId) {
    return {
      check: 'writer',
      status: 'ok',
      detail: 'the database has no identity yet: continuous backup gives it one (and a new database id) at its start',
    };
  }
  if (!inputs.keys) return { check: 'writer', status: 'warn', detail: 'without keys the head cannot be read' };
  try {
    const got = await store.get(headName(inputs.dbId), { signal: inputs.signal });
    if (!got) {
      return { check: 'writer', status: 'ok', detail: `no Lifeboat has shipped database ${inputs.dbId} yet` };
    }
    const head = decodeHead(got.body, inputs.keys, inputs.dbId, store.description);
    const now = store.serverTime() ?? (inputs.now ?? Date.now)();
    const local = await readStateFile(inputs.workDir);
    const mine = head.writerId === local.writerId;
    const who = `${head.host}, pid ${head.pid}${mine ? ' (this host’s writer id)' : ''}`;
    const until = new Date(head.leaseUntilMs).toISOString();
    if (head.leaseUntilMs <= now) {
      return {
        check: 'writer',
        status: 'ok',
        detail:
          `database ${inputs.dbId}: last shipped by ${who}; its lease ran out at ${until} ` +
          '(a start here takes over)',
      };
    }
    if (mine) {
      const chain = local.chain?.dbId === inputs.dbId ? local.chain : undefined;
      return {
        check: 'writer',
        status: 'ok',
        detail:
          `database ${inputs.dbId} is shipped by ${who}, lease until ${until}: a restart here continues it` +
          (chain
            ? ` (in generation ${chain.genId} after txid ${chain.txid}, if nothing is committed that the bucket lacks)`
            : ''),
      };
    }
    return {
      check: 'writer',
      status: 'warn',
      detail: `database ${inputs.dbId} is shipped by another Lifeboat (${who}), lease until ${until}`,
      hint:
        `a Lifeboat started on ${hostname()} stands by (PITR_LEASE_HELD) until that lease runs out; ` +
        'run one Lifeboat per database',
    };
  } catch (err) {
    return { check: 'writer', status: 'fail', ...problemOf(err) };
  }
}

/** An error as a finding's detail and hint (the hint apart, as the CLI prints it). */
export function problemOf(err: unknown): { detail: string; hint?: string } {
  const detail = err instanceof Error ? err.message : String(err);
  return err instanceof LifeboatError && err.hint ? { detail, hint: err.hint } : { detail };
}
