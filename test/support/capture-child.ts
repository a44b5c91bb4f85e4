// Continuous capture in a process of its own, for the kill-and-restore test: a Lifeboat that
// can be killed with SIGKILL at any moment. Arguments: database path, work folder, and a JSON of
// { s3: S3Config, dbId, key: { id, key (base64) }, syncIntervalMs?, segmentMax?, rebaseRatio?,
// s3TimeoutMs?, leaseMs?, checkpointPages?, windowMs?, retentionEveryMs? }. It prints
// `started <genId> <baseTxid>`, then `shipped <txid>` as the bucket acknowledges segments (and
// `caught-up`, see below); a line `watch` on stdin asks for `caught-up` once more (after an S3
// outage); a line `fault <point>` arms that
// fault point (src/pitr/fault.ts: it dies by SIGKILL there); a line `flush` makes it flush,
// print `flushed <txid>`, close and exit. `diverged <txid> <message>`: a base inside the
// generation was refused because its image is not the chain's (no test here damages the file).
import { createInterface } from 'node:readline';
import { Capture } from '../../src/pitr/capture/capture.js';
import { FAULT_ENV } from '../../src/pitr/fault.js';
import { S3ConditionalStore } from '../../src/storage/s3/conditional.js';

const [dbPath, workDir, json] = process.argv.slice(2);
const setup = JSON.parse(json!) as {
  s3: ConstructorParameters<typeof S3ConditionalStore>[0];
  dbId: string;
  key: { id: string; key: string };
  syncIntervalMs?: number;
  segmentMax?: number;
  rebaseRatio?: number;
  s3TimeoutMs?: number;
  leaseMs?: number;
  checkpointPages?: number;
  windowMs?: number;
  retentionEveryMs?: number;
};
const store = new S3ConditionalStore(setup.s3, setup.s3TimeoutMs ? { timeoutMs: setup.s3TimeoutMs } : {});
const capture = await Capture.start({
  dbPath: dbPath!,
  dbId: setup.dbId,
  store,
  key: { id: setup.key.id, key: Buffer.from(setup.key.key, 'base64') },
  workDir: workDir!,
  pollMs: 25,
  syncIntervalMs: setup.syncIntervalMs ?? 150,
  checkpointPages: setup.checkpointPages ?? 100,
  segmentMax: setup.segmentMax ?? 128 * 1024,
  // A generation per start (the test counts them); bases inside it as often as the run asks.
  rebaseRatio: setup.rebaseRatio ?? 1000,
  // A base that an outage failed is tried again soon, so that the run can still meet `during-rebase` after it.
  rebaseRetryMs: 1000,
  ...(setup.leaseMs ? { leaseMs: setup.leaseMs } : {}),
  ...(setup.windowMs !== undefined ? { windowMs: setup.windowMs } : {}),
  ...(setup.retentionEveryMs !== undefined ? { retentionEveryMs: setup.retentionEveryMs } : {}),
});
const status = capture.status();
process.stdout.write(`started ${status.genId} ${status.lastTxid}\n`);
capture.on('gap', ({ reason }: { reason: string }) => process.stderr.write(`capture-child: gap: ${reason}\n`));
capture.on('stopped', ({ reason }: { reason: string }) => process.stderr.write(`capture-child: stopped: ${reason}\n`));
// A base the upload refused because the image is not the chain's (the kill-run fails on it).
capture.on('base-failed', (e: { txid: number; diverged: boolean; message: string }) => {
  if (e.diverged) process.stdout.write(`diverged ${e.txid} ${e.message.replace(/\n/g, ' ')}\n`);
});
// `caught-up` at the first acknowledgement after which nothing older than two intervals waits: the
// start's backlog (commits made while the base was taken) is in the bucket; after `watch`, an outage's.
let caughtUp = false;
capture.on('shipped', ({ txid }: { txid: number }) => {
  const oldest = capture.status().oldestUnshippedMs;
  if (!caughtUp && (oldest === undefined || Date.now() - oldest < 2 * (setup.syncIntervalMs ?? 150))) {
    caughtUp = true;
    process.stdout.write('caught-up\n');
  }
  process.stdout.write(`shipped ${txid}\n`);
});
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === 'watch') caughtUp = false;
  if (line.startsWith('fault ')) process.env[FAULT_ENV] = line.slice(6).trim();
  if (line.trim() !== 'flush') continue;
  const txid = await capture.flush();
  process.stdout.write(`flushed ${txid}\n`);
  await capture.close();
  store.close();
  process.exit(0);
}
