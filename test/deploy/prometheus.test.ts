// The shipped Prometheus rules (deploy/prometheus/) pass promtool's checks and unit tests, and
// the /metrics of a real `lifeboat serve` has every series the rules use and passes `promtool
// check metrics`. promtool comes with Debian's `prometheus` package (CI installs it); without
// it only the promtool tests skip, saying so.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createItemsDb } from '../support/db.js';
import { startHttpRecorder } from '../support/http-recorder.js';
import { parseSamples } from '../support/metrics.js';
import { getTestS3, s3Env, type TestS3 } from '../support/s3.js';
import { tempDir } from '../support/tmp.js';

const DIR = fileURLToPath(new URL('../../deploy/prometheus/', import.meta.url));
const RULES = join(DIR, 'lifeboat.rules.yml');
const ENTRY = fileURLToPath(new URL('../../src/cli/entry.ts', import.meta.url));
const KEYS = { ENC_KEYS: 'k1/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=', ENC_KEY_ACTIVE: 'k1' };

const version = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const skip = version.status === 0 ? false : 'promtool is not installed (Debian: apt-get install prometheus)';

function promtool(args: readonly string[], input?: string): { code: number | null; output: string } {
  const res = spawnSync('promtool', args, { cwd: DIR, input, encoding: 'utf8', timeout: 60_000 });
  return { code: res.status, output: `${res.stdout}${res.stderr}` };
}

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

test('promtool check rules: the rules file is valid', { skip }, () => {
  const res = promtool(['check', 'rules', RULES]);
  assert.equal(res.code, 0, res.output);
  assert.match(res.output, /SUCCESS: 13 rules found/);
});

test('promtool test rules: each alert fires when it should and stays quiet when it should', { skip }, () => {
  const res = promtool(['test', 'rules', 'lifeboat.rules.test.yml']);
  assert.equal(res.code, 0, res.output);
  const tests = readFileSync(join(DIR, 'lifeboat.rules.test.yml'), 'utf8');
  const rules = readFileSync(RULES, 'utf8');
  for (const [, alert] of rules.matchAll(/- alert: (\w+)/g)) {
    assert.match(tests, new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`), `${alert} fires`);
    assert.match(tests, new RegExp(`alertname: ${alert}\\n\\s+exp_alerts: \\[\\]`), `${alert} stays quiet`);
  }
});

/** The /metrics page of a real `lifeboat serve`, scraped by the test below and linted by the one after. */
let scraped: string | undefined;

const scrape = 'serve --listen :0 (every interface): its /metrics has every series the rules use, with db and node_id';
test(scrape, async () => {
  const config = await s3.place();
  const service = await startHttpRecorder();
  const cwd = tempDir();
  const db = join(cwd, 'app.db');
  createItemsDb(db, 50);
  const child = spawn(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), ENTRY, 'serve', '--db', db, '--listen', ':0'],
    {
      cwd,
      env: {
        PATH: process.env.PATH,
        HQL_DATA_DIR: join(cwd, 'data'),
        HQL_NODE_ID: '3',
        HQL_BACKUP_HEARTBEAT_URL: `${service.url}/ping`,
        LIFEBOAT_LOG_FORMAT: 'json',
        // Continuous backup too: the rules use its series.
        LIFEBOAT_PITR: 'true',
        ...s3Env(config),
        ...KEYS,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let url: string | undefined;
  let text = '';
  try {
    let finished = false;
    for await (const line of createInterface({ input: child.stderr })) {
      const rec = JSON.parse(line) as { msg: string; url?: string };
      if (rec.url) url = rec.url;
      if (rec.msg === 'backup finished') finished = true;
      // The first backup is done and its heartbeat sent: scrape, then stop.
      if (finished && url && rec.msg.startsWith('heartbeat sent')) {
        const port = new URL(url).port;
        text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        child.kill('SIGTERM');
      }
    }
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await service.close();
  }
  assert.equal(await exited, 0);
  assert.match(url ?? '', /^http:\/\/(\[::\]|0\.0\.0\.0):\d+$/, 'listening on every interface');
  scraped = text;

  const samples = parseSamples(text);
  for (const s of samples) assert.deepEqual([s.labels.db, s.labels.node_id], ['app.db', '3'], s.name);
  const names = new Set(samples.map((s) => s.name));
  const used = [...readFileSync(RULES, 'utf8').matchAll(/\blifeboat_\w+/g)].map((m) => m[0]);
  assert.ok(used.length >= 5);
  for (const name of used) assert.ok(names.has(name), `the rules use ${name}, which /metrics lacks`);
  // The backup was pushed and the store listed: the remote gauges are there, and fresh.
  const value = (name: string) => samples.find((s) => s.name === name)?.value ?? NaN;
  assert.equal(value('lifeboat_remote_backups'), 1);
  assert.ok(Math.abs(value('lifeboat_newest_remote_backup_timestamp_seconds') - Date.now() / 1000) < 120);
  assert.equal(
    value('lifeboat_backup_last_success_timestamp_seconds'),
    value('lifeboat_newest_local_backup_timestamp_seconds'),
  );
  const beats = samples.find((s) => s.name === 'lifeboat_heartbeats_total' && s.labels.result === 'success');
  assert.equal(beats?.value, 1);
});

test('promtool check metrics: that page is valid Prometheus text, without a lint finding', { skip }, () => {
  assert.ok(scraped, 'the scrape above produced a page');
  const res = promtool(['check', 'metrics'], scraped);
  assert.equal(res.code, 0, `${res.output}\n${scraped}`);
  assert.equal(res.output.trim(), '', 'no lint finding');
});
