// A process that starts the snapshot copy of argv[2] into argv[3] and prints `copying` when the
// copy process reports the image it writes; then it waits to be killed (copy-orphan.test.ts).
import { runCopy } from '../../src/sqlite/client.js';

let said = false;
void runCopy({ op: 'copy', source: process.argv[2]!, dest: process.argv[3]! }, () => {
  if (!said) process.stdout.write('copying\n');
  said = true;
});
setInterval(() => undefined, 60_000);
