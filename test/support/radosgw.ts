/**
 * Starts a real S3 server for the tests: Ceph's RADOS Gateway (Debian `radosgw`, 16.2
 * here) on a one-node cluster — one monitor, one OSD with the in-memory object store,
 * no manager — in a temp folder, every daemon bound to 127.0.0.1 on free ports, so
 * several instances can run side by side (parallel test processes, a benchmark).
 *
 * Why radosgw: it is a widely deployed S3 implementation, not a fake. It checks SigV4
 * signatures (a wrong secret is rejected with SignatureDoesNotMatch, an unknown key with
 * InvalidAccessKeyId; s3rver accepted a wrong secret), accepts the AWS SDK v3's requests
 * with its default CRC32 checksums as well as without them, implements multipart uploads
 * with AbortMultipartUpload and ListMultipartUploads, paginates ListObjectsV2 at 1000 keys
 * with continuation tokens and delimiters, returns the real error codes (NoSuchKey,
 * NoSuchBucket, RequestTimeTooSkewed for a skewed clock) and honours `If-None-Match: *`.
 * MinIO, Garage and SeaweedFS cannot be installed on the build machines; Docker has no engine.
 *
 * What it does not cover:
 * - Virtual-host-style addressing needs `bucket.host` to resolve. There is no wildcard DNS
 *   here, but `rgw dns name = localhost` is set and the tests resolve `*.localhost` to
 *   127.0.0.1 in their own HTTP agent, so virtual-host requests ARE exercised end to end
 *   (test/storage/s3.test.ts); real DNS set-ups (and TLS with per-bucket names) are not.
 * - AWS-only behaviour: storage classes, Object Lock, SSE-KMS, the newer flexible
 *   checksums being *validated* by the server (radosgw 16 ignores them), region redirects
 *   (PermanentRedirect / AuthorizationHeaderMalformed), IAM policies.
 * - Durability and scale: memstore keeps every object in RAM (size `memoryBytes` for the
 *   test data; the OSD's RSS grows with what is stored), a single OSD, plain HTTP.
 *
 * Clean-up: the daemons fork away from the test process, so they are stopped by the PID
 * files they write (never by name) — by `stop()`, by an 'exit' hook, and by a small
 * detached watchdog process that notices when the test process is gone however it ended
 * (failure, SIGINT, SIGKILL) because its stdin pipe from the test process closes.
 *
 * Debug log: `NODE_DEBUG=lifeboat-rgw` (or LIFEBOAT_TEST_DEBUG=1) prints each start-up
 * phase with its time; the total is also returned as `startupMs`.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { debuglog, promisify } from 'node:util';

const run = promisify(execFile);
const nodeDebug = debuglog('lifeboat-rgw');
const debug = (msg: string): void => {
  if (process.env.LIFEBOAT_TEST_DEBUG) process.stderr.write(`radosgw harness: ${msg}\n`);
  else nodeDebug(msg);
};

export interface RadosGwOptions {
  /**
   * Capacity of the OSD's in-memory store. Objects live in RAM, so this caps what a test
   * run may hold at once; RAM is used as objects are written, not reserved. Default 2 GiB.
   */
  readonly memoryBytes?: number;
}

export interface RadosGw {
  /** `http://127.0.0.1:PORT` — path style; virtual-host style via `*.localhost`, see above. */
  readonly endpoint: string;
  readonly region: string;
  readonly accessKey: string;
  readonly secretKey: string;
  /** The cluster's temp folder (config, logs, daemon data); removed by stop(). */
  readonly dir: string;
  /** Milliseconds from the call to a usable S3 endpoint with its user. */
  readonly startupMs: number;
  stop(): Promise<void>;
}

const DAEMONS = ['client.rgw.a', 'osd.0', 'mon.a'] as const;
const BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'monmaptool', 'radosgw-admin', 'ceph'] as const;

/** A port nobody listens on right now (the daemon binds it a moment later; a lost race is retried). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Polls a daemon's start-up (they offer no readiness notification); not test synchronisation. */
async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`radosgw harness: timed out after ${timeoutMs} ms waiting for ${what}`);
}

function missingBinaries(): string[] {
  const path = (process.env.PATH ?? '/usr/bin:/bin').split(':');
  return BINARIES.filter((bin) => !path.some((p) => existsSync(join(p, bin))));
}

/**
 * Starts a fresh cluster. A failed start (rare: a port taken between picking and binding,
 * or the OSD failing to register) is retried with new ports and a new folder.
 */
export async function startRadosGw(options: RadosGwOptions = {}): Promise<RadosGw> {
  const missing = missingBinaries();
  if (missing.length) {
    throw new Error(
      `radosgw harness: ${missing.join(', ')} not found; ` +
        `run test/support/install-s3-server.sh (apt-get install ceph-mon ceph-osd radosgw ceph-common)`,
    );
  }
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if (attempt >= 3) throw err;
      process.stderr.write(
        `radosgw harness: start attempt ${attempt} failed (${(err as Error).message.split('\n')[0]}); retrying\n`,
      );
    }
  }
}

/**
 * The watchdog: a detached process (own process group, so a terminal's Ctrl-C does not
 * kill it first) that waits for its stdin to close — which happens when this process
 * exits or dies in any way — then kills the daemons by their PID files and removes the folder.
 */
function startWatchdog(dir: string): { disarm(): void } {
  const script = `
    const fs = require('node:fs'), path = require('node:path');
    const [dir, ...names] = process.argv.slice(1);
    process.stdin.on('data', () => {});
    process.stdin.on('close', () => {
      for (const n of names) {
        try {
          process.kill(Number(fs.readFileSync(path.join(dir, 'run', n + '.pid'), 'utf8').trim()), 'SIGKILL');
        } catch {}
      }
      try { fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 }); } catch {}
    });`;
  const child = spawn(process.execPath, ['-e', script, dir, ...DAEMONS], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  child.unref();
  const stdin = child.stdin as unknown as Socket;
  stdin.on('error', () => undefined);
  stdin.unref(); // the pipe must not keep this process alive; it only has to close when we die
  return { disarm: () => stdin.destroy() };
}

async function startOnce(options: RadosGwOptions): Promise<RadosGw> {
  const t0 = performance.now();
  const phase = (what: string) => debug(`${what} after ${Math.round(performance.now() - t0)} ms`);
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-rgw-'));
  for (const sub of ['run', 'log', 'mon', 'osd/ceph-0', 'rgw']) mkdirSync(join(dir, sub), { recursive: true });
  const watchdog = startWatchdog(dir);
  const monPort = await freePort();
  const rgwPort = await freePort();
  const fsid = randomUUID();
  const conf = join(dir, 'ceph.conf');
  const mem = options.memoryBytes ?? 2 * 1024 * 1024 * 1024;
  writeFileSync(
    conf,
    `[global]
fsid = ${fsid}
mon host = v1:127.0.0.1:${monPort}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
# A monitor batches map changes for 1 s by default; radosgw makes ~10 of them on start-up.
paxos propose interval = 0.01
paxos min wait = 0.001
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
# The OSD would place itself in the CRUSH map with a command sent at start-up, which the
# monitor refuses now and then ("wrong fsid": sent before the OSD has the monitor's map).
# The harness adds it to the map instead, before starting it.
osd crush update on start = false
osd class update on start = false
osd objectstore = memstore
memstore device bytes = ${mem}
run dir = ${dir}/run
admin socket = ${dir}/run/$cluster-$name.asok
log file = ${dir}/log/$cluster-$name.log
pid file = ${dir}/run/$name.pid
mon data = ${dir}/mon/$cluster-$id
osd data = ${dir}/osd/$cluster-$id
rgw data = ${dir}/rgw
osd max object name len = 256
osd max object namespace len = 64
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
# Deleted objects are freed by the gateway's garbage collector, by default only 2 h later: in
# memstore that is RAM, and a long test run filled it. Free them within seconds instead.
rgw gc obj min wait = 5
rgw gc processor period = 10
rgw gc processor max time = 10
# Host: <bucket>.localhost:PORT selects the bucket (virtual-host style); 127.0.0.1 stays path style.
rgw dns name = localhost
`,
  );
  const c = ['-c', conf];
  let stopped = false;
  const stopSync = (): void => {
    if (stopped) return;
    stopped = true;
    process.off('exit', stopSync);
    for (const name of DAEMONS) {
      const pidFile = join(dir, 'run', `${name}.pid`);
      try {
        process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGKILL');
      } catch {
        /* no PID file yet, or already gone */
      }
    }
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    watchdog.disarm();
  };
  process.on('exit', stopSync);
  const stop = async (): Promise<void> => stopSync();
  try {
    await run('monmaptool', [
      '--create',
      '--addv',
      'a',
      `[v1:127.0.0.1:${monPort}]`,
      '--fsid',
      fsid,
      join(dir, 'monmap'),
    ]);
    await run('ceph-mon', [...c, '--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap')]);
    await run('ceph-mon', [...c, '-i', 'a']);
    phase('monitor started');
    const ceph = (...args: string[]) => run('ceph', [...c, '--connect-timeout', '30', ...args], { timeout: 60_000 });
    await ceph('osd', 'create');
    await run('ceph-osd', [...c, '-i', '0', '--mkfs']);
    // Directly under the default root: with chooseleaf type 0 the rule picks OSDs, not hosts.
    await ceph('osd', 'crush', 'add', 'osd.0', '1.0', 'root=default');
    await run('ceph-osd', [...c, '-i', '0']);
    phase('OSD started');
    await run('radosgw', [...c, '-n', 'client.rgw.a']);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await waitFor(async () => (await fetch(endpoint)).status > 0, `HTTP on ${endpoint}`, 120_000);
    phase(`gateway answering on ${endpoint}`);
    const accessKey = `LB${randomBytes(9).toString('hex').toUpperCase()}`;
    const secretKey = randomBytes(30).toString('base64url');
    await run(
      'radosgw-admin',
      [
        ...c,
        'user',
        'create',
        '--uid',
        'lifeboat',
        '--display-name',
        'lifeboat',
        '--access-key',
        accessKey,
        '--secret',
        secretKey,
      ],
      { timeout: 60_000 },
    );
    const startupMs = Math.round(performance.now() - t0);
    phase(`user created; ready`);
    return { endpoint, region: 'us-east-1', accessKey, secretKey, dir, startupMs, stop };
  } catch (err) {
    const log = (name: string) => {
      try {
        return readFileSync(join(dir, 'log', `ceph-${name}.log`), 'utf8')
          .split('\n')
          .slice(-5)
          .join('\n');
      } catch {
        return '';
      }
    };
    debug(`start failed; last log lines:\n${DAEMONS.map((d) => `${d}:\n${log(d)}`).join('\n')}`);
    stopSync();
    throw err;
  }
}
