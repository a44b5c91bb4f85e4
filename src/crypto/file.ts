import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Transform } from 'node:stream';
import { LifeboatError } from '../errors.js';
import { writeFileAtomic } from '../fs/durable.js';
import type { EncryptionKey } from './keys.js';
import { createDecryptStream, createEncryptStream, type KeyLookup } from './stream.js';

export interface FileCryptOptions {
  /** Replace an existing output file (only after the new one is complete). */
  readonly overwrite?: boolean;
  readonly chunkSizeKiB?: number;
  readonly onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

export interface FileCryptResult {
  readonly inputBytes: number;
  readonly outputBytes: number;
  readonly ms: number;
  /** The key used: the active one to encrypt, the one the header named to decrypt. */
  readonly keyId: string | undefined;
}

async function transformFile(inPath: string, outPath: string, transform: Transform, options: FileCryptOptions, keyId: () => string | undefined): Promise<FileCryptResult> {
  const started = performance.now();
  const input = resolve(inPath);
  const output = resolve(outPath);
  const info = await stat(input).catch(() => undefined);
  if (!info?.isFile()) throw new LifeboatError('NOT_FOUND', `no file at ${input}`, { hint: 'check the input path' });
  if (input === output) throw new LifeboatError('BAD_ARGUMENT', 'input and output are the same file', { hint: 'write to a new file' });
  if (!options.overwrite && (await stat(output).catch(() => undefined))) {
    throw new LifeboatError('EXISTS', `${output} already exists`, { hint: 'choose another output path or pass --force to replace it' });
  }
  const source = createReadStream(input, { highWaterMark: 1 << 20 });
  let done = 0;
  if (options.onProgress) {
    source.on('data', (chunk: Buffer | string) => {
      done += chunk.length;
      options.onProgress?.(done, info.size);
    });
  }
  // The output appears (atomically) only once the whole stream went through: for decryption,
  // only after the final chunk authenticated.
  const outputBytes = await writeFileAtomic(output, source.pipe(transform).on('error', () => source.destroy()), { mode: 0o600 });
  return { inputBytes: info.size, outputBytes, ms: performance.now() - started, keyId: keyId() };
}

export function encryptFile(inPath: string, outPath: string, key: EncryptionKey, options: FileCryptOptions = {}): Promise<FileCryptResult> {
  return transformFile(inPath, outPath, createEncryptStream(key, options.chunkSizeKiB !== undefined ? { chunkSizeKiB: options.chunkSizeKiB } : {}), options, () => key.id);
}

export function decryptFile(inPath: string, outPath: string, keys: KeyLookup, options: FileCryptOptions = {}): Promise<FileCryptResult> {
  const decrypt = createDecryptStream(keys);
  return transformFile(inPath, outPath, decrypt, options, () => decrypt.keyId);
}
