import { mkdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { BackupPlan } from '../../src/backup/job.js';
import { backupName } from '../../src/backup/naming.js';
import { BACKUP_LOCK } from '../../src/compose.js';
import type { S3Config } from '../../src/config/types.js';
import { silentLogger } from '../../src/log.js';
import { LocalStore } from '../../src/storage/local.js';
import { createItemsDb } from './db.js';
import { FakeClock } from './fake-clock.js';
import { getTestS3 } from './s3.js';

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

const DAY_S = 86_400;

/**
 * Backups an honest clock made `days` before `nowS` (fractions allowed): small real databases
 * of `rows` rows in `backups`, file time = name time, and with `config` objects of the same
 * names in the bucket. Returns their names, sorted.
 */
export async function plantBackups(
  backups: string,
  options: { days: readonly number[]; nowS: number; rows?: number; config?: S3Config | undefined },
): Promise<string[]> {
  mkdirSync(backups, { recursive: true, mode: 0o700 });
  const made: string[] = [];
  for (const d of options.days) {
    const s = options.nowS - Math.round(d * DAY_S);
    const name = backupName(1, s);
    createItemsDb(join(backups, name), options.rows ?? 5);
    utimesSync(join(backups, name), s + 2, s + 2);
    if (options.config) {
      const { bucket, prefix } = options.config;
      await (await getTestS3())
        .client()
        .send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}${name}`, Body: 'an older backup' }));
    }
    made.push(name);
  }
  return made.sort();
}
