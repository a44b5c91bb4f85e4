import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LifeboatError } from '../errors.js';
import { fsyncDir, fsyncFile, linkNoClobber, tempPathFor } from '../fs/durable.js';
import { errnoOf } from '../fs/errno.js';
import type { EncryptionKey } from './keys.js';
import { createDecryptStream, createEncryptStream, type KeyLookup } from './stream.js';

/**
 * File to file encryption and decryption, all or nothing: the output is written to a temp
 * file next to the destination (`.lifeboat-tmp-<name>.<random>`, a name the stale-temp
 * cleanup recognises), fsynced, and renamed into place only after the whole input went
 * through — for decryption, only after the final chunk authenticated. Then the folder is
 * fsynced so the new name survives a crash. On any failure the temp file is removed and an
 * existing output is left as it was.
 */

export interface FileCryptOptions {
  /** Replace an existing output file (only once the new one is complete). Default false. */
  readonly overwrite?: boolean;
  /** Encryption only: plaintext chunk size in KiB (default 128). */
  readonly chunkSizeKiB?: number;
  /** Called as input is read: bytes read so far and the input's size. */
  readonly onProgress?: (bytesDone: number, bytesTotal: number) => void;
  /** Aborts the work; the temp file is removed and the output untouched. */
  readonly signal?: AbortSignal;
}

export interface FileCryptResult {
  readonly inputBytes: number;
  readonly outputBytes: number;
  readonly ms: number;
  /** The key used: the active one to encrypt, the one the header named to decrypt. */
  readonly keyId: string;
}

const READ_CHUNK = 1 << 20;

/** Counts bytes as they pass, for progress, without touching them. */
class Meter extends Transform {
  bytes = 0;
  constructor(private readonly report: ((bytes: number) => void) | undefined) {
    super({ highWaterMark: READ_CHUNK });
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.report?.(this.bytes);
    done(null, chunk);
  }
}

function ioError(err: unknown, what: string): unknown {
  if (err instanceof LifeboatError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.name === 'AbortError')
    return new LifeboatError('ABORTED', `${what}: interrupted; nothing was written`, { cause: err });
  if (typeof e?.code === 'string') {
    const hint =
      e.code === 'ENOSPC'
        ? 'the destination file system is full'
        : e.code === 'EACCES' || e.code === 'EPERM'
          ? 'check the permissions of the file and its folder'
          : undefined;
    return new LifeboatError('IO_ERROR', `${what}: ${e.message}`, { cause: err, ...(hint ? { hint } : {}) });
  }
  return err;
}

async function checkPaths(input: string, output: string, overwrite: boolean): Promise<number> {
  const info = await stat(input).catch(() => undefined);
  if (!info) throw new LifeboatError('NOT_FOUND', `no file at ${input}`, { hint: 'check the input path' });
  if (!info.isFile())
    throw new LifeboatError('NOT_A_FILE', `${input} is not a regular file`, { hint: 'give the path of a file' });
  if (input === output)
    throw new LifeboatError('SAME_FILE', `input and output are the same file (${input})`, {
      hint: 'write to a new file; the input is read while the output is written',
    });
  const existing = await stat(output).catch(() => undefined);
  if (existing?.isDirectory())
    throw new LifeboatError('OUTPUT_IS_DIRECTORY', `${output} is a directory`, { hint: 'give the output a file name' });
  if (existing && !overwrite)
    throw new LifeboatError('OUTPUT_EXISTS', `${output} already exists; nothing was written`, {
      hint: 'choose another output path, or pass --force (overwrite: true) to replace it',
    });
  const folder = await stat(dirname(output)).catch(() => undefined);
  if (!folder?.isDirectory())
    throw new LifeboatError('NOT_FOUND', `the output folder ${dirname(output)} does not exist`, {
      hint: 'create the folder first',
    });
  return info.size;
}

/**
 * Puts `temp` at `target`. Without `overwrite` a hard link is used, which fails if `target`
 * appeared in the meantime (rename would silently replace it); file systems without hard
 * links fall back to a rename after one more existence check.
 */
async function publish(temp: string, target: string, overwrite: boolean): Promise<void> {
  if (overwrite) {
    await rename(temp, target);
    return;
  }
  let how: 'linked' | 'renamed';
  try {
    how = await linkNoClobber(temp, target);
  } catch (err) {
    if (errnoOf(err) !== 'EEXIST') throw err;
    throw new LifeboatError(
      'OUTPUT_EXISTS',
      `${target} was created by something else while this ran; it was left as it is`,
      { hint: 'choose another output path, or pass --force to replace it' },
    );
  }
  // The output is in place; a leftover second name for it is harmless, so this cannot fail the work.
  if (how === 'linked') await unlink(temp).catch(() => undefined);
}

async function transformFile(
  inPath: string,
  outPath: string,
  transform: Transform,
  options: FileCryptOptions,
  what: string,
  keyId: () => string,
): Promise<FileCryptResult> {
  const started = performance.now();
  const input = resolve(inPath);
  const output = resolve(outPath);
  const overwrite = options.overwrite ?? false;
  const total = await checkPaths(input, output, overwrite);
  const temp = tempPathFor(output);
  const onProgress = options.onProgress;
  const meter = new Meter(onProgress ? (bytes) => onProgress(bytes, total) : undefined);
  let outputBytes = 0;
  try {
    // 'wx': the random temp name must be new; mode 0600 because a plaintext may be secret.
    const sink = createWriteStream(temp, { flags: 'wx', mode: 0o600 });
    const source = createReadStream(input, { highWaterMark: READ_CHUNK });
    await pipeline(source, meter, transform, sink, ...(options.signal ? [{ signal: options.signal }] : []));
    outputBytes = sink.bytesWritten;
    await fsyncFile(temp);
    await publish(temp, output, overwrite);
    await fsyncDir(dirname(output));
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw ioError(err, `${what} ${basename(input)} → ${output}`);
  }
  return { inputBytes: meter.bytes, outputBytes, ms: performance.now() - started, keyId: keyId() };
}

/** Encrypts `inPath` into `outPath` with `key` (the active key), in the cryptr stream format. */
export async function encryptFile(
  inPath: string,
  outPath: string,
  key: EncryptionKey,
  options: FileCryptOptions = {},
): Promise<FileCryptResult> {
  // Built before any file is touched, so a bad chunk size or key fails first.
  const encrypt = createEncryptStream(
    key,
    options.chunkSizeKiB !== undefined ? { chunkSizeKiB: options.chunkSizeKiB } : {},
  );
  return transformFile(inPath, outPath, encrypt, options, 'encrypting', () => key.id);
}

/** Decrypts a cryptr stream with the key its header names (any key in `keys`). */
export async function decryptFile(
  inPath: string,
  outPath: string,
  keys: KeyLookup,
  options: FileCryptOptions = {},
): Promise<FileCryptResult> {
  const decrypt = createDecryptStream(keys);
  return transformFile(inPath, outPath, decrypt, options, 'decrypting', () => decrypt.keyId ?? '');
}
