import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

export const run = promisify(execFile);
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** MB/s with MB = 10^6 bytes, as storage vendors and `dd` report it. */
export function mbps(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

/** Bytes → MB (10^6), the unit of the memory target ("< 150 MB"). */
export function mb(bytes: number): number {
  return bytes / 1e6;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function pct(value: number, of: number): string {
  return Number.isFinite(value) && Number.isFinite(of) && of > 0 ? `${Math.round((value / of) * 100)}%` : 'n/a';
}

export function ratio(a: number, b: number, digits = 2): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(digits) : 'n/a';
}

export interface Measured {
  /** Wall time of the command, measured by this process. */
  readonly ms: number;
  /** Peak RSS of the command's process in bytes ("Maximum resident set size" of GNU time). */
  readonly maxRss: number;
  /** User + system CPU seconds of the command (and the children it waited for). */
  readonly cpuS: number;
  readonly stdout: string;
}

/**
 * Runs a command under GNU time (`/usr/bin/time`): wall time, peak RSS and CPU time of the
 * command itself. GNU time is used rather than the child's own getrusage: a process forked
 * from this (large) benchmark process starts with its parent's RSS high-water mark, which
 * survives exec on Linux and would hide a smaller child's own peak; `time` is tiny, so the
 * command it forks starts clean.
 */
export async function measureCommand(
  cmd: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('/usr/bin/time', ['-f', 'LIFEBOAT_BENCH_TIME maxrss_kb=%M user=%U sys=%S', cmd, ...args], {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      const m = /LIFEBOAT_BENCH_TIME maxrss_kb=(\d+) user=([\d.]+) sys=([\d.]+)/.exec(err);
      if (code !== 0 || !m) return reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(-3000)}`));
      resolve({ ms, maxRss: Number(m[1]) * 1024, cpuS: Number(m[2]) + Number(m[3]), stdout: out });
    });
  });
}

/** CPU seconds (user + system) a process has used so far, from /proc (for the S3 server's daemons). */
export function processCpuS(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

/** MemAvailable from /proc/meminfo, in bytes. */
export function memAvailable(): number {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

export type Cell = string | number;

export function fmt(v: Cell): string {
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return 'n/a';
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(Math.abs(v) < 10 ? 2 : 1);
}

export function table(
  title: string,
  headers: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<Cell>>,
  notes: readonly string[] = [],
): string {
  const lines = [
    `### ${title}`,
    '',
    `| ${headers.join(' | ')} |`,
    `|${headers.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${headers.map((_, i) => fmt(r[i] ?? '')).join(' | ')} |`),
  ];
  if (notes.length) lines.push('', ...notes);
  return `${lines.join('\n')}\n`;
}
