/**
 * Starts a real S3 server for the tests: Ceph's RADOS Gateway (Debian `radosgw`) on a
 * one-node cluster (one monitor, one OSD with the in-memory object store) in a temp
 * folder, listening on 127.0.0.1 only.
 *
 * Why radosgw: it is a widely deployed S3 implementation that checks SigV4 signatures (a
 * wrong secret is rejected with SignatureDoesNotMatch), accepts the AWS SDK's requests,
 * implements multipart uploads (and ListMultipartUploads) and paginates ListObjectsV2 at
 * 1000 keys. MinIO, Garage and SeaweedFS cannot be installed here; s3rver accepts a wrong
 * secret. What it does not cover: virtual-host-style addressing (needs wildcard DNS; the
 * tests use path style), AWS-only features (storage classes, Object Lock, SSE-KMS), and
 * durability (memstore keeps objects in RAM: size `memoryBytes` for the test data).
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RadosGw {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly dir: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200)); // polling a daemon's start-up, not test synchronisation
  }
  throw new Error(`radosgw harness: timed out waiting for ${what}`);
}

/**
 * Starts a fresh cluster; a failed start (seen rarely: the OSD registering against the
 * monitor with "wrong fsid") is retried with new ports and a new folder.
 */
export async function startRadosGw(options: { memoryBytes?: number } = {}): Promise<RadosGw> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if (attempt >= 3) throw err;
      process.stderr.write(`radosgw harness: start attempt ${attempt} failed (${(err as Error).message.split('\n')[0]}); retrying\n`);
    }
  }
}

async function startOnce(options: { memoryBytes?: number }): Promise<RadosGw> {
  for (const bin of ['ceph-mon', 'ceph-osd', 'radosgw', 'monmaptool', 'radosgw-admin']) {
    if (!existsSync(`/usr/bin/${bin}`)) throw new Error(`radosgw harness: ${bin} is missing; run test/support/install-s3-server.sh (apt-get install ceph-mon ceph-osd radosgw ceph-common)`);
  }
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-rgw-'));
  const monPort = await freePort();
  const rgwPort = await freePort();
  const fsid = randomUUID();
  const conf = join(dir, 'ceph.conf');
  const mem = options.memoryBytes ?? 1024 * 1024 * 1024;
  writeFileSync(
    conf,
    `[global]
fsid = ${fsid}
mon host = v1:127.0.0.1:${monPort}
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = ${mem}
run dir = ${dir}/run
admin socket = ${dir}/run/$cluster-$name.asok
log file = ${dir}/log/$cluster-$name.log
pid file = ${dir}/run/$name.pid
mon data = ${dir}/mon/$cluster-$id
osd data = ${dir}/osd/$cluster-$id
osd max object name len = 256
osd max object namespace len = 64
rgw data = ${dir}/rgw
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw dns name = 127.0.0.1
`,
  );
  for (const sub of ['run', 'log', 'mon', 'osd', 'rgw', 'osd/ceph-0']) await run('mkdir', ['-p', join(dir, sub)]);
  const c = ['-c', conf];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.off('exit', stopSync);
    for (const name of ['client.rgw.a', 'osd.0', 'mon.a']) {
      const pidFile = join(dir, 'run', `${name}.pid`);
      if (!existsSync(pidFile)) continue;
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Daemons fork away from us: kill them by their PID files even if the test process dies.
  const stopSync = () => void stop();
  process.on('exit', stopSync);
  try {
    await run('monmaptool', ['--create', '--addv', 'a', `[v1:127.0.0.1:${monPort}]`, '--fsid', fsid, join(dir, 'monmap')]);
    await run('ceph-mon', [...c, '--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap')]);
    await run('ceph-mon', [...c, '-i', 'a']);
    const ceph = (...args: string[]) => run('ceph', [...c, ...args], { timeout: 30_000 });
    await ceph('osd', 'create');
    await run('ceph-osd', [...c, '-i', '0', '--mkfs']);
    await ceph('osd', 'crush', 'add-bucket', 'localhost', 'host');
    await ceph('osd', 'crush', 'move', 'localhost', 'root=default');
    await ceph('osd', 'crush', 'add', 'osd.0', '1.0', 'host=localhost');
    await run('ceph-osd', [...c, '-i', '0']);
    await run('radosgw', [...c, '-n', 'client.rgw.a']);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await waitFor(async () => (await fetch(endpoint)).status > 0, `HTTP on ${endpoint}`, 120_000);
    const accessKey = `LB${randomBytes(8).toString('hex').toUpperCase()}`;
    const secretKey = randomBytes(24).toString('base64url');
    await run('radosgw-admin', [...c, 'user', 'create', '--uid', 'lifeboat', '--display-name', 'lifeboat', '--access-key', accessKey, '--secret', secretKey], { timeout: 60_000 });
    if (process.env.LIFEBOAT_TEST_DEBUG) process.stderr.write(`radosgw ready at ${endpoint} in ${Date.now() - started} ms\n`);
    return { endpoint, region: 'us-east-1', accessKey, secretKey, dir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
