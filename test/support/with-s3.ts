// Runs a command with one real S3 server (radosgw on 127.0.0.1) for its whole duration:
//   node --import tsx test/support/with-s3.ts -- <command> [args...]
// The server's address and credentials reach the command as LIFEBOAT_TEST_S3_* variables.
import { spawn } from 'node:child_process';
import { startRadosGw } from './radosgw.js';

const sep = process.argv.indexOf('--');
const command = process.argv.slice(sep >= 0 ? sep + 1 : 2);
if (command.length === 0) {
  process.stderr.write('usage: with-s3.ts -- <command> [args...]\n');
  process.exit(2);
}
const started = Date.now();
const gw = await startRadosGw({ memoryBytes: 2 * 1024 * 1024 * 1024 });
process.stderr.write(`with-s3: radosgw ready at ${gw.endpoint} after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
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
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', async (code, signal) => {
  await gw.stop();
  process.exit(code ?? (signal ? 1 : 0));
});
