import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backupName } from '../../src/backup/naming.js';
import { expiredBackups } from '../../src/backup/retention.js';

const DAY = 86_400;
const NOW = new Date('2026-11-24T02:30:00Z');
const nowS = NOW.getTime() / 1000;
const aged = (days: number, node = 1) => backupName(node, nowS - Math.round(days * DAY));

test('backups older than keepDays expire, by the timestamp in the name', () => {
  const names = [aged(0), aged(1), aged(2.9), aged(3.0001), aged(10), aged(400)];
  assert.deepEqual(expiredBackups(names, NOW, { keepDays: 3 }), [aged(10), aged(3.0001), aged(400)].sort());
});

test('exactly keepDays old is kept (strictly older expires)', () => {
  const names = [aged(0), backupName(1, nowS - 3 * DAY), backupName(1, nowS - 3 * DAY - 1)];
  assert.deepEqual(expiredBackups(names, NOW, { keepDays: 3 }), [backupName(1, nowS - 3 * DAY - 1)]);
});

test('foreign files are never touched', () => {
  const names = ['notes.txt', 'backup_node_1_1.sqlite~', 'backup_node_1_1.db', 'hiqlite.db', aged(0), aged(50)];
  assert.deepEqual(expiredBackups(names, NOW, { keepDays: 3 }), [aged(50)]);
});

test('the newest backup survives even when everything is old', () => {
  const names = [aged(100), aged(90), aged(80)];
  assert.deepEqual(expiredBackups(names, NOW, { keepDays: 3 }), [aged(100), aged(90)].sort());
  assert.deepEqual(expiredBackups([aged(100)], NOW, { keepDays: 0 }), []);
});

test('keepDays 0 keeps only the newest; protected names always survive', () => {
  const names = [aged(0), aged(0.5), aged(1), aged(2)];
  assert.deepEqual(expiredBackups(names, NOW, { keepDays: 0 }), [aged(0.5), aged(1), aged(2)].sort());
  assert.deepEqual(expiredBackups(names, NOW, { keepDays: 0, protect: [aged(2)] }), [aged(0.5), aged(1)].sort());
});

test('backups of every node id count, as in Hiqlite, and ties at the newest all survive', () => {
  const names = [backupName(1, nowS - 10 * DAY), backupName(2, nowS - 10 * DAY), backupName(3, nowS - 20 * DAY)];
  assert.deepEqual(expiredBackups(names, NOW, { keepDays: 3 }), [backupName(3, nowS - 20 * DAY)]);
});

test('a clock far behind the backups deletes nothing', () => {
  const names = [aged(0), aged(1)];
  assert.deepEqual(expiredBackups(names, new Date('2000-01-01T00:00:00Z'), { keepDays: 3 }), []);
});

test('invalid keepDays is a programming error', () => {
  assert.throws(() => expiredBackups([], NOW, { keepDays: -1 }), RangeError);
  assert.throws(() => expiredBackups([], NOW, { keepDays: 1.5 }), RangeError);
});

test('exhaustive: for every subset of a small set, the decision obeys the rules', () => {
  const pool = [aged(0), aged(2), aged(4), aged(6), 'x.txt', backupName(2, nowS - 5 * DAY)];
  for (let mask = 0; mask < 1 << pool.length; mask++) {
    const names = pool.filter((_, i) => mask & (1 << i));
    for (const keepDays of [0, 1, 3, 5, 30]) {
      const expired = new Set(expiredBackups(names, NOW, { keepDays }));
      const backups = names.filter((n) => n.startsWith('backup_node_'));
      const newestTs = Math.max(...backups.map((n) => Number(n.split('_')[3]!.split('.')[0])));
      for (const n of names) {
        if (!n.startsWith('backup_node_')) {
          assert.ok(!expired.has(n), 'foreign name expired');
          continue;
        }
        const ts = Number(n.split('_')[3]!.split('.')[0]);
        const shouldExpire = ts < nowS - keepDays * DAY && ts < newestTs;
        assert.equal(expired.has(n), shouldExpire, `${n} keep=${keepDays} set=${names.join(',')}`);
      }
      if (backups.length > 0) assert.ok(expired.size < backups.length, 'at least one backup survives');
    }
  }
});
