import assert from 'node:assert/strict';
import { before } from 'node:test';
import { FAULT_POINTS } from '../../src/pitr/fault.js';
import { getTestS3, localTest, type TestS3 } from '../support/s3.js';
import { tempDir } from '../support/tmp.js';
import { killRun } from './kill-run.js';

/**
 * Capture killed at each of its named fault points (test/pitr/kill-run.ts), then every kind of restore
 * checked against the application's model. A file of its own: the run takes two minutes or more, and
 * beside kill-restore.test.ts's runs it came near the 5-minute limit of a test file under load.
 */

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

const syncIntervalMs = Number(process.env.LIFEBOAT_TEST_INTERVAL_MS ?? 500);

localTest(
  'capture dies at each named fault point: its leftovers go at the next start, every restore is exactly one commit',
  async () => {
    // An even seed takes bases inside the generation, so `during-rebase` is one of the points; a multiple
    // of 3, SQLite's 1000-frame checkpoints (case A of a restart can meet a death).
    const report = await killRun({
      s3: await s3.place(),
      dir: tempDir(),
      seed: 24,
      kills: FAULT_POINTS.length,
      victims: ['fault'],
      syncIntervalMs,
    });
    for (const point of FAULT_POINTS) assert.equal(report.faults[point], 1, `one death at ${point}`);
    // A base image (during-rebase) and a state.json not renamed (before-state-rename), at least.
    assert.ok(report.leftBehind >= 2, `${report.leftBehind} files left behind`);
    assert.ok(report.rpoChecked > 0, 'commits were owed at the deaths (returned two intervals before)');
    assert.ok(report.restores > 8, `${report.restores} restores`);
  },
);
