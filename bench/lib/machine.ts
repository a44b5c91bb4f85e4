import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import Database, { SQLITE_DRIVER } from '../../src/sqlite/driver.js';
import { version } from './peers.js';
import { run } from './util.js';

async function firstLine(cmd: string, args: readonly string[]): Promise<string> {
  try {
    return (await run(cmd, [...args])).stdout.trim();
  } catch {
    return 'n/a';
  }
}

/** A description of the machine and the software versions, for the results. */
export async function describeMachine(workDir: string): Promise<string[]> {
  const lscpu = await firstLine('lscpu', []);
  const model = /^Model name:\s*(.+)$/m.exec(lscpu)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const hypervisor = /^Hypervisor vendor:\s*(.+)$/m.exec(lscpu)?.[1];
  const df = (await firstLine('df', ['-hT', workDir])).split('\n')[1]?.split(/\s+/) ?? [];
  const device = df[0] ?? '?';
  const base = device.replace(/^\/dev\//, '').replace(/p?\d+$/, '');
  let rotational = '';
  try {
    rotational =
      readFileSync(`/sys/block/${base}/queue/rotational`, 'utf8').trim() === '1' ? 'rotational' : 'non-rotational';
  } catch {
    /* not a plain block device */
  }
  const db = new Database(':memory:');
  const sqlite = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
  db.close();
  const driverVersion = (createRequire(import.meta.url)(`${SQLITE_DRIVER}/package.json`) as { version: string })
    .version;
  const [cli, restic, rclone, rgw] = await Promise.all([
    version('sqlite3', ['--version']),
    version('restic'),
    version('rclone'),
    version('radosgw', ['--version']),
  ]);
  return [
    `- CPU: ${availableParallelism()} vCPU (\`nproc\`), ${model}${hypervisor ? `, ${hypervisor} guest` : ''}`,
    `- RAM: ${(totalmem() / 2 ** 30).toFixed(1)} GiB, no swap used by the benchmark`,
    `- Disk of the temp folder: ${device} ` +
      `(${df[1] ?? '?'}, ${df[2] ?? '?'}${rotational ? `, ${rotational}` : ''}), ${df[4] ?? '?'} free at start`,
    `- Kernel: Linux ${release()}`,
    `- Node ${process.version}; SQLite ${sqlite} (${SQLITE_DRIVER} ${driverVersion}, ` +
      `what Lifeboat uses); sqlite3 CLI ${cli.split(' ')[0] ?? cli} (Debian)`,
    `- Peers: ${restic.split(' compiled')[0]}, ${rclone}; ` +
      `S3 server: ${rgw.replace(/\s*\(.*$/, '')} (radosgw, memstore OSD, 127.0.0.1)`,
    `- Load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')} (the machine was shared with other work)`,
  ];
}
