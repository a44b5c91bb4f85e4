import { createHash } from 'node:crypto';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { openEncryptedFile } from '../crypto/encrypted-file.js';
import type { EncryptionKey } from '../crypto/keys.js';
import { createDecryptStream, type KeyLookup } from '../crypto/stream.js';
import { LifeboatError } from '../errors.js';
import type { PitrObjectStore, RequestOptions } from '../storage/object-store.js';
import { BASE_HEADER_BYTES, type BaseHeader, baseNameOf, decodeBaseHeader, encodeBaseHeader } from './base.js';
import { deriveObjectKey, type ObjectKeyName } from './derive.js';
import { parseBaseName } from './names.js';
import { RollingChecksum } from './rolling.js';

/**
 * A whole LBB1 base object, streamed both ways in constant memory (spec §3.5): plaintext =
 * the 120-byte header (base.ts) ‖ the database image (dbPages × pageSize bytes, the database
 * file at `txid`), one cryptr stream (128 KiB chunks) under the key derived for (LBB1, dbId,
 * genId, txid), stored under baseName(dbId, genId, txid, observedMs). The base's digest
 * (segment `afterSeq + 1`'s prevDigest when afterSeq is 0) is the SHA-256 of the whole
 * plaintext. v1 writes the image uncompressed (`compressed: false`) and refuses to read a
 * compressed one: the reader would need brotli in the stream, and no writer produces it yet.
 *
 * Upload: the image file, with the header as a plaintext head, is encrypted range by range as
 * the parts go (crypto/encrypted-file.ts), each part retried by encrypting its range again;
 * that source fails (SOURCE_CHANGED) rather than seal different bytes under one nonce if the
 * file changes meanwhile. The store's putStream is unconditional: a base's key is unique to
 * its generation and only that generation's one writer makes it (P7).
 */

/** What a writer states about a base; dbPages follows from the image file's size. */
export interface BaseFields {
  readonly dbId: string;
  readonly genId: string;
  readonly txid: number;
  readonly observedMs: number;
  readonly pageSize: number;
  /** The rolling checksum of the image as the writer's page table has it; the upload re-checks it. */
  readonly rolling: Buffer;
  /** 0 for a generation's first base, else the seq of the segment it follows. */
  readonly afterSeq: number;
  /** Zero for the first base, else the digest of segment afterSeq. */
  readonly chainDigest: Buffer;
}

export interface WrittenBase {
  readonly name: string;
  /** SHA-256 of the plaintext: segment afterSeq + 1's prevDigest when this is the first base. */
  readonly digest: Buffer;
  /** Bytes stored (ciphertext). */
  readonly size: number;
  readonly header: BaseHeader;
}

export interface ReadBase {
  readonly header: BaseHeader;
  readonly digest: Buffer;
  /** The image's checksum, with its page table: a restore goes on from it. */
  readonly rolling: RollingChecksum;
}

/** Bytes read per step when hashing a file: whole pages for every page size (≤ 64 KiB). */
const READ_BYTES = 1 << 20;

/** The rolling checksum of a database image file, page by page; its size must be whole pages. */
export async function rollingOfFile(path: string, pageSize: number): Promise<RollingChecksum> {
  const fh = await open(path, 'r');
  try {
    return (await hashImage(fh, pageSize, path)).rolling;
  } finally {
    await fh.close();
  }
}

/** One pass over an image file: its rolling checksum, and the SHA-256 of `head` ‖ the file. */
async function hashImage(
  fh: FileHandle,
  pageSize: number,
  path: string,
  head?: Buffer,
): Promise<{ rolling: RollingChecksum; digest: Buffer; bytes: number }> {
  const rolling = new RollingChecksum(pageSize);
  const sha = createHash('sha256');
  if (head) sha.update(head);
  const { size } = await fh.stat();
  if (size % pageSize !== 0)
    throw new RangeError(`${path} is ${size} bytes, not a whole number of ${pageSize}-byte pages`);
  const buf = Buffer.allocUnsafe(Math.min(READ_BYTES, Math.max(size, pageSize)));
  let at = 0;
  while (at < size) {
    const want = Math.min(buf.length, size - at);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await fh.read(buf, got, want - got, at + got);
      if (bytesRead === 0) throw new RangeError(`${path} became shorter while it was read`);
      got += bytesRead;
    }
    sha.update(buf.subarray(0, want));
    for (let o = 0; o < want; o += pageSize) rolling.setPage((at + o) / pageSize + 1, buf.subarray(o, o + pageSize));
    at += want;
  }
  return { rolling, digest: sha.digest(), bytes: size };
}

/**
 * Uploads the image file at `imagePath` (the database at `fields.txid`) as a base under its
 * name and returns that name, its digest and size. The image is hashed first: a file whose
 * rolling checksum is not `fields.rolling` is a capture bug and is never uploaded
 * (PITR_CHECKSUM_MISMATCH); one that changes during the upload fails it (SOURCE_CHANGED).
 */
export async function writeBase(
  store: PitrObjectStore,
  key: EncryptionKey,
  imagePath: string,
  fields: BaseFields,
  options: RequestOptions & { readonly noncePrefix?: Buffer } = {},
): Promise<WrittenBase> {
  const fh = await open(imagePath, 'r');
  try {
    const { size } = await fh.stat();
    if (size % fields.pageSize !== 0)
      throw new RangeError(`${imagePath} is ${size} bytes, not a whole number of ${fields.pageSize}-byte pages`);
    const header: BaseHeader = { ...fields, compressed: false, dbPages: size / fields.pageSize };
    const head = encodeBaseHeader(header);
    const name = baseNameOf(header);
    // Opened before the hash pass, so a change after it is seen by the source's own checks.
    const source = await openEncryptedFile(imagePath, deriveObjectKey(key, keyName(header)), {
      head,
      ...(options.noncePrefix ? { noncePrefix: options.noncePrefix } : {}),
    });
    try {
      const hashed = await hashImage(fh, fields.pageSize, imagePath, head);
      if (hashed.bytes !== size) throw new RangeError(`${imagePath} changed size while it was hashed`);
      if (!hashed.rolling.value().equals(fields.rolling)) {
        throw new LifeboatError(
          'PITR_CHECKSUM_MISMATCH',
          `the image for base ${name} (${imagePath}) does not have the rolling checksum its writer recorded: ` +
            `${hashed.rolling.value().toString('hex')} ≠ ${fields.rolling.toString('hex')}`,
          { hint: 'the image was not taken at that transaction, or it changed: nothing was uploaded; report it' },
        );
      }
      await store.putStream(name, source, options);
      return { name, digest: hashed.digest, size: source.size, header };
    } finally {
      await source.close();
    }
  } finally {
    await fh.close();
  }
}

function keyName(h: { dbId: string; genId: string; txid: number }): ObjectKeyName {
  return { kind: 'LBB1', dbId: h.dbId, genId: h.genId, n: h.txid };
}

/** What a restore's plan expects of the base it fetches. */
export interface BaseRef {
  /** The object's name: its txid and ms are checked against the header, its txid picks the key. */
  readonly name: string;
  readonly dbId: string;
  readonly genId: string;
}

/**
 * Downloads, decrypts and checks the base `ref.name` and writes its image to `targetPath`, a
 * new file (created exclusively, mode 0600, fsynced unless `sync` is false), hashing its pages on the way. Errors name
 * the object: PITR_OBJECT_MISSING (gone), PITR_KEY_MISSING, PITR_OBJECT_TAMPERED (fails
 * authentication: modified, cut, moved), PITR_OBJECT_MISMATCH (header vs name and plan),
 * PITR_OBJECT_MALFORMED (image length), PITR_CHECKSUM_MISMATCH (image vs the header's rolling
 * checksum). On any failure the file is removed.
 */
export async function readBase(
  store: PitrObjectStore,
  keys: KeyLookup,
  ref: BaseRef,
  targetPath: string,
  options: RequestOptions & {
    /** false: the caller fsyncs the file before it relies on it (default true). */
    readonly sync?: boolean;
    /** Stored (encrypted) bytes read so far, as they arrive. */
    readonly onBytes?: (bytes: number) => void;
  } = {},
): Promise<ReadBase> {
  const named = parseBaseName(ref.name);
  if (!named || named.dbId !== ref.dbId || named.genId !== ref.genId) {
    throw new LifeboatError(
      'PITR_OBJECT_MISMATCH',
      `base ${ref.name} is not a base of generation ${ref.genId} of database ${ref.dbId}`,
      { hint: 'this is a bug in the restore plan; please report it' },
    );
  }
  const label = `base ${ref.name}`;
  const body = await store.getStream(ref.name, options);
  if (!body) throw missing(label);
  let missingKeyId: string | undefined;
  const decrypt = createDecryptStream((id) => {
    const key = typeof keys === 'function' ? keys(id) : keys.get(id);
    if (!key) missingKeyId = id;
    return key && deriveObjectKey(key, keyName(named));
  });
  let fh: FileHandle;
  try {
    fh = await open(targetPath, 'wx', 0o600);
  } catch (err) {
    body.destroy();
    throw err;
  }
  try {
    const sha = createHash('sha256');
    let head: Buffer[] = [];
    let headBytes = 0;
    let header: BaseHeader | undefined;
    let rolling: RollingChecksum | undefined;
    let imageBytes = 0;
    let expectedBytes = 0;
    // A partial page waiting for the rest of its bytes; pages are written in batches.
    let pending = Buffer.alloc(0);
    const take = async (chunk: Buffer): Promise<void> => {
      const h = header!;
      if (imageBytes + chunk.length > expectedBytes) {
        throw malformed(
          label,
          `its image is longer than the ${h.dbPages} pages of ${h.pageSize} bytes its header says`,
        );
      }
      const data = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
      const whole = data.length - (data.length % h.pageSize);
      const fileAt = imageBytes - pending.length;
      for (let o = 0; o < whole; o += h.pageSize)
        rolling!.setPage((fileAt + o) / h.pageSize + 1, data.subarray(o, o + h.pageSize));
      if (whole > 0) await writeAll(fh, data.subarray(0, whole), fileAt);
      pending = Buffer.from(data.subarray(whole));
      imageBytes += chunk.length;
    };
    try {
      body.on('error', (err) => decrypt.destroy(err));
      const { onBytes } = options;
      if (onBytes) {
        let read = 0;
        body.on('data', (chunk: Buffer) => {
          read += chunk.length;
          onBytes(read);
        });
      }
      body.pipe(decrypt);
      for await (const piece of decrypt as AsyncIterable<Buffer>) {
        sha.update(piece);
        if (header) {
          await take(piece);
          continue;
        }
        head.push(piece);
        headBytes += piece.length;
        if (headBytes < BASE_HEADER_BYTES) continue;
        const all = Buffer.concat(head);
        head = [];
        header = decodeBaseHeader(all.subarray(0, BASE_HEADER_BYTES), ref);
        if (header.compressed)
          throw malformed(label, 'its image is compressed, which this version of Lifeboat does not read');
        rolling = new RollingChecksum(header.pageSize);
        expectedBytes = header.dbPages * header.pageSize;
        if (all.length > BASE_HEADER_BYTES) await take(all.subarray(BASE_HEADER_BYTES));
      }
    } catch (err) {
      throw pitrError(err, label, missingKeyId, keys);
    } finally {
      body.destroy();
    }
    if (!header || !rolling) throw malformed(label, `its ${headBytes} bytes are shorter than a base header`);
    if (imageBytes !== expectedBytes) {
      throw malformed(
        label,
        `its image is ${imageBytes} bytes; its header says ${header.dbPages} pages of ${header.pageSize} bytes`,
      );
    }
    if (!rolling.value().equals(header.rolling)) {
      throw new LifeboatError(
        'PITR_CHECKSUM_MISMATCH',
        `${label} authenticated, but its image's rolling checksum ${rolling.value().toString('hex')} is not the ` +
          `${header.rolling.toString('hex')} its header records`,
        { hint: 'its writer uploaded an image that changed while it was read: restore from another base; report it' },
      );
    }
    await fh.truncate(expectedBytes);
    if (options.sync !== false) await fh.sync();
    await fh.close();
    return { header, digest: sha.digest(), rolling };
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(targetPath).catch(() => undefined);
    throw err;
  }
}

async function writeAll(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

export function missing(label: string): LifeboatError {
  return new LifeboatError(
    'PITR_OBJECT_MISSING',
    `${label} was listed but is gone: it was deleted while the restore ran`,
    { hint: 'run the restore again (it plans from a new listing); if it stays missing, check the bucket' },
  );
}

function malformed(label: string, problem: string): LifeboatError {
  return new LifeboatError('PITR_OBJECT_MALFORMED', `${label} is malformed: ${problem}`, {
    hint:
      'the object authenticated, so it was written with your key, but it breaks the base format: ' +
      'a Lifeboat bug or a newer version wrote it — report it; restore from another base',
  });
}

/** The encrypted layer's verdicts as the PITR codes sealed.ts gives whole objects, naming the object. */
function pitrError(err: unknown, label: string, missingKeyId: string | undefined, keys: KeyLookup): unknown {
  if (!(err instanceof LifeboatError)) return err;
  if (err.code === 'KEY_UNKNOWN' && missingKeyId !== undefined) {
    const ids = typeof keys === 'function' ? 'looked up on demand' : keys.ids.join(', ') || 'none';
    return new LifeboatError(
      'PITR_KEY_MISSING',
      `${label} is encrypted with key id "${missingKeyId}", which is not in ENC_KEYS (configured ids: ${ids})`,
      {
        hint:
          `add the key "${missingKeyId}" back to ENC_KEYS: every key used within the restore window must stay ` +
          'there after a rotation',
      },
    );
  }
  if (['AUTH_FAILED', 'TRUNCATED', 'TRAILING_DATA', 'BAD_HEADER'].includes(err.code)) {
    return new LifeboatError(
      'PITR_OBJECT_TAMPERED',
      `${label} fails authentication: ${err.message}. Its key is derived from its name, so an object copied or ` +
        'moved to another name fails the same way',
      {
        hint:
          'this object cannot be used: it was modified, cut short or moved in the bucket (or damaged in transit — ' +
          'fetch it again); restore from another base, and check the bucket for other changes',
        cause: err,
      },
    );
  }
  return err;
}
