import { rollingOfFile, writeBase } from '../base-object.js';
import type { BaseWriter } from './capture.js';

/**
 * A generation's first base from the image the snapshot copy pinned: its rolling checksum
 * (capture's page table from then on), then the upload, which hashes the image once more and
 * refuses it if it changed. Two passes over the image: the header, which carries the checksum,
 * comes first in the stream.
 */
export const writeBaseFromImage: BaseWriter = async (r) => {
  const rolling = await rollingOfFile(r.imagePath, r.pageSize);
  const written = await writeBase(r.store, r.key, r.imagePath, {
    dbId: r.dbId,
    genId: r.genId,
    txid: r.txid,
    observedMs: r.observedMs,
    pageSize: r.pageSize,
    rolling: rolling.value(),
    afterSeq: 0,
    chainDigest: Buffer.alloc(32),
  });
  return { digest: written.digest, rolling, dbPages: written.header.dbPages, size: written.size };
};
