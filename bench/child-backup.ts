// One full backup run in its own process, so its peak RSS is its own:
//   node --import tsx bench/child-backup.ts <db> <workdir> [s3-config-json]
// Prints one JSON line: { ms, maxRssMiB, bytes }.
import { join } from 'node:path';
import { runBackup } from '../src/backup/job.js';
import type { S3Config } from '../src/config/types.js';
import { createKeySet } from '../src/crypto/keys.js';
import { silentLogger } from '../src/log.js';
import { LocalStore } from '../src/storage/local.js';
import { createS3Store } from '../src/storage/s3.js';

const [db, work, s3Json] = process.argv.slice(2);
const keys = createKeySet([{ id: 'bench', key: Buffer.alloc(32, 7) }], 'bench');
const remoteStore = s3Json ? createS3Store(JSON.parse(s3Json) as S3Config) : new LocalStore(join(work!, 'offsite'));
const t0 = performance.now();
const report = await runBackup({
  dbFile: db!,
  nodeId: 1,
  local: new LocalStore(join(work!, 'backups')),
  keepDaysLocal: 3,
  remote: { store: remoteStore, key: keys.active },
  keepDaysRemote: 30,
  check: 'quick',
  now: () => new Date(),
  logger: silentLogger(),
});
const ms = performance.now() - t0;
process.stdout.write(`${JSON.stringify({ ms, snapshotMs: report.snapshotMs, pushMs: report.remote?.durationMs, maxRssMiB: process.resourceUsage().maxRSS / 1024, bytes: report.bytes, name: report.name })}\n`);
