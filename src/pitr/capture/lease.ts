import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { EncryptionKey } from '../../crypto/keys.js';
import type { KeyLookup } from '../../crypto/stream.js';
import { decryptValue, encryptValue } from '../../crypto/value.js';
import { LifeboatError } from '../../errors.js';
import { createOwn, type Etag, type PitrObjectStore } from '../../storage/object-store.js';
import { headName } from '../names.js';

/**
 * One writer per database (spec §3.7): the `head` object names the writer that ships the
 * database and how long its lease runs. It is created with `If-None-Match: *` and only ever
 * replaced with `If-Match` on the ETag this writer last saw, so two writers can never both
 * believe they hold it: the second one's replace fails (412), and it stops instead of forking
 * the history. A writer takes over a head another one left only once that lease has run out
 * (judged by the S3 server's clock when it is known), or at once when the head names this very
 * writer (its own earlier process, by the id kept beside the database).
 *
 * The head is a cryptr single value under the active key: it names the host and process, which
 * are nobody else's business, and the value cannot be forged without a key. This first version
 * keeps only the lease in it; the newest shipped transaction is read from the object names.
 */

export interface HeadRecord {
  readonly format: 'LBH1';
  readonly dbId: string;
  readonly genId: string;
  readonly writerId: string;
  readonly host: string;
  readonly pid: number;
  /** Unix ms. */
  readonly leaseUntilMs: number;
  /** Random, one per Lease object: a head carrying it was written by that object (absent before stop 29). */
  readonly session?: string;
}

export interface LeaseOptions {
  readonly store: PitrObjectStore;
  readonly key: EncryptionKey;
  readonly keys: KeyLookup;
  readonly dbId: string;
  /** This writer's id: kept beside the database so a restart is the same writer. */
  readonly writerId: string;
  /** How long a lease runs (default 5 min); it is renewed when less than half is left. */
  readonly leaseMs?: number;
  /**
   * The clock leases are judged by. Default: the store's (S3's `Date`), as every writer sees it,
   * and the local clock until the store has answered. A test gives a fake one.
   */
  readonly now?: () => number;
}

export function newWriterId(): string {
  return randomBytes(16).toString('hex');
}

export class Lease {
  readonly #o: LeaseOptions;
  readonly #leaseMs: number;
  #etag: Etag | undefined;
  #until = 0;
  #genId = '';
  readonly #session = randomBytes(16).toString('hex');

  constructor(options: LeaseOptions) {
    this.#o = options;
    this.#leaseMs = options.leaseMs ?? 300_000;
  }

  /** When the lease this writer holds runs out (0: none held). */
  get until(): number {
    return this.#until;
  }

  /**
   * Takes the head for generation `genId`: PITR_LEASE_HELD while another writer's lease runs,
   * PITR_FENCED when the head keeps changing under the attempts.
   */
  async acquire(genId: string): Promise<void> {
    this.#genId = genId;
    for (let attempt = 0; attempt < 3; attempt++) {
      const found = await this.#o.store.get(headName(this.#o.dbId));
      if (!found) {
        const made = await createOwn(this.#o.store, headName(this.#o.dbId), this.#body());
        if (made.kind === 'written') return this.#held(made.etag);
        continue; // another writer created it meanwhile: read it
      }
      const head = this.#decode(found.body);
      const now = this.#serverNow();
      if (head.writerId !== this.#o.writerId && head.leaseUntilMs > now) {
        throw new LifeboatError(
          'PITR_LEASE_HELD',
          `continuous backup of database ${this.#o.dbId} is shipped by another Lifeboat (${head.host}, pid ` +
            `${head.pid}); its lease runs until ${new Date(head.leaseUntilMs).toISOString()}`,
          {
            hint:
              'run one Lifeboat per database; this one stands by and tries again. If that process is gone, ' +
              'it takes over when the lease runs out',
          },
        );
      }
      if (await this.#replace(found.etag)) return;
    }
    throw fenced(this.#o.dbId, 'the head changed under every attempt to take it');
  }

  /** Renews the lease when less than half of it is left; PITR_FENCED when another writer took the head. */
  async renew(): Promise<void> {
    if (this.#etag === undefined) throw new Error('renew() before acquire()');
    if (this.#until - this.#serverNow() > this.#leaseMs / 2) return;
    if (!(await this.#replace(this.#etag))) {
      throw fenced(this.#o.dbId, 'another writer replaced the head: it ships this database now');
    }
  }

  /** Ends the lease at once (a clean shutdown), so a successor need not wait; best effort. */
  async release(): Promise<void> {
    if (this.#etag === undefined) return;
    const body = this.#body(0);
    await this.#o.store.putIfMatch(headName(this.#o.dbId), body, this.#etag).catch(() => undefined);
    this.#etag = undefined;
    this.#until = 0;
  }

  async #replace(etag: Etag): Promise<boolean> {
    const until = this.#serverNow() + this.#leaseMs;
    const done = await this.#o.store.putIfMatch(headName(this.#o.dbId), this.#body(until), etag);
    if (done.kind === 'written') {
      this.#held(done.etag, until);
      return true;
    }
    return done.kind === 'changed' && (await this.#ownAfterAll());
  }

  /**
   * Whether the head that refused this writer's If-Match was written by this very Lease: an
   * earlier renewal applied by the server whose answer was lost (the SDK's retry of it, or any
   * later renewal, then sends the ETag it replaced). Any attempt since the last answer may be the
   * one that landed, so the head is recognised by this object's session, not by the bytes sent.
   */
  async #ownAfterAll(): Promise<boolean> {
    const found = await this.#o.store.get(headName(this.#o.dbId));
    if (!found) return false;
    let head: HeadRecord;
    try {
      head = this.#decode(found.body);
    } catch {
      return false; // sealed under a key this writer lacks, or not a head it reads: not its own
    }
    if (head.session !== this.#session || head.writerId !== this.#o.writerId) return false;
    this.#held(found.etag, head.leaseUntilMs);
    return true;
  }

  #held(etag: Etag, until = this.#serverNow() + this.#leaseMs): void {
    this.#etag = etag;
    this.#until = until;
  }

  #body(until = this.#serverNow() + this.#leaseMs): Buffer {
    const record: HeadRecord = {
      format: 'LBH1',
      dbId: this.#o.dbId,
      genId: this.#genId,
      writerId: this.#o.writerId,
      host: hostname(),
      pid: process.pid,
      leaseUntilMs: until,
      session: this.#session,
    };
    return encryptValue(this.#o.key, Buffer.from(JSON.stringify(record)));
  }

  #decode(body: Buffer): HeadRecord {
    return decodeHead(body, this.#o.keys, this.#o.dbId, this.#o.store.description);
  }

  /** The store's clock when it has answered (a lease is judged by one clock), else ours. */
  #serverNow(): number {
    return this.#o.now?.() ?? this.#o.store.serverTime() ?? Date.now();
  }
}

function fenced(dbId: string, why: string): LifeboatError {
  return new LifeboatError('PITR_FENCED', `continuous backup of database ${dbId} stops: ${why}`, {
    hint: 'run one Lifeboat per database; a copied volume needs its own identity (`lifeboat identity`)',
  });
}

/** A head's record (PITR_OBJECT_MALFORMED when it is not one this Lifeboat reads; KEY_UNKNOWN passes through). */
export function decodeHead(body: Buffer, keys: KeyLookup, dbId: string, where: string): HeadRecord {
  try {
    const record = JSON.parse(decryptValue(keys, body).toString('utf8')) as Partial<HeadRecord>;
    if (record.format === 'LBH1' && typeof record.writerId === 'string' && typeof record.leaseUntilMs === 'number')
      return record as HeadRecord;
  } catch (err) {
    if (err instanceof LifeboatError && err.code === 'KEY_UNKNOWN') throw err;
  }
  throw new LifeboatError(
    'PITR_OBJECT_MALFORMED',
    `the head of database ${dbId} in ${where} is not a head this Lifeboat reads`,
    { hint: 'a newer Lifeboat or another tool wrote it; stop the other writer, or report it' },
  );
}
