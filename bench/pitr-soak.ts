// The soak of continuous backup's kill-and-restore proof (issue #17, item 6):
//   npm run soak:pitr -- [--runs 1000] [--first-seed 1] [--interval-ms 250]
//                        [--victims capture,app,both,restart,outage,fault]
//                        [--tmp DIR] [--tsx]
// Starts one radosgw on 127.0.0.1, compiles the child scripts (capture, application) to plain
// JavaScript unless --tsx, then runs test/pitr/kill-run.ts once per seed: the application commits
// while capture, the application or both are killed with SIGKILL at random moments, or capture's S3
// goes down for a while (errors, resets, lost answers, a hung server; through a fault proxy), or capture
// dies at a named fault point (src/pitr/fault.ts), and every
// restore is checked against the application's model. A failed run is reported with its seed
// (replay: LIFEBOAT_TEST_SEED=<seed> LIFEBOAT_TEST_INTERVAL_MS=250 on test/pitr/kill-restore.test.ts)
// and the soak goes on. Prints a line per 50 runs and a table at the end (also after Ctrl-C, which
// ends the soak after the current run); exits 1 if any run failed.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FAULT_POINTS } from '../src/pitr/fault.js';
import { type KillRunReport, killRun, VICTIMS, type Victim } from '../test/pitr/kill-run.js';
import { compileForChildren } from './lib/build.js';
import { startBenchS3 } from './lib/s3server.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1000' },
    'first-seed': { type: 'string', default: '1' },
    'interval-ms': { type: 'string', default: '250' },
    tmp: { type: 'string', default: tmpdir() },
    tsx: { type: 'boolean', default: false },
    victims: { type: 'string', default: VICTIMS.join(',') },
  },
});
const runs = Number(values.runs);
const firstSeed = Number(values['first-seed']);
const syncIntervalMs = Number(values['interval-ms']);
const victims = values.victims.split(',').map((v): Victim => {
  const victim = VICTIMS.find((known) => known === v);
  if (!victim) throw new Error(`--victims: ${v} is not ${[...new Set(VICTIMS)].join(', ')}`);
  return victim;
});
const note = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

mkdirSync(values.tmp, { recursive: true });
const work = mkdtempSync(join(values.tmp, 'lifeboat-soak-'));
const server = await startBenchS3(2 * 1024 * 1024 * 1024);
const stop = async (code: number) => {
  await server.stop().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
  process.exit(code);
};
// Ctrl-C before the runs begin just stops; during them, it ends the soak after the current run, with its table.
let interrupted = false;
let running = false;
process.once('SIGINT', () => {
  interrupted = true;
  if (!running) void stop(130);
  else note('interrupted: ending after this run');
});
note(`radosgw ready at ${server.endpoint}`);
if (!values.tsx) {
  await compileForChildren(join(work, 'build'), note, [
    'test/support/capture-child.ts',
    'test/support/model-writer.ts',
  ]);
  process.env.LIFEBOAT_TEST_COMPILED = join(work, 'build', 'out');
}
const bucket = 'soak';
await server.ensureBucket(bucket);
const s3 = server.config(bucket);
/** Runs between emptying the bucket: radosgw frees a deleted multipart object (a base) only when its GC runs. */
const EMPTY_EVERY = 25;

const started = Date.now();
const passed: KillRunReport[] = [];
const failed: { seed: number; error: string }[] = [];
let lastSeed = firstSeed - 1;
running = true;
for (let seed = firstSeed; seed < firstSeed + runs && !interrupted; seed++) {
  lastSeed = seed;
  const dir = mkdtempSync(join(work, 'run-'));
  try {
    passed.push(await killRun({ s3, dir, seed, syncIntervalMs, victims, cleanUp: true }));
  } catch (err) {
    failed.push({ seed, error: err instanceof Error ? err.message : String(err) });
    note(`seed ${seed} FAILED: ${failed.at(-1)!.error}`);
  }
  rmSync(dir, { recursive: true, force: true });
  const done = seed - firstSeed + 1;
  if (done % EMPTY_EVERY === 0) await server.empty(bucket);
  if (done % 50 === 0 || done === runs)
    note(`${done}/${runs} runs, ${failed.length} failed, ${((Date.now() - started) / done / 1000).toFixed(1)} s/run`);
}

const sum = (f: (r: KillRunReport) => number) => passed.reduce((a, r) => a + f(r), 0);
const rows: [string, string][] = [
  ['runs', `${lastSeed - firstSeed + 1}${interrupted ? ` (interrupted; ${runs} asked)` : ''}`],
  ['failed seeds', failed.length ? failed.map((f) => f.seed).join(', ') : '0'],
  ['seeds', `${firstSeed}…${lastSeed}`],
  ['sync interval', `${syncIntervalMs} ms`],
  [
    'kills: capture / application / both',
    `${sum((r) => r.kills.capture)} / ${sum((r) => r.kills.app)} / ${sum((r) => r.kills.both)}`,
  ],
  ['clean restarts (capture resumed its generation)', String(sum((r) => r.kills.restart))],
  [
    'S3 outages for capture (the application went on; capture caught up)',
    `${sum((r) => r.kills.outage)} (${sum((r) => r.outageCommits)} commits during them)`,
  ],
  [
    'capture deaths at fault points (files they left, removed by the next start)',
    `${sum((r) => r.kills.fault)}: ${FAULT_POINTS.map((p) => `${p} ${sum((r) => r.faults[p] ?? 0)}`).join(', ')} ` +
      `(${sum((r) => r.leftBehind)})`,
  ],
  ['generations', String(sum((r) => r.generations))],
  ['capture starts that resumed a generation', String(sum((r) => r.resumes))],
  ['…of which after a kill of capture', String(sum((r) => r.resumesAfterKill))],
  ['bases inside a generation (re-bases; even seeds)', String(sum((r) => r.rebases))],
  ['application commits', String(sum((r) => r.commits))],
  ['restores checked', String(sum((r) => r.restores))],
  ['commits checked against a kill’s RPO bound', String(sum((r) => r.rpoChecked))],
  ['capture kills before it caught up with its start', String(sum((r) => r.killsBeforeCatchUp))],
  ['wall time', `${((Date.now() - started) / 60_000).toFixed(1)} min`],
  ['load average (1 min) at the end', loadavg()[0]!.toFixed(1)],
  ['S3 server (OSD) RSS at the end', `${(server.osdRss() / 2 ** 20).toFixed(0)} MiB`],
];
const width = Math.max(...rows.map(([k]) => k.length));
process.stdout.write(`\n| ${'measure'.padEnd(width)} | result |\n|${'-'.repeat(width + 2)}|--------|\n`);
for (const [k, v] of rows) process.stdout.write(`| ${k.padEnd(width)} | ${v} |\n`);
for (const f of failed) process.stdout.write(`\nseed ${f.seed}: ${f.error}\n`);
await stop(failed.length ? 1 : 0);
