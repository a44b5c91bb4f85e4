import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './tmp.js';

export interface Tmpfs {
  readonly dir: string;
  /** Unmounts; call it in a finally. Idempotent. */
  unmount(): void;
}

/**
 * A small real file system that fills up: a tmpfs of `sizeMiB` mounted on a fresh folder
 * (root only). Returns why not when mounting is not permitted, so the test can skip with it.
 */
export function mountTmpfs(sizeMiB: number): Tmpfs | { readonly skip: string } {
  if (process.getuid?.() !== 0) return { skip: 'mounting a tmpfs needs root' };
  const dir = join(tempDir('lifeboat-tmpfs-'), 'mnt');
  mkdirSync(dir);
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0700`, 'tmpfs', dir], {
    encoding: 'utf8',
  });
  if (mount.status !== 0) {
    return { skip: `mount -t tmpfs is not permitted here: ${(mount.stderr || String(mount.error)).trim()}` };
  }
  let mounted = true;
  return {
    dir,
    unmount() {
      if (!mounted) return;
      const res = spawnSync('umount', [dir], { encoding: 'utf8' });
      if (res.status !== 0) throw new Error(`umount ${dir} failed: ${res.stderr}`);
      mounted = false;
    },
  };
}
