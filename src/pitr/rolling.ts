import { createHash } from 'node:crypto';
import { isPageSize } from '../sqlite/wal-header.js';

/**
 * The rolling database checksum (spec §3.4): `h(p)` = the first 16 bytes of
 * SHA-256(pgno u32 BE ‖ page), the checksum = XOR of `h` over pages 1…dbPages. A table of 16
 * bytes per page lets a commit update it in O(pages written): XOR out a page's old `h`, XOR in
 * the new one, XOR out pages cut off by a truncation. Capture and restore both keep one, and a
 * restore compares it with the `rollingAfter` of each segment's last commit and of its target:
 * it catches capture and apply bugs and proves continuity across downtime. It is no MAC (the AEAD is).
 *
 * The checksum is that of the database *file image*: a page inside dbPages that was never
 * written (the lock-byte page, or a gap left when the file grows) is all zeros there, as
 * ftruncate leaves it, so it counts as a zero page. Hand-written: no library keeps an
 * incremental XOR-of-hashes over pages.
 */

export const HASH_BYTES = 16;
/** SQLite's largest page number. */
export const MAX_PGNO = 0xfffffffe;

/** pageHash's pgno bytes: update() copies them, so one buffer serves every call. */
const pgnoBytes = Buffer.alloc(4);

export function pageHash(pgno: number, page: Buffer): Buffer {
  pgnoBytes.writeUInt32BE(pgno, 0);
  return createHash('sha256').update(pgnoBytes).update(page).digest().subarray(0, HASH_BYTES);
}

function xorInto(target: Buffer, at: number, value: Buffer, from = 0): void {
  for (let i = 0; i < HASH_BYTES; i++) target[at + i]! ^= value[from + i]!;
}

export class RollingChecksum {
  readonly pageSize: number;
  private table: Buffer;
  private pages = 0;
  private readonly acc = Buffer.alloc(HASH_BYTES);
  private readonly zeroPage: Buffer;

  constructor(pageSize: number) {
    if (!isPageSize(pageSize)) throw new RangeError(`page size ${pageSize} is not a power of two from 512 to 65536`);
    this.pageSize = pageSize;
    this.zeroPage = Buffer.alloc(pageSize);
    this.table = Buffer.alloc(HASH_BYTES * 1024);
  }

  /** The checksum of a whole database image (its length a multiple of the page size). */
  static fromDatabaseImage(image: Buffer, pageSize: number): RollingChecksum {
    const r = new RollingChecksum(pageSize);
    if (image.length % pageSize !== 0)
      throw new RangeError(`an image of ${image.length} bytes is not a whole number of ${pageSize}-byte pages`);
    const n = image.length / pageSize;
    r.reserve(n);
    for (let p = 1; p <= n; p++) r.put(p, pageHash(p, image.subarray((p - 1) * pageSize, p * pageSize)));
    r.pages = n;
    return r;
  }

  /** Pages in the database as the checksum sees it. */
  get dbPages(): number {
    return this.pages;
  }

  /** The current checksum (a copy). */
  value(): Buffer {
    return Buffer.from(this.acc);
  }

  /** Page `pgno` now holds `page`. Beyond the end, the file grows (gaps as zero pages). */
  setPage(pgno: number, page: Buffer): void {
    if (!Number.isInteger(pgno) || pgno < 1 || pgno > MAX_PGNO) throw new RangeError(`page number ${pgno}`);
    if (page.length !== this.pageSize)
      throw new RangeError(`page ${pgno} is ${page.length} bytes, not the page size ${this.pageSize}`);
    if (pgno > this.pages) {
      this.grow(pgno - 1);
      this.reserve(pgno);
      this.pages = pgno;
    } else {
      xorInto(this.acc, 0, this.table, (pgno - 1) * HASH_BYTES);
    }
    this.put(pgno, pageHash(pgno, page));
  }

  /** Sets the size to `dbPages`, as ftruncate does: shrinking drops pages, growing adds zero pages. */
  truncate(dbPages: number): void {
    if (!Number.isInteger(dbPages) || dbPages < 0 || dbPages > MAX_PGNO) throw new RangeError(`size ${dbPages} pages`);
    if (dbPages >= this.pages) {
      this.grow(dbPages);
      return;
    }
    for (let p = dbPages + 1; p <= this.pages; p++) {
      const at = (p - 1) * HASH_BYTES;
      xorInto(this.acc, 0, this.table, at);
      this.table.fill(0, at, at + HASH_BYTES);
    }
    this.pages = dbPages;
  }

  /** Appends zero pages up to `dbPages`. */
  private grow(dbPages: number): void {
    if (dbPages <= this.pages) return;
    this.reserve(dbPages);
    for (let p = this.pages + 1; p <= dbPages; p++) this.put(p, pageHash(p, this.zeroPage));
    this.pages = dbPages;
  }

  /** Stores `h` as page `pgno`'s entry and XORs it in; the old entry must be out already. */
  private put(pgno: number, h: Buffer): void {
    const at = (pgno - 1) * HASH_BYTES;
    h.copy(this.table, at);
    xorInto(this.acc, 0, h);
  }

  private reserve(pages: number): void {
    if (pages * HASH_BYTES <= this.table.length) return;
    let size = this.table.length;
    while (size < pages * HASH_BYTES) size *= 2;
    const next = Buffer.alloc(size);
    this.table.copy(next, 0, 0, this.pages * HASH_BYTES);
    this.table = next;
  }
}
