// Encryption alone: the cryptr stream (encrypt, decrypt) against the cipher's ceiling on
// this machine, measured in the same run. `node --import tsx bench/crypto.ts [--size-mib N]`
import { createCipheriv, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createKeySet } from '../src/crypto/keys.js';
import { createDecryptStream, createEncryptStream } from '../src/crypto/stream.js';
import { mbps, MiB, run, table } from './lib/util.js';

export interface CryptoResult {
  readonly markdown: string;
  readonly encryptMBps: number;
  readonly decryptMBps: number;
  readonly ceilingMBps: number;
}

export async function benchCrypto(sizeMiB: number): Promise<CryptoResult> {
  const keys = createKeySet([{ id: 'bench', key: randomBytes(32) }], 'bench');
  const block = randomBytes(MiB);
  const source = () => Readable.from((function* () { for (let i = 0; i < sizeMiB; i++) yield block; })());
  const bytes = sizeMiB * MiB;
  const sink = (collect?: Buffer[]) => new Writable({ highWaterMark: 1 << 20, write(c: Buffer, _e, cb) { collect?.push(c); cb(); } });


  let rss = process.memoryUsage().rss;
  const watch = setInterval(() => (rss = Math.max(rss, process.memoryUsage().rss)), 50);
  let t0 = performance.now();
  await pipeline(source(), createEncryptStream(keys.active), sink());
  const encMs = performance.now() - t0;
  // Decrypt needs a real ciphertext: encrypt a 256 MiB sample once, then replay it.
  const sample: Buffer[] = [];
  await pipeline(Readable.from((function* () { for (let i = 0; i < 256; i++) yield block; })()), createEncryptStream(keys.active), sink(sample));
  const cipher = Buffer.concat(sample);
  const reps = Math.max(1, Math.round(sizeMiB / 256));
  let decMs = 0;
  for (let i = 0; i < reps; i++) {
    t0 = performance.now();
    // Fed in 1 MiB pieces, as a file or an S3 download arrives.
    const pieces = Readable.from((function* () { for (let off = 0; off < cipher.length; off += MiB) yield cipher.subarray(off, off + MiB); })());
    await pipeline(pieces, createDecryptStream(keys), sink());
    decMs += performance.now() - t0;
  }
  clearInterval(watch);
  // Ceiling: the same cipher through node:crypto on the same input (the 1 MiB block, in
  // 128 KiB pieces), without framing or streams; best of 3 runs of 256 MiB, measured
  // after the streams so both run on a warmed-up process.
  let ceilingMs = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    for (let n = 0; n < 256; n++) {
      for (let off = 0; off < MiB; off += 128 * 1024) {
        const c = createCipheriv('chacha20-poly1305', keys.active.key, randomBytes(12), { authTagLength: 16 });
        c.update(block.subarray(off, off + 128 * 1024));
        c.final();
        c.getAuthTag();
      }
    }
    ceilingMs = Math.min(ceilingMs, performance.now() - t0);
  }
  const ceiling = mbps(256 * MiB, ceilingMs);
  // The other definition: the cipher over one big buffer in a single call.
  const big = randomBytes(256 * MiB);
  let bigMs = Infinity;
  for (let i = 0; i < 2; i++) {
    const t1 = performance.now();
    const c = createCipheriv('chacha20-poly1305', keys.active.key, randomBytes(12), { authTagLength: 16 });
    c.update(big);
    c.final();
    bigMs = Math.min(bigMs, performance.now() - t1);
  }
  const oneBuffer = mbps(big.length, bigMs);

  const enc = mbps(bytes, encMs);
  const dec = mbps(reps * 256 * MiB, decMs);

  let openssl = 'n/a';
  try {
    const { stdout } = await run('openssl', ['speed', '-seconds', '2', '-bytes', '131072', '-evp', 'chacha20-poly1305']);
    const m = /chacha20-poly1305\s+([\d.]+)k/i.exec(stdout);
    if (m) openssl = (Number(m[1]) / 1000).toFixed(0);
  } catch {
    /* openssl missing or different output: reported as n/a */
  }
  const markdown = table(`Encryption (${sizeMiB} MiB stream, 128 KiB chunks)`, ['what', 'MB/s', 'vs node:crypto alone', 'vs openssl'], [
    ['ceiling: node:crypto ChaCha20-Poly1305 alone, same input, 128 KiB pieces', ceiling, '100%'],
    ['node:crypto ChaCha20-Poly1305, one 256 MiB buffer in one call', oneBuffer, `${((oneBuffer / ceiling) * 100).toFixed(0)}%`],
    ['openssl speed -evp chacha20-poly1305 (128 KiB blocks, 1 core)', openssl, openssl === 'n/a' ? '' : `${((Number(openssl) / ceiling) * 100).toFixed(0)}%`],
    ['Lifeboat encrypt stream', enc, `${((enc / ceiling) * 100).toFixed(0)}%`, openssl === 'n/a' ? '' : `${((enc / Number(openssl)) * 100).toFixed(0)}%`],
    ['Lifeboat decrypt stream', dec, `${((dec / ceiling) * 100).toFixed(0)}%`, openssl === 'n/a' ? '' : `${((dec / Number(openssl)) * 100).toFixed(0)}%`],
    ['peak RSS of this process (MiB)', (rss / MiB).toFixed(0), ''],
  ]);
  return { markdown, encryptMBps: enc, decryptMBps: dec, ceilingMBps: ceiling };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--size-mib');
  const size = i > 0 ? Number(process.argv[i + 1]) : 1024;
  process.stdout.write((await benchCrypto(size)).markdown);
}
