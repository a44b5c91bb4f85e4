// Takes a lock in its own process and keeps it until killed, so a test can crash a real
// holder (SIGKILL, possibly as pid 1 of a fresh PID namespace); with `once`, it exits at
// once instead. Prints one line on stdout: `locked <pid>` once it holds the lock, or
// `failed <code> <message>` (then exits 1).
import { acquireLock } from '../../src/fs/lock.js';

const [path, purpose, mode] = process.argv.slice(2);
try {
  await acquireLock(path!, purpose ?? 'test holder');
  process.stdout.write(`locked ${process.pid}\n`);
  if (mode === 'once') process.exit(0);
  setInterval(() => {}, 1 << 30); // hold until killed
} catch (err) {
  const e = err as { code?: string; message?: string };
  process.stdout.write(`failed ${e.code ?? 'ERROR'} ${e.message ?? String(err)}\n`);
  process.exit(1);
}
