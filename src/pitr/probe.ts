/**
 * The capability probe of continuous backup (§3.7 of the design): before anything is shipped,
 * prove on a throw-away object that the store honours `If-None-Match: *` and `If-Match` on
 * PutObject, and find the form in which it takes an ETag in `If-Match` (quoted as S3 returns
 * it; Ceph RGW only bare). A store that ignores either header would let two writers fork one
 * chain or overwrite a shipped segment without anyone noticing, so every other answer fails
 * closed. Transport failures (S3_UNREACHABLE, S3_TIMEOUT, S3_AUTH, …) keep their own codes:
 * they say nothing about the store's semantics, and continuous mode does not start either way.
 */
import { randomBytes } from 'node:crypto';
import { LifeboatError } from '../errors.js';
import {
  type CreateOutcome,
  createOwn,
  type EtagForm,
  type PitrObjectStore,
  type ReplaceOutcome,
  replaceOwn,
} from '../storage/object-store.js';

/** Where the probe writes, relative to the store's prefix (src/pitr/names.ts is to own key names). */
const PROBE_FOLDER = 'lifeboat-pitr/.probe/';

const HINT =
  'continuous backup needs a store with conditional writes (If-None-Match and If-Match on PutObject): ' +
  'AWS S3, Cloudflare R2, MinIO with the fixes of PR #21550 and #21653, Ceph RGW; ' +
  'Backblaze B2 and Garage are not supported, and a proxy in front of the store must pass both headers on. ' +
  'Snapshots are not affected; see docs/pitr-stores.md';

export interface ProbeResult {
  /** The form in which this store takes an ETag in `If-Match`; also set as `store.etagForm`. */
  readonly etagForm: EtagForm;
  /** The probe object's key (deleted again). */
  readonly key: string;
  /** Wall time of the probe, deletion included. */
  readonly ms: number;
}

export interface ProbeOptions {
  readonly signal?: AbortSignal | undefined;
}

/**
 * Runs the six steps on `lifeboat-pitr/.probe/<random>`: (1) create → 200; (2) create again →
 * 412; (3) If-Match a foreign ETag → 412, in both forms; (4) If-Match the current ETag → 200,
 * quoted first, bare if quoted gets 412; (5) If-Match the now stale ETag → 412, and the object
 * still holds step 4's bytes; (6) delete. Steps 1 and 4 read a refused write's object back: the
 * SDK's retry of a write whose answer was lost is refused by the write itself, which must not
 * read as a store without conditional writes. A 409 (a concurrent conditional write) is retried
 * once. The probe object is deleted whatever happens, as far as the store lets it. Rejects
 * with PITR_NO_CONDITIONAL_WRITES naming the store, the step and the answer seen.
 */
export async function probeConditionalWrites(store: PitrObjectStore, options: ProbeOptions = {}): Promise<ProbeResult> {
  const t0 = performance.now();
  const key = `${PROBE_FOLDER}${randomBytes(16).toString('hex')}`;
  const { signal } = options;
  const body = (step: number) =>
    Buffer.from(`lifeboat capability probe, step ${step}, ${randomBytes(8).toString('hex')}\n`);
  let deleted = false;
  try {
    const step = stepper(store);

    const created = await step(
      1,
      'PUT If-None-Match: * of a new object',
      '200',
      (): Promise<CreateOutcome> => createOwn(store, key, body(1), { signal }),
    );
    if (created.kind !== 'written') throw step.unexpected(created);
    const first = created.etag;

    const again = await step(2, 'PUT If-None-Match: * of an existing object', '412', () =>
      store.putIfAbsent(key, body(2), { signal }),
    );
    if (again.kind !== 'exists') throw step.unexpected(again);

    // A foreign ETag of the same shape (32 hex digits, like S3's MD5s) that cannot be the object's.
    const foreign = randomBytes(16).toString('hex');
    for (const form of ['quoted', 'bare'] as const) {
      const replaced = await step(3, `PUT If-Match: <another ETag, ${form}>`, '412', () =>
        store.putIfMatch(key, body(3), foreign, { signal, etagForm: form }),
      );
      if (!(replaced.kind === 'changed' && replaced.status === 412)) throw step.unexpected(replaced);
    }

    const step4 = body(4);
    const replace = (form: EtagForm) =>
      step(4, `PUT If-Match: <the current ETag, ${form}>`, '200', () =>
        replaceOwn(store, key, step4, first, { signal, etagForm: form }),
      );
    let etagForm: EtagForm = 'quoted';
    let replaced = await replace(etagForm);
    // Quoted is what S3 returns and AWS expects; Ceph RGW refuses it with 412 and takes it bare.
    if (replaced.kind === 'changed' && replaced.status === 412) {
      etagForm = 'bare';
      replaced = await replace(etagForm);
    }
    if (replaced.kind !== 'written') throw step.unexpected(replaced);
    if (replaced.etag === first) throw step.fail('a new ETag for new bytes', `the same ETag "${first}"`);

    const stale = await step(5, `PUT If-Match: <the replaced ETag, ${etagForm}>`, '412', () =>
      store.putIfMatch(key, body(5), first, { signal, etagForm }),
    );
    if (!(stale.kind === 'changed' && stale.status === 412)) throw step.unexpected(stale);
    const now = await store.get(key, { signal });
    if (!now?.body.equals(step4)) {
      throw step.fail("step 4's bytes still in the object", now ? 'other bytes (a refused write was applied)' : 'none');
    }

    // Step 6. A failure here is the store's own error: nothing to do with conditional writes.
    await store.delete(key, { signal });
    deleted = true;
    store.etagForm = etagForm;
    return { etagForm, key, ms: Math.round(performance.now() - t0) };
  } finally {
    // Best effort, and without the caller's signal: an interrupted probe still removes its object.
    if (!deleted) await store.delete(key).catch(() => undefined);
  }
}

type Outcome = CreateOutcome | ReplaceOutcome;

/** Runs one step, retrying once on 409; knows the step it is at, for the failure's message. */
function stepper(store: PitrObjectStore) {
  let current = { n: 0, what: '', expected: '' };
  const fail = (expected: string, seen: string) =>
    new LifeboatError(
      'PITR_NO_CONDITIONAL_WRITES',
      `${store.description} does not honour conditional writes: probe step ${current.n} ` +
        `(${current.what}) expected ${expected}, got ${seen}; continuous backup does not start`,
      { hint: HINT },
    );
  const run = async <T>(n: number, what: string, expected: string, call: () => Promise<T>): Promise<T> => {
    current = { n, what, expected };
    try {
      const first = await call();
      return isConflict(first) ? await call() : first;
    } catch (err) {
      const refused = refusal(err);
      throw refused ? fail(expected, refused) : err;
    }
  };
  return Object.assign(run, {
    fail,
    unexpected: (outcome: Outcome) => fail(current.expected, describe(outcome)),
  });
}

function isConflict(outcome: unknown): boolean {
  return typeof outcome === 'object' && outcome !== null && (outcome as Outcome).kind === 'conflict';
}

function describe(outcome: Outcome): string {
  switch (outcome.kind) {
    case 'written':
      return '200 (the object was written)';
    case 'exists':
      return '412 (an object with that key exists)';
    case 'changed':
      return `${outcome.status}`;
    case 'conflict':
      return '409 ConditionalRequestConflict twice';
  }
}

/**
 * The answer of a store that refused a request it should have taken (a 4xx other than the
 * conditions' own, or 501 NotImplemented), as "status name"; undefined for transport and
 * server failures, which are not about conditional writes.
 */
function refusal(err: unknown): string | undefined {
  if (!(err instanceof LifeboatError) || (err.code !== 'S3_ERROR' && err.code !== 'NOT_FOUND')) return undefined;
  const cause = err.cause as { name?: string; statusCode?: number } | undefined;
  const status = cause?.statusCode;
  if (status === undefined || !(status === 501 || (status >= 400 && status < 500))) return undefined;
  return `${status} ${cause?.name ?? ''}`.trim();
}
