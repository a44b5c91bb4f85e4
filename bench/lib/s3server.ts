import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  S3Client,
} from '@aws-sdk/client-s3';
import type { S3Config } from '../../src/config/types.js';
import { type RadosGw, startRadosGw } from '../../test/support/radosgw.js';
import { run } from './util.js';

/**
 * The local S3 server for the benchmark: Ceph's radosgw on 127.0.0.1 (test/support/radosgw.ts),
 * with a memstore OSD, so every stored object lives in the OSD's RAM (about 2× its size in
 * RSS). Between runs, objects are deleted *and* radosgw's garbage collector is run:
 * radosgw only marks the tail of a deleted multipart object for collection (after 2 h by
 * default), so without it the memory would never come back.
 */
export interface BenchS3 {
  readonly gw: RadosGw;
  readonly client: S3Client;
  readonly endpoint: string;
  /** S3 settings for a bucket on this server (buckets are created on first use). */
  config(bucket: string): S3Config;
  ensureBucket(bucket: string): Promise<void>;
  /** PIDs of radosgw and the OSD, for their CPU time. */
  readonly serverPids: readonly number[];
  /** Deletes every object in the bucket (any prefix) and reclaims the memory. */
  empty(bucket: string): Promise<void>;
  /** Current RSS of the OSD (holds the objects), bytes. */
  osdRss(): number;
  /** Confines radosgw and the OSD (every thread) to these cores, a taskset list such as "1". */
  pin(cpus: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startBenchS3(memoryBytes: number): Promise<BenchS3> {
  const gw = await startRadosGw({ memoryBytes });
  const conf = join(gw.dir, 'ceph.conf');
  const pid = (name: string) => Number(readFileSync(join(gw.dir, 'run', `${name}.pid`), 'utf8').trim());
  const serverPids = [pid('client.rgw.a'), pid('osd.0')];
  const client = new S3Client({
    endpoint: gw.endpoint,
    region: gw.region,
    forcePathStyle: true,
    credentials: { accessKeyId: gw.accessKey, secretAccessKey: gw.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const buckets = new Set<string>();
  const config = (bucket: string): S3Config => ({
    url: gw.endpoint,
    bucket,
    region: gw.region,
    pathStyle: true,
    key: gw.accessKey,
    secret: gw.secretKey,
    prefix: '',
  });
  return {
    gw,
    client,
    endpoint: gw.endpoint,
    config,
    serverPids,
    async ensureBucket(bucket) {
      if (buckets.has(bucket)) return;
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      buckets.add(bucket);
    },
    async empty(bucket) {
      let token: string | undefined;
      do {
        const page: ListObjectsV2CommandOutput = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? [])
          if (o.Key) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key }));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      await run('radosgw-admin', ['-c', conf, 'gc', 'process', '--include-all'], { timeout: 120_000 });
    },
    osdRss() {
      try {
        return (
          Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${serverPids[1]}/status`, 'utf8'))?.[1] ?? NaN) * 1024
        );
      } catch {
        return NaN;
      }
    },
    async pin(cpus) {
      for (const pid of serverPids) await run('taskset', ['-a', '-p', '-c', cpus, String(pid)]);
    },
    async stop() {
      client.destroy();
      await gw.stop();
    },
  };
}
