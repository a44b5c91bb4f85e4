// The child process the online copy runs in (copy.ts says why it is a process of its own):
// one request from the parent over IPC, progress messages, one reply, then it exits.
import { copyDatabase } from './copy.js';
import type { CopyProgress, CopyRequest } from './protocol.js';
import { replyOf } from './reply.js';

let replied = false;
// The parent died (killed): nobody will use the copy, and its read transaction keeps the
// application's WAL from restarting while it runs. Stop now, quietly; the parent's next start
// removes what was written.
process.once('disconnect', () => {
  if (!replied) process.exit(2);
});
// A message that cannot be sent means the parent is gone: 'disconnect' ends the process.
const ignore = () => undefined;

process.once('message', async (request: CopyRequest) => {
  const reply = await replyOf(() =>
    copyDatabase(request, (progress: CopyProgress) => process.send?.(progress, ignore)),
  );
  replied = true;
  process.send?.(reply, () => {
    if (process.connected) process.disconnect();
  });
});
