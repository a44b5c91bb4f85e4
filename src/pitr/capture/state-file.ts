import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../fs/durable.js';
import { readTextIfExists } from '../../fs/read.js';
import type { Logger } from '../../log.js';
import { faultPoint } from '../fault.js';
import { newWriterId } from './lease.js';
import type { WalEnd } from './segmenter.js';

/**
 * `{workDir}/state.json`: capture's writer id (so a restart is the same writer) and where the
 * bucket's chain ended when it last heard (so a restart can continue it, spec §3.9). The chain
 * is a claim to check, never to trust: capture continues only when the bucket ends exactly
 * there and the database hashes to its rolling checksum.
 */

/** The end of a generation's chain the bucket acknowledged: the last segment (or the base, seq 0). */
export interface SavedChain {
  readonly dbId: string;
  readonly genId: string;
  readonly seq: number;
  /** The last txid of segment `seq`; it ends at a commit (a segment ending inside one is never saved). */
  readonly txid: number;
  /** Segment `seq`'s digest (the base's for seq 0): the next segment's prevDigest. */
  readonly digest: string;
  /** The rolling checksum after `txid`. */
  readonly rolling: string;
  readonly pageSize: number;
  readonly observedMs: number;
  /** The newest base of the generation and the segment bytes since: re-basing goes on across a restart. */
  readonly generation: SavedGeneration;
  /** Where `txid` ends in the WAL (absent: the chain ended before the WAL had an epoch). */
  readonly wal?: SavedWalEnd;
}

/** A WalEnd (segmenter.ts) as JSON: the epoch's 32-byte header in hex. */
export interface SavedWalEnd {
  readonly header: string;
  readonly nextFrame: number;
  readonly s0: number;
  readonly s1: number;
  readonly dbPages: number;
}

/**
 * `end` as the state file records it; undefined for an end no restart can read on from: before the
 * WAL's first epoch, or in an epoch no frame was read of (another header may still replace it;
 * wal-tail.ts, provisional).
 */
export function savedWalEnd(end: WalEnd): SavedWalEnd | undefined {
  const p = end.position;
  if (p.header.length === 0 || p.provisional) return undefined;
  return { header: p.header.toString('hex'), nextFrame: p.nextFrame, s0: p.s0, s1: p.s1, dbPages: end.dbPages };
}

/** The WAL end a state file records. */
export function walEndOf(saved: SavedWalEnd): WalEnd {
  const { header, nextFrame, s0, s1, dbPages } = saved;
  return { position: { header: Buffer.from(header, 'hex'), nextFrame, s0, s1 }, dbPages };
}

/** When the newest base was taken, its size and txid, and the segment bytes sealed since. */
export interface SavedGeneration {
  readonly startedMs: number;
  readonly baseBytes: number;
  /** What a restore would apply: each segment's frames, or its stored bytes when more (capture.ts, restoreWork). */
  readonly segmentBytes: number;
  readonly baseTxid: number;
}

interface StateFile {
  readonly writerId: string;
  readonly chain?: SavedChain;
}

const HEX32 = /^[0-9a-f]{32}$/;

function stateFilePath(workDir: string): string {
  return join(workDir, 'state.json');
}

/** What `{workDir}/state.json` holds, read only (nothing is created); an unreadable file holds nothing. */
export async function readStateFile(workDir: string): Promise<Partial<StateFile>> {
  try {
    const parsed: unknown = JSON.parse((await readTextIfExists(stateFilePath(workDir))) ?? '{}');
    if (typeof parsed !== 'object' || parsed === null) return {};
    const { writerId, chain } = parsed as { writerId?: unknown; chain?: unknown };
    return {
      ...(typeof writerId === 'string' && HEX32.test(writerId) ? { writerId } : {}),
      ...(isSavedChain(chain) ? { chain } : {}),
    };
  } catch {
    return {}; // unreadable: a new writer id and a new generation; nothing is lost
  }
}

function isSavedChain(c: unknown): c is SavedChain {
  if (typeof c !== 'object' || c === null) return false;
  const v = c as Record<string, unknown>;
  const count = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  const g = v.generation as Record<string, unknown> | undefined;
  return (
    typeof v.dbId === 'string' &&
    HEX32.test(v.dbId) &&
    typeof v.genId === 'string' &&
    HEX32.test(v.genId) &&
    [v.seq, v.txid, v.pageSize, v.observedMs].every(count) &&
    typeof v.digest === 'string' &&
    /^[0-9a-f]{64}$/.test(v.digest) &&
    typeof v.rolling === 'string' &&
    HEX32.test(v.rolling) &&
    typeof g === 'object' &&
    g !== null &&
    [g.startedMs, g.baseBytes, g.segmentBytes, g.baseTxid].every(count) &&
    (v.wal === undefined || isSavedWalEnd(v.wal))
  );
}

function isSavedWalEnd(w: unknown): w is SavedWalEnd {
  if (typeof w !== 'object' || w === null) return false;
  const v = w as Record<string, unknown>;
  const u32 = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0 && (x as number) <= 0xffffffff;
  return (
    typeof v.header === 'string' &&
    /^[0-9a-f]{64}$/.test(v.header) &&
    [v.nextFrame, v.s0, v.s1, v.dbPages].every(u32) &&
    (v.nextFrame as number) >= 1
  );
}

/**
 * The state file of one capture: its writer id, made on first use, and the saved chain. Saves
 * are written in the order made, one at a time; a save made while one is written replaces any
 * other still waiting (only the newest matters).
 */
export class CaptureStateFile {
  readonly writerId: string;
  /** The chain the file held when it was opened (undefined: none, or unreadable). */
  readonly chain: SavedChain | undefined;
  readonly #workDir: string;
  readonly #log: Logger | undefined;
  #next: { chain: SavedChain | undefined } | undefined;
  #writing: Promise<void> | undefined;
  #failing = false;

  private constructor(workDir: string, state: StateFile, log: Logger | undefined) {
    this.#workDir = workDir;
    this.writerId = state.writerId;
    this.chain = state.chain;
    this.#log = log;
  }

  static async open(workDir: string, log?: Logger): Promise<CaptureStateFile> {
    await mkdir(workDir, { recursive: true, mode: 0o700 });
    const found = await readStateFile(workDir);
    const file = new CaptureStateFile(workDir, { writerId: found.writerId ?? newWriterId(), ...found }, log);
    if (!found.writerId) await file.#write(undefined);
    return file;
  }

  /** Records where the chain ends now (undefined: nowhere a restart could continue). */
  save(chain: SavedChain | undefined): void {
    this.#next = { chain };
    this.#writing ??= this.#drain();
  }

  /** Resolves when every save made so far is written (or failed: logged, the next start begins a generation). */
  async settled(): Promise<void> {
    await this.#writing;
  }

  async #drain(): Promise<void> {
    while (this.#next) {
      const { chain } = this.#next;
      this.#next = undefined;
      try {
        await this.#write(chain);
        if (this.#failing) this.#log?.info(`continuous backup: ${stateFilePath(this.#workDir)} is written again`);
        this.#failing = false;
      } catch (err) {
        // Once per failure spell, not once a segment: the next start just cannot go on with the generation.
        if (!this.#failing) {
          this.#log?.warn(
            { err },
            `continuous backup: could not write ${stateFilePath(this.#workDir)}; until it can, a restart ` +
              'begins a new generation',
          );
        }
        this.#failing = true;
      }
    }
    this.#writing = undefined;
  }

  async #write(chain: SavedChain | undefined): Promise<void> {
    const state: StateFile = { writerId: this.writerId, ...(chain ? { chain } : {}) };
    await writeFileAtomic(stateFilePath(this.#workDir), `${JSON.stringify(state)}\n`, {
      beforeRename: () => faultPoint('before-state-rename'),
    });
  }
}
