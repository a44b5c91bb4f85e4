import type { WorkerReply } from './protocol.js';

/** The outcome of `work` as a reply another thread or process can receive (errors keep message and code). */
export async function replyOf<T>(work: () => T | Promise<T>): Promise<WorkerReply<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (err) {
    const e = err as { message?: unknown; code?: unknown };
    const message = typeof e?.message === 'string' ? e.message : String(err);
    return { ok: false, message, ...(typeof e?.code === 'string' ? { code: e.code } : {}) };
  }
}
