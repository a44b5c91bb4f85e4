// The cryptr stream (encrypt, decrypt) against the cipher's ceiling on this machine,
// measured in the same run. Data is generated in memory, so this measures the cipher path,
// not a disk.
//
//   node --import tsx bench/crypto.ts [--size-mib 1024] [--rounds 3] [--no-doc]
//
// Prints a markdown table and (unless --no-doc) rewrites the `## Encryption` section of
// docs/benchmarks.md. bench/run.ts calls benchCrypto() and prints the table only.
import { createCipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { open, seal } from '../src/crypto/aead.js';
import { chunkNonce } from '../src/crypto/format.js';
import type { EncryptionKey, KeySet } from '../src/crypto/keys.js';
import { createDecryptStream, createEncryptStream } from '../src/crypto/stream.js';
import { MiB, mbps, run, table } from './lib/util.js';

export interface CryptoResult {
  readonly markdown: string;
  readonly encryptMBps: number;
  readonly decryptMBps: number;
  /** node:crypto, same cipher, same 128 KiB messages, no framing or streams: the best a Node program can do. */
  readonly ceilingMBps: number;
  /** The same, per CPU second (robust on a shared machine; what `openssl speed` reports). */
  readonly encryptCpuMBps: number;
  readonly decryptCpuMBps: number;
  readonly encryptCeilingCpuMBps: number;
  readonly decryptCeilingCpuMBps: number;
  readonly opensslMBps: number | undefined;
  readonly peakRssMiB: number;
}

const CHUNK = 128 * 1024;
/** Ciphertext replayed for the decrypt runs (a real stream needs real ciphertext). */
const SAMPLE_MIB = 256;

function keySet(): KeySet {
  const key: EncryptionKey = { id: 'bench', key: randomBytes(32) };
  return { active: key, ids: [key.id], get: (id) => (id === key.id ? key : undefined) };
}

/** `mib` MiB of input in 1 MiB pieces, as a file read or an S3 download arrives. */
function generated(block: Buffer, mib: number): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < mib; i++) yield block;
    })(),
    { objectMode: false },
  );
}

function pieces(buf: Buffer): Readable {
  return Readable.from(
    (function* () {
      for (let off = 0; off < buf.length; off += MiB) yield buf.subarray(off, off + MiB);
    })(),
    { objectMode: false },
  );
}

function discard(collect?: Buffer[]): Writable {
  return new Writable({
    highWaterMark: MiB,
    write(chunk: Buffer, _e, done) {
      collect?.push(chunk);
      done();
    },
  });
}

function maxRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

interface Timing {
  /** Wall-clock milliseconds. */
  wall: number;
  /** CPU milliseconds (user + system) of this process. */
  cpu: number;
}

async function measure(fn: () => Promise<void> | void): Promise<Timing> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 };
}

function best(a: Timing | undefined, b: Timing): Timing {
  return a ? { wall: Math.min(a.wall, b.wall), cpu: Math.min(a.cpu, b.cpu) } : b;
}

async function opensslSpeed(): Promise<number | undefined> {
  try {
    const { stdout } = await run(
      'openssl',
      ['speed', '-seconds', '2', '-bytes', String(CHUNK), '-evp', 'chacha20-poly1305'],
      { maxBuffer: 1 << 20 },
    );
    // The result line: "ChaCha20-Poly1305  4466708.69k" (thousands of bytes per second).
    const m = /^chacha20-poly1305\s+([\d.]+)k\s*$/im.exec(stdout);
    return m ? Number(m[1]) / 1000 : undefined;
  } catch {
    return undefined; // no openssl, or an unexpected output format: reported as n/a
  }
}

export async function benchCrypto(sizeMiB: number, rounds = 3): Promise<CryptoResult> {
  const keys = keySet();
  const key = keys.active.key;
  const block = randomBytes(MiB);
  const bytes = sizeMiB * MiB;

  // Memory first, before any large buffer of the benchmark itself exists: the process's peak
  // RSS after streaming the whole size through encrypt, then through encrypt → decrypt.
  const rssStart = process.memoryUsage().rss / MiB;
  let enc = await measure(() => pipeline(generated(block, sizeMiB), createEncryptStream(keys.active), discard()));
  const rssEncrypt = maxRssMiB();
  let roundTrip = 0;
  const count = new Writable({
    highWaterMark: MiB,
    write: (c: Buffer, _e, done) => {
      roundTrip += c.length;
      done();
    },
  });
  await pipeline(generated(block, sizeMiB), createEncryptStream(keys.active), createDecryptStream(keys), count);
  if (roundTrip !== bytes) throw new Error(`round trip returned ${roundTrip} bytes, expected ${bytes}`);
  const rssRoundTrip = maxRssMiB();

  // A real ciphertext to decrypt, replayed as separate complete streams up to the full size.
  // Fixed nonce prefix, so the per-call decrypt ceiling below can open the same segments.
  const prefix = randomBytes(7);
  const sample: Buffer[] = [];
  await pipeline(
    generated(block, SAMPLE_MIB),
    createEncryptStream(keys.active, { noncePrefix: prefix }),
    discard(sample),
  );
  const ciphertext = Buffer.concat(sample);
  sample.length = 0;
  const payload = 6 + keys.active.id.length + 7;
  const replays = Math.max(1, Math.round(sizeMiB / SAMPLE_MIB));
  const big = randomBytes(SAMPLE_MIB * MiB);

  // Rounds interleave everything and the best of each is kept: the machine is shared, and
  // interleaving keeps a noisy moment from favouring one side.
  let dec: Timing | undefined;
  let encLoop: Timing | undefined;
  let decLoop: Timing | undefined;
  let single: Timing | undefined;
  for (let r = 0; r < rounds; r++) {
    enc = best(
      enc,
      await measure(() => pipeline(generated(block, sizeMiB), createEncryptStream(keys.active), discard())),
    );
    dec = best(
      dec,
      await measure(async () => {
        for (let i = 0; i < replays; i++) await pipeline(pieces(ciphertext), createDecryptStream(keys), discard());
      }),
    );
    // Ceiling: the same cipher and key, one 128 KiB message per call, on the same input,
    // without framing or streams: what any Node program gets from node:crypto. It goes
    // through the stream's own per-chunk calls (src/crypto/aead.ts), so it also gets the
    // young-generation collection every 8 MiB: without it, Node 24 hands out fresh,
    // page-faulting memory for every output.
    encLoop = best(
      encLoop,
      await measure(() => {
        const nonce = randomBytes(12);
        for (let n = 0; n < SAMPLE_MIB; n++) {
          for (let off = 0; off < MiB; off += CHUNK) {
            nonce.writeUInt32BE(n * 8 + off / CHUNK, 7);
            seal(key, nonce, block.subarray(off, off + CHUNK));
          }
        }
      }),
    );
    // The decrypt ceiling opens the very segments the stream decrypts, in place.
    decLoop = best(
      decLoop,
      await measure(() => {
        const segment = CHUNK + 16;
        const chunks = Math.ceil((ciphertext.length - payload) / segment);
        for (let i = 0; i < chunks; i++) {
          const start = payload + i * segment;
          const end = Math.min(start + segment, ciphertext.length);
          if (!open(key, chunkNonce(prefix, i, i === chunks - 1), ciphertext.subarray(start, end)))
            throw new Error(`chunk ${i} of the sample did not authenticate`);
        }
      }),
    );
    // The cipher single-shot over one big buffer.
    single = best(
      single,
      await measure(() => {
        const c = createCipheriv('chacha20-poly1305', key, randomBytes(12), { authTagLength: 16 });
        c.update(big);
        c.final();
      }),
    );
  }
  const openssl = await opensslSpeed();

  const sampleBytes = SAMPLE_MIB * MiB;
  const rate = (n: number, t: Timing) => ({ wall: mbps(n, t.wall), cpu: mbps(n, t.cpu) });
  const encR = rate(bytes, enc);
  const decR = rate(replays * sampleBytes, dec!); // plaintext bytes out
  const encLoopR = rate(sampleBytes, encLoop!);
  const decLoopR = rate(sampleBytes, decLoop!);
  const singleR = rate(sampleBytes, single!);
  const pct = (v: number, of: number | undefined) => (of ? `${Math.round((v / of) * 100)}%` : 'n/a');
  const row = (what: string, r: { wall: number; cpu: number }, ceiling: number | undefined) => [
    what,
    r.wall,
    r.cpu,
    pct(r.cpu, ceiling),
    pct(r.cpu, openssl),
  ];
  const rows: Array<Array<string | number>> = [
    [
      `openssl speed -evp chacha20-poly1305 -bytes ${CHUNK} (C, one buffer reused)`,
      '',
      openssl ?? 'n/a',
      '',
      openssl ? '100%' : 'n/a',
    ],
    row(`ceiling: node:crypto encrypt, one ${CHUNK / 1024} KiB message per call, no framing`, encLoopR, encLoopR.cpu),
    row(`ceiling: node:crypto decrypt of the same segments the stream reads, per call`, decLoopR, decLoopR.cpu),
    row(`node:crypto encrypt single-shot over one ${SAMPLE_MIB} MiB buffer`, singleR, encLoopR.cpu),
    row(`**Lifeboat encrypt stream** (${sizeMiB} MiB)`, encR, encLoopR.cpu),
    row(
      `**Lifeboat decrypt stream** (${replays * SAMPLE_MIB} MiB as ${replays} × ${SAMPLE_MIB} MiB streams)`,
      decR,
      decLoopR.cpu,
    ),
  ];
  const markdown =
    table(
      `Encryption (128 KiB chunks, best of ${rounds + 0} interleaved rounds; MB = 10^6 bytes)`,
      ['what', 'MB/s wall', 'MB/s per CPU second', 'vs node:crypto per call (same direction)', 'vs openssl'],
      rows,
    ) +
    '\n' +
    table(
      'Memory of the stream (peak RSS of the whole process, MiB)',
      ['when', 'MiB'],
      [
        ['at start (Node, modules)', Math.round(rssStart)],
        [`after encrypting ${sizeMiB} MiB`, Math.round(rssEncrypt)],
        [`after encrypt → decrypt of ${sizeMiB} MiB in one pipeline`, Math.round(rssRoundTrip)],
      ],
    );
  return {
    markdown,
    encryptMBps: encR.wall,
    decryptMBps: decR.wall,
    ceilingMBps: encLoopR.wall,
    encryptCpuMBps: encR.cpu,
    decryptCpuMBps: decR.cpu,
    encryptCeilingCpuMBps: encLoopR.cpu,
    decryptCeilingCpuMBps: decLoopR.cpu,
    opensslMBps: openssl,
    peakRssMiB: rssRoundTrip,
  };
}

/** Replaces (or adds) the `## Encryption` section of docs/benchmarks.md; other sections stay as they are. */
function writeDoc(section: string): string {
  const path = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));
  const doc = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => l.trim() === '## Encryption');
  let next: number;
  if (start >= 0) {
    const after = lines.slice(start + 1).findIndex((l) => /^## /.test(l) || l.trim() === '<!-- results -->');
    next = after < 0 ? lines.length : start + 1 + after;
  }
  const body = section.trimEnd().split('\n').concat('');
  if (start >= 0) {
    lines.splice(start, next! - start, ...body);
  } else {
    // Above bench/run.ts's generated results (it rewrites everything below its marker).
    const marker = lines.findIndex((l) => l.trim() === '<!-- results -->');
    if (marker >= 0) lines.splice(marker, 0, ...body);
    else lines.push('', ...body);
  }
  writeFileSync(path, lines.join('\n'));
  return path;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const size = Number(arg('--size-mib') ?? 1024);
  const rounds = Number(arg('--rounds') ?? 3);
  const result = await benchCrypto(size, rounds);
  process.stdout.write(result.markdown);
  if (!process.argv.includes('--no-doc')) {
    const { stdout: opensslVersion } = await run('openssl', ['version']).catch(() => ({ stdout: 'n/a' }));
    const day = new Date().toISOString().slice(0, 10);
    const openssl = opensslVersion
      .trim()
      .split(' (')[0]
      ?.replace(/^OpenSSL /, '');
    const section = [
      '## Encryption',
      '',
      'The cryptr-compatible stream (src/crypto/stream.ts) next to the ceiling of the same cipher on the same',
      'machine, in the same run. Input is generated in memory (no disk), in 1 MiB pieces as a file or an S3',
      'download arrives. Reproduce:',
      '',
      '```sh',
      `node --import tsx bench/crypto.ts --size-mib ${size}      # prints the tables and rewrites this section`,
      'node --import tsx bench/crypto.ts --size-mib 256 --no-doc # quicker, leaves this file alone',
      '```',
      '',
      `Run of ${day}: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ` +
        `openssl CLI ${openssl} (Node bundles its own OpenSSL ${process.versions.openssl}).`,
      '',
      result.markdown.replace(/^### /gm, '#### '),
      'How to read it: each direction is compared with node:crypto doing nothing but the cipher on the same',
      '128 KiB messages and the same bytes (for decryption: the very segments the stream reads, in place). That',
      'is the ceiling for any Node program, and the stream is within a few percent of it. Both let V8 collect',
      'dropped output buffers every 8 MiB (src/memory.ts); on Node 24 the bare loops ran ~30% slower without',
      'that (1788 against 2597 MB per CPU second for the stream in one run): fresh memory page-faults in.',
      'Ratios use CPU time, because this is a shared 2-core machine where wall time swings with other work,',
      'and because `openssl speed` divides by CPU time as well.',
      '',
      'Against `openssl speed` (one reused buffer in a C loop: what the CPU can do) the stream reaches only',
      '50-65%, below the 80% target. That gap is not in the stream: node:crypto pays it on every call (a',
      'new cipher context and a freshly allocated output buffer per message), and its own per-call ceiling',
      'stands at the same fraction of openssl. Closing it needs a native addon (a new dependency) or spreading',
      'chunks over worker threads (wall time only, using the core an S3 upload needs); neither is done. Bigger',
      'chunks do not close it (512 KiB and 1 MiB per call measured within ~6% of 128 KiB), and 128 KiB is',
      "cryptr's default, which Hiqlite writes.",
      '',
      'The single-shot run over one big buffer is the slowest line: its output is one fresh allocation that',
      'page-faults in as it is written. Decryption reads a 256 MiB ciphertext that does not fit in the CPU',
      'cache, while encryption re-reads a 1 MiB block; compare each direction with its own ceiling.',
      '',
    ].join('\n');
    process.stderr.write(`wrote the Encryption section of ${writeDoc(section)}\n`);
  }
}
