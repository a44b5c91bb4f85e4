// Runs one restore in its own process, as a start would (an interrupted restore is completed
// first), so a test can kill it at a step (LIFEBOAT_TEST_CRASH_AT) and run it again. A pitr: source
// takes a third argument, JSON { s3: S3Config, key: { id, key (base64) } }: the bucket and the key.
import type { S3Config } from '../../src/config/types.js';
import { createKeySet } from '../../src/crypto/keys.js';
import { silentLogger } from '../../src/log.js';
import { recoverThenRestore } from '../../src/restore/restore.js';
import { parseRestoreSource } from '../../src/restore/source.js';
import type { RestoreStep } from '../../src/restore/steps.js';
import { S3ConditionalStore } from '../../src/storage/s3/conditional.js';

const [dbFile, source, pitrJson] = process.argv.slice(2);
const crashAt = process.env.LIFEBOAT_TEST_CRASH_AT;
const pitr = pitrJson ? (JSON.parse(pitrJson) as { s3: S3Config; key: { id: string; key: string } }) : undefined;
const report = await recoverThenRestore({
  ...(pitr
    ? {
        keys: createKeySet([{ id: pitr.key.id, key: Buffer.from(pitr.key.key, 'base64') }], pitr.key.id),
        pitr: () => new S3ConditionalStore(pitr.s3),
      }
    : {}),
  source: parseRestoreSource(source!),
  dbFile: dbFile!,
  skipValidation: false,
  expectTables: ['items'],
  force: false,
  requestedBy: 'startup',
  logger: silentLogger(),
  now: () => new Date('2026-11-24T10:00:00Z'),
  // SIGKILL, no clean-up, as a power cut would.
  onStep: (step: RestoreStep) => {
    if (step === crashAt) process.kill(process.pid, 'SIGKILL');
  },
});
process.stdout.write(
  `${JSON.stringify({ applied: report.applied, completedInterrupted: report.completedInterrupted })}\n`,
);
