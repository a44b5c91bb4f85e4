import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { percentile, sleep } from './util.js';

const WRITER = fileURLToPath(new URL('../writer.ts', import.meta.url));

export interface WindowStats {
  readonly name: string;
  readonly seconds: number;
  readonly commits: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly lateMs: number;
}

export interface LatencyPhase {
  readonly name: string;
  /** Length of the idle window measured just before (the expected length of `during`). */
  readonly idleMs: number;
  readonly during: () => Promise<unknown>;
}

/**
 * Starts the paced writer process on `db`, then for each phase records an idle window of
 * `idleMs` and a busy window from the start of `during` until `tailMs` after it ended (the
 * first checkpoint after a long read transaction belongs to the backup's cost).
 */
export async function writerLatency(
  db: string,
  rate: number,
  phases: readonly LatencyPhase[],
  tailMs: number,
): Promise<Array<{ idle: WindowStats; busy: WindowStats }>> {
  const child = spawn(
    process.execPath,
    ['--no-warnings', '--import', import.meta.resolve('tsx'), WRITER, db, String(rate)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines: string[] = [];
  let buf = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  let exited = false;
  child.on('exit', () => (exited = true));
  const waitLine = async (prefix: string): Promise<string> => {
    for (;;) {
      const found = lines.find((l) => l.startsWith(prefix));
      if (found) return found;
      if (exited) throw new Error(`the writer process exited before printing "${prefix}"`);
      await sleep(20);
    }
  };
  const send = (line: string) => child.stdin.write(`${line}\n`);
  try {
    await waitLine('ready');
    await sleep(500);
    for (const phase of phases) {
      send(`mark idle-${phase.name}`);
      await sleep(phase.idleMs);
      send(`mark busy-${phase.name}`);
      await phase.during();
      await sleep(tailMs);
      send('mark -');
    }
    send('stop');
    const result = JSON.parse(await waitLine('{')) as {
      windows: Record<string, { lat: number[]; lateMs: number; seconds: number }>;
    };
    const stats = (name: string): WindowStats => {
      const w = result.windows[name] ?? { lat: [], lateMs: NaN, seconds: NaN };
      const s = w.lat.sort((a, b) => a - b);
      return {
        name,
        seconds: w.seconds,
        commits: s.length,
        p50Ms: percentile(s, 50),
        p99Ms: percentile(s, 99),
        maxMs: s[s.length - 1] ?? NaN,
        lateMs: w.lateMs,
      };
    };
    return phases.map((p) => ({ idle: stats(`idle-${p.name}`), busy: stats(`busy-${p.name}`) }));
  } finally {
    if (!exited) child.kill('SIGKILL');
  }
}
