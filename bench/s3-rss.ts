// Peak RSS of a full backup pushed to S3 (radosgw on 127.0.0.1) for two database sizes:
//   node --import tsx bench/s3-rss.ts [--sizes 100,2048]
// Each backup runs in its own process under GNU time; it must not grow with size.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { startRadosGw } from '../test/support/radosgw.js';
import { buildDb } from './lib/db.js';
import { mbps, measureCommand, table } from './lib/util.js';

const i = process.argv.indexOf('--sizes');
const sizes = (i > 0 ? process.argv[i + 1]! : '100,2048').split(',').map(Number);
const CHILD = fileURLToPath(new URL('./child-backup.ts', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'lifeboat-s3rss-'));
const gw = await startRadosGw({ memoryBytes: (Math.max(...sizes) * 3 + 1024) * 1024 * 1024 });
try {
  const client = new S3Client({ endpoint: gw.endpoint, region: gw.region, forcePathStyle: true, credentials: { accessKeyId: gw.accessKey, secretAccessKey: gw.secretKey } });
  await client.send(new CreateBucketCommand({ Bucket: 'rss-bench' }));
  const s3 = { url: gw.endpoint, bucket: 'rss-bench', region: gw.region, pathStyle: true, key: gw.accessKey, secret: gw.secretKey, prefix: '' };
  const rows: Array<Array<string | number>> = [];
  for (const size of sizes) {
    const db = join(work, `db-${size}.db`);
    buildDb(db, size);
    const bytes = statSync(db).size;
    const r = await measureCommand(process.execPath, ['--import', import.meta.resolve('tsx'), CHILD, db, join(work, `w-${size}`), JSON.stringify(s3)]);
    rows.push([`${size} MiB`, r.maxRssMiB, r.ms / 1000, mbps(bytes, r.ms)]);
    rmSync(db);
    rmSync(join(work, `w-${size}`), { recursive: true, force: true });
  }
  process.stdout.write(table('Peak RSS of a full backup pushed to S3 (snapshot + check + encrypt + multipart upload)', ['database', 'peak RSS MiB', 'seconds', 'MB/s'], rows));
} finally {
  await gw.stop();
  rmSync(work, { recursive: true, force: true });
}
