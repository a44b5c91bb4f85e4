import { readdir, stat } from 'node:fs/promises';

/**
 * The other processes that have any of `paths` open, found through /proc/<pid>/fd (Linux).
 * Best effort, and it changes nothing: processes of another user (without root) or in
 * another container are not visible, and a process that opens the file a moment later is not
 * seen; so this serves to refuse early (before a long download), never as the only check.
 * Elsewhere (no /proc) it finds nothing.
 */
export async function openersOf(paths: readonly string[]): Promise<number[]> {
  const wanted = new Set<string>();
  for (const path of paths) {
    const s = await stat(path).catch(() => undefined);
    if (s) wanted.add(`${s.dev}:${s.ino}`);
  }
  if (wanted.size === 0) return [];
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((p) => /^\d+$/.test(p));
  const found: number[] = [];
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      // stat follows the fd's link to the open file, whatever name it was opened by.
      const s = await stat(`/proc/${pid}/fd/${fd}`).catch(() => undefined);
      if (s && wanted.has(`${s.dev}:${s.ino}`)) {
        found.push(Number(pid));
        break;
      }
    }
  }
  return found;
}
