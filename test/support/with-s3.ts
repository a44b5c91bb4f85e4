// Runs a command with one real S3 server (radosgw on 127.0.0.1) for its whole duration:
//   node --import tsx test/support/with-s3.ts -- <command> [args...]
// The server's address and credentials reach the command as LIFEBOAT_TEST_S3_ENDPOINT,
// _REGION, _ACCESS_KEY and _SECRET_KEY, so every test file it runs shares this one server
// (test/support/s3.ts) instead of starting its own. Exits with the command's exit code
// (128 + signal number if it was killed by a signal). The server is stopped in every case;
// if this process itself is killed, the harness's watchdog stops it.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { startRadosGw } from './radosgw.js';

const sep = process.argv.indexOf('--');
const command = process.argv.slice(sep >= 0 ? sep + 1 : 2);
if (command.length === 0) {
  process.stderr.write('usage: node --import tsx test/support/with-s3.ts -- <command> [args...]\n');
  process.exit(2);
}

// Until the command runs, an interrupt just ends this process (the exit hook stops the server).
const interruptedEarly = (signal: NodeJS.Signals) => process.exit(128 + (constants.signals[signal] ?? 1));
process.once('SIGINT', interruptedEarly).once('SIGTERM', interruptedEarly);

const gw = await startRadosGw({ memoryBytes: 2 * 1024 * 1024 * 1024 });
process.stderr.write(`with-s3: radosgw ready at ${gw.endpoint} after ${(gw.startupMs / 1000).toFixed(1)} s\n`);

process.off('SIGINT', interruptedEarly).off('SIGTERM', interruptedEarly);
const child = spawn(command[0]!, command.slice(1), {
  stdio: 'inherit',
  env: {
    ...process.env,
    LIFEBOAT_TEST_S3_ENDPOINT: gw.endpoint,
    LIFEBOAT_TEST_S3_REGION: gw.region,
    LIFEBOAT_TEST_S3_ACCESS_KEY: gw.accessKey,
    LIFEBOAT_TEST_S3_SECRET_KEY: gw.secretKey,
  },
});
// Ctrl-C reaches the command too (same process group); forward what is sent to us alone.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
child.on('error', async (err) => {
  process.stderr.write(`with-s3: cannot run ${command[0]}: ${err.message}\n`);
  await gw.stop();
  process.exit(127);
});
child.on('exit', async (code, signal) => {
  await gw.stop();
  process.exit(code ?? (signal ? 128 + (constants.signals[signal] ?? 1) : 1));
});
