import { join } from 'node:path';
import type { BackupPlan } from '../../src/backup/job.js';
import { BACKUP_LOCK } from '../../src/compose.js';
import { silentLogger } from '../../src/log.js';
import { LocalStore } from '../../src/storage/local.js';
import { FakeClock } from './fake-clock.js';

/**
 * A backup plan for the job's tests, as the composition root would build it: the database
 * `dbFile`, backups in the folder `backups` (its lock inside), no remote, keep 3 days locally
 * and 30 remotely, keep_min 1, a fake clock at the real time; `over` changes any of it.
 */
export function testPlan(dbFile: string, backups: string, over: Partial<BackupPlan> = {}): BackupPlan {
  return {
    dbFile,
    nodeId: 1,
    local: new LocalStore(backups),
    lockFile: join(backups, BACKUP_LOCK),
    keepDaysLocal: 3,
    remote: undefined,
    keepDaysRemote: 30,
    keepMin: 1,
    expectTables: [],
    clock: new FakeClock(Date.now()),
    logger: silentLogger(),
    ...over,
  };
}
