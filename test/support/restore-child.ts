// Runs one restore in its own process, as a start would (an interrupted restore is completed
// first), so a test can kill it at a step (LIFEBOAT_TEST_CRASH_AT) and run it again.
import { silentLogger } from '../../src/log.js';
import { recoverThenRestore } from '../../src/restore/restore.js';
import { parseRestoreSource } from '../../src/restore/source.js';
import type { RestoreStep } from '../../src/restore/steps.js';

const [dbFile, source] = process.argv.slice(2);
const crashAt = process.env.LIFEBOAT_TEST_CRASH_AT;
const report = await recoverThenRestore({
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
