import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CaptureStateFile, type SavedChain, savedWalEnd, walEndOf } from '../../src/pitr/capture/state-file.js';
import { tempDir } from '../support/tmp.js';

/**
 * capture's state.json: the writer id survives; the chain it records is read back exactly, the
 * newest save wins, and anything that is not a whole, well-formed chain is dropped (the next
 * start then begins a new generation) without losing the writer id.
 */

const CHAIN: SavedChain = {
  dbId: 'a'.repeat(32),
  genId: 'b'.repeat(32),
  seq: 7,
  txid: 123,
  digest: 'c'.repeat(64),
  rolling: 'd'.repeat(32),
  pageSize: 4096,
  observedMs: 1_796_000_000_000,
  generation: { startedMs: 1_795_000_000_000, baseBytes: 8192, segmentBytes: 4000, baseTxid: 100 },
  wal: { header: 'f'.repeat(64), nextFrame: 42, s0: 0xffffffff, s1: 7, dbPages: 3 },
};

test('a writer id is made once; saves are read back, the newest one wins; undefined clears the chain', async () => {
  const dir = join(tempDir(), 'pitr');
  const first = await CaptureStateFile.open(dir);
  assert.match(first.writerId, /^[0-9a-f]{32}$/);
  assert.equal(first.chain, undefined);
  const { wal: _, ...noWal } = CHAIN;
  first.save(noWal);
  await first.settled();
  assert.deepEqual((await CaptureStateFile.open(dir)).chain, noWal, 'a chain without a WAL end is whole');
  first.save({ ...CHAIN, seq: 6, txid: 120 });
  first.save(CHAIN);
  await first.settled();
  const again = await CaptureStateFile.open(dir);
  assert.equal(again.writerId, first.writerId);
  assert.deepEqual(again.chain, CHAIN);
  again.save(undefined);
  await again.settled();
  const cleared = await CaptureStateFile.open(dir);
  assert.equal(cleared.chain, undefined);
  assert.equal(cleared.writerId, first.writerId);
});

test('a chain that is not whole or well formed is dropped; the writer id stays', async () => {
  const dir = tempDir();
  const writerId = 'e'.repeat(32);
  const bad: unknown[] = [
    { ...CHAIN, digest: 'c'.repeat(63) },
    { ...CHAIN, dbId: 'A'.repeat(32) },
    { ...CHAIN, seq: -1 },
    { ...CHAIN, txid: 1.5 },
    { ...CHAIN, generation: { ...CHAIN.generation, baseTxid: '100' } },
    { ...CHAIN, generation: undefined },
    { ...CHAIN, wal: { ...CHAIN.wal, header: 'f'.repeat(62) } },
    { ...CHAIN, wal: { ...CHAIN.wal, nextFrame: 0 } },
    { ...CHAIN, wal: { ...CHAIN.wal, s0: 2 ** 32 } },
    { ...CHAIN, wal: { ...CHAIN.wal, dbPages: undefined } },
    { ...CHAIN, wal: 'end' },
    'chain',
  ];
  for (const chain of bad) {
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ writerId, chain }));
    const file = await CaptureStateFile.open(dir);
    assert.equal(file.chain, undefined, JSON.stringify(chain));
    assert.equal(file.writerId, writerId);
  }
  writeFileSync(join(dir, 'state.json'), '{ not json');
  const garbled = await CaptureStateFile.open(dir);
  assert.notEqual(garbled.writerId, writerId, 'unreadable: a new writer id');
  assert.equal(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).writerId, garbled.writerId);
});

test('a save that cannot be written is logged once per spell, and settled() still resolves', async () => {
  const dir = tempDir();
  const messages: string[] = [];
  const log = { warn: (_o: unknown, m: string) => messages.push(`warn ${m}`), info: (m: string) => messages.push(m) };
  const file = await CaptureStateFile.open(dir, log as never);
  // A folder where the file goes: the rename onto it fails, for root too.
  const path = join(dir, 'state.json');
  rmSync(path);
  mkdirSync(path);
  for (let i = 0; i < 3; i++) {
    file.save({ ...CHAIN, seq: i + 1 });
    await file.settled();
  }
  assert.equal(messages.length, 1, messages.join('\n'));
  assert.match(messages[0]!, /^warn .*could not write .*state\.json; until it can, a restart begins a new generation/);
  rmSync(path, { recursive: true });
  file.save(CHAIN);
  await file.settled();
  assert.match(messages[1] ?? '', /state\.json is written again/);
  assert.deepEqual((await CaptureStateFile.open(dir)).chain, CHAIN);
});

test('a WAL end is recorded and read back exactly; none before an epoch or in a provisional one', () => {
  const end = { position: { header: Buffer.alloc(32, 7), nextFrame: 42, s0: 0xffffffff, s1: 7 }, dbPages: 3 };
  const saved = savedWalEnd(end);
  assert.deepEqual(saved, { header: '07'.repeat(32), nextFrame: 42, s0: 0xffffffff, s1: 7, dbPages: 3 });
  assert.deepEqual(walEndOf(saved!), end);
  assert.equal(savedWalEnd({ ...end, position: { ...end.position, header: Buffer.alloc(0) } }), undefined);
  assert.equal(savedWalEnd({ ...end, position: { ...end.position, provisional: true } }), undefined);
});
