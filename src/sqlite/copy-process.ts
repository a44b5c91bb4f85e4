// The child process the online copy runs in (copy.ts says why it is a process of its own):
// one request from the parent over IPC, progress messages, one reply, then it exits.
import { copyDatabase } from './copy.js';
import type { CopyProgress, CopyRequest } from './protocol.js';
import { replyOf } from './reply.js';

process.once('message', async (request: CopyRequest) => {
  const reply = await replyOf(() => copyDatabase(request, (progress: CopyProgress) => process.send?.(progress)));
  process.send?.(reply, () => process.disconnect());
});
