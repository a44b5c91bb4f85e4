import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

export const run = promisify(execFile);
export const MiB = 1024 * 1024;

/** MB/s with MB = 10^6 bytes, as storage vendors and `dd` report it. */
export function mbps(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

/** Runs a command under GNU time: wall time and peak RSS of the whole command. */
export async function measureCommand(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<{ ms: number; maxRssMiB: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('/usr/bin/time', ['-f', 'MAXRSS_KB=%M', cmd, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      const kb = Number(/MAXRSS_KB=(\d+)/.exec(err)?.[1] ?? NaN);
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`));
      resolve({ ms, maxRssMiB: kb / 1024, stdout: out });
    });
  });
}

export function table(title: string, headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const fmt = (v: string | number) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1)) : v);
  const lines = [`### ${title}`, '', `| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(fmt).join(' | ')} |`)];
  return `${lines.join('\n')}\n`;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
