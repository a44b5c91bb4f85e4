import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Measured, measureCommand, run } from './util.js';

/** Debian packages the comparison runs, by command name. */
const PACKAGES: Record<string, string> = { sqlite3: 'sqlite3', restic: 'restic', rclone: 'rclone' };

export function which(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const path = join(dir, bin);
    if (existsSync(path)) return path;
  }
  return undefined;
}

/**
 * Makes sure the given commands exist, installing the missing ones from Debian with
 * apt-get (root only). Returns the commands that are still missing (their rows are then
 * reported as not measured) instead of failing the whole run.
 */
export async function ensureCommands(bins: readonly string[], say: (s: string) => void): Promise<string[]> {
  const missing = bins.filter((b) => !which(b));
  if (missing.length === 0) return [];
  const canInstall = process.getuid?.() === 0 && which('apt-get');
  if (!canInstall) {
    say(
      `missing ${missing.join(', ')} and cannot install them (needs root and apt-get): run \`sudo ` +
        `apt-get install ${missing.map((b) => PACKAGES[b] ?? b).join(' ')}\`; those comparisons are skipped`,
    );
    return missing;
  }
  say(
    `installing ${missing.join(', ')} from Debian with apt-get, ` +
      `for the comparison (apt-get update + install, about a minute)`,
  );
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await run('apt-get', ['update', '-qq'], { env, maxBuffer: 64 * 1024 * 1024 });
    await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing.map((b) => PACKAGES[b] ?? b)], {
      env,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    say(`apt-get failed (${(err as Error).message.split('\n')[0]}); those comparisons are skipped`);
  }
  return bins.filter((b) => !which(b));
}

export async function version(cmd: string, args: readonly string[] = ['version']): Promise<string> {
  try {
    const { stdout } = await run(cmd, [...args]);
    return stdout.trim().split('\n')[0] ?? '';
  } catch {
    return 'n/a';
  }
}

export interface S3Target {
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly bucket: string;
}

const RESTIC_PASSWORD = 'lifeboat-bench-password';

/**
 * `restic backup` of the database file into a fresh repository (a new one each time, so
 * deduplication against an earlier run cannot make it look faster): a local folder, or a
 * path in a bucket on the local S3 server. Repository creation is not timed.
 */
export async function resticBackup(db: string, work: string, round: string, s3?: S3Target): Promise<Measured> {
  const cache = join(work, 'restic-cache');
  const env: NodeJS.ProcessEnv = { ...process.env, RESTIC_PASSWORD, RESTIC_CACHE_DIR: cache };
  let repo: string;
  if (s3) {
    repo = `s3:${s3.endpoint}/${s3.bucket}/${round}`;
    delete env.AWS_CA_BUNDLE;
    Object.assign(env, {
      AWS_ACCESS_KEY_ID: s3.accessKey,
      AWS_SECRET_ACCESS_KEY: s3.secretKey,
      AWS_DEFAULT_REGION: 'us-east-1',
    });
  } else {
    repo = join(work, `restic-${round}`);
  }
  await run('restic', ['init', '--repo', repo], { env });
  return measureCommand('restic', ['backup', '--repo', repo, '--quiet', db], { env });
}

/**
 * rclone's environment: an empty config file in the work folder (the user's ~/.config/rclone is
 * never read or written) and, with `s3`, the remote `benchs3:` on the local S3 server.
 */
function rcloneEnv(work: string, s3?: S3Target): NodeJS.ProcessEnv {
  const config = join(work, 'rclone.conf');
  if (!existsSync(config)) writeFileSync(config, '');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RCLONE_CONFIG: config,
    RCLONE_CACHE_DIR: join(work, 'rclone-cache'),
  };
  if (s3) {
    // Plain HTTP to 127.0.0.1: a CA bundle from the environment only makes rclone's S3 backend fail.
    delete env.AWS_CA_BUNDLE;
    Object.assign(env, {
      RCLONE_CONFIG_BENCHS3_TYPE: 's3',
      RCLONE_CONFIG_BENCHS3_PROVIDER: 'Ceph',
      RCLONE_CONFIG_BENCHS3_ENV_AUTH: 'false',
      RCLONE_CONFIG_BENCHS3_ACCESS_KEY_ID: s3.accessKey,
      RCLONE_CONFIG_BENCHS3_SECRET_ACCESS_KEY: s3.secretKey,
      RCLONE_CONFIG_BENCHS3_ENDPOINT: s3.endpoint,
      RCLONE_CONFIG_BENCHS3_FORCE_PATH_STYLE: 'true',
    });
  }
  return env;
}

/**
 * `rclone copy` of the database file through a `crypt` remote over a local folder or the
 * local S3 server, configured entirely through RCLONE_CONFIG_* variables (rcloneEnv).
 */
export async function rcloneCopy(db: string, work: string, round: string, s3?: S3Target): Promise<Measured> {
  const env = rcloneEnv(work, s3);
  const obscured = (await run('rclone', ['obscure', RESTIC_PASSWORD], { env })).stdout.trim();
  Object.assign(env, { RCLONE_CONFIG_BENCHCRYPT_TYPE: 'crypt', RCLONE_CONFIG_BENCHCRYPT_PASSWORD: obscured });
  if (s3) {
    env.RCLONE_CONFIG_BENCHCRYPT_REMOTE = `benchs3:${s3.bucket}/${round}`;
  } else {
    const dest = join(work, `rclone-${round}`);
    mkdirSync(dest, { recursive: true });
    env.RCLONE_CONFIG_BENCHCRYPT_REMOTE = dest;
  }
  return measureCommand('rclone', ['copy', db, 'benchcrypt:'], { env });
}

/** Parallel ranged GETs of rclone's multi-thread download: the independent client a restore is measured against. */
export const RCLONE_DOWNLOAD_STREAMS = 4;

/**
 * `rclone copyto` of one object from the local S3 server into a local file, as
 * RCLONE_DOWNLOAD_STREAMS parallel ranged GETs (one per quarter of the object) written at their
 * offsets: a plain download by an independent client.
 */
export async function rcloneDownload(s3: S3Target, key: string, dest: string, work: string): Promise<Measured> {
  const env = rcloneEnv(work, s3);
  return measureCommand(
    'rclone',
    [
      'copyto',
      `benchs3:${s3.bucket}/${key}`,
      dest,
      // 0 makes rclone 1.60 divide by zero; any object over 1 MiB is then split into the streams.
      '--multi-thread-cutoff',
      '1M',
      '--multi-thread-streams',
      String(RCLONE_DOWNLOAD_STREAMS),
    ],
    { env },
  );
}
