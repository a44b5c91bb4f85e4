import { readSync } from 'node:fs';

/** Reads into all of `buf` from `position` unless the file ends first; returns the bytes read. */
export function readFully(fd: number, buf: Uint8Array, position: number): number {
  let done = 0;
  while (done < buf.byteLength) {
    const n = readSync(fd, buf, done, buf.byteLength - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}
