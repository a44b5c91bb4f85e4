// The compression thread of capture (brotli-thread.ts says why it exists): each message is one
// segment's records; the reply is their brotli stream, or the error's message. Both buffers go
// back to the main thread rather than wait here for this nearly idle heap's next collection.
import { parentPort } from 'node:worker_threads';
import { brotliCompressSync } from 'node:zlib';
import { type BrotliJob, type BrotliReply, owns } from './brotli-thread.js';

const port = parentPort;
if (!port) throw new Error('brotli-worker runs as a worker thread');
port.on('message', (job: BrotliJob) => {
  let reply: BrotliReply;
  try {
    reply = { id: job.id, ok: true, out: brotliCompressSync(job.raw, { params: job.params }), raw: job.raw };
  } catch (err) {
    reply = { id: job.id, ok: false, message: err instanceof Error ? err.message : String(err), raw: job.raw };
  }
  port.postMessage(
    reply,
    [reply.raw, ...(reply.ok ? [reply.out] : [])].filter(owns).map((b) => b.buffer),
  );
});
