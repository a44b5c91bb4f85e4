import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import type {
  CreateOutcome,
  Etag,
  EtagForm,
  ListedObject,
  PitrObjectStore,
  ReplaceOutcome,
} from '../../src/storage/object-store.js';
import type { RangeSource } from '../../src/storage/store.js';

/**
 * A test double of the *bucket* for continuous-backup tests that are about formats and restore
 * logic, not S3: a sorted map of keys to bytes with the same outcomes as PitrObjectStore
 * promises (exists / changed, byte-wise key order). It does not imitate any S3 behaviour
 * (timeouts, ETag forms, multipart); test/storage/s3-conditional.test.ts and the S3 tests of
 * restore cover the real store. `objects` is open so a test can play the bucket attacker.
 */
export class MemoryPitrStore implements PitrObjectStore {
  readonly description = 'memory bucket (test double)';
  etagForm: EtagForm = 'quoted';
  readonly objects = new Map<string, Buffer>();
  /** Requests served, by method: lets a test check that a restore plans from one LIST. */
  readonly calls = { get: 0, getStream: 0, list: 0, put: 0 };

  async get(key: string): Promise<{ body: Buffer; etag: Etag } | undefined> {
    this.calls.get++;
    const body = this.objects.get(key);
    return body ? { body: Buffer.from(body), etag: etagOf(body) } : undefined;
  }

  async getStream(key: string): Promise<Readable | undefined> {
    this.calls.getStream++;
    const body = this.objects.get(key);
    // Several pieces, so a consumer meets chunk boundaries as from a socket.
    if (!body) return undefined;
    const pieces: Buffer[] = [];
    for (let o = 0; o < body.length; o += 7919) pieces.push(Buffer.from(body.subarray(o, o + 7919)));
    return Readable.from(pieces);
  }

  async putStream(key: string, source: RangeSource): Promise<void> {
    this.calls.put++;
    this.objects.set(key, await buffer(source.open(0, source.size)));
  }

  async putIfAbsent(key: string, body: Buffer): Promise<CreateOutcome> {
    this.calls.put++;
    if (this.objects.has(key)) return { kind: 'exists' };
    this.objects.set(key, Buffer.from(body));
    return { kind: 'written', etag: etagOf(body) };
  }

  async putIfMatch(key: string, body: Buffer, etag: Etag): Promise<ReplaceOutcome> {
    this.calls.put++;
    const current = this.objects.get(key);
    if (!current) return { kind: 'changed', status: 404 };
    if (etagOf(current) !== etag) return { kind: 'changed', status: 412 };
    this.objects.set(key, Buffer.from(body));
    return { kind: 'written', etag: etagOf(body) };
  }

  async list(prefix: string): Promise<ListedObject[]> {
    this.calls.list++;
    return [...this.objects]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      .map(([key, body]) => ({ key, size: body.length }));
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.objects.delete(key);
  }

  serverTime(): number | undefined {
    return undefined;
  }
}

function etagOf(body: Buffer): Etag {
  return createHash('md5').update(body).digest('hex');
}
