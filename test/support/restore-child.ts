// Runs one restore in its own process, so a test can kill it at an injected step
// (LIFEBOAT_TEST_CRASH_AT) and then run it again as a restart would.
import { silentLogger } from '../../src/log.js';
import { restoreDatabase } from '../../src/restore/restore.js';
import { parseRestoreSource } from '../../src/restore/source.js';

const [dbFile, source] = process.argv.slice(2);
const report = await restoreDatabase({
  source: parseRestoreSource(source!),
  dbFile: dbFile!,
  skipValidation: false,
  expectTables: ['items'],
  force: false,
  logger: silentLogger(),
  now: () => new Date('2026-11-24T10:00:00Z'),
});
process.stdout.write(
  `${JSON.stringify({ applied: report.applied, completedInterrupted: report.completedInterrupted })}\n`,
);
