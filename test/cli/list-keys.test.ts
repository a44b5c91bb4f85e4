import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { before, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { backupName } from '../../src/backup/naming.js';
import { generateKey } from '../../src/crypto/keys.js';
import { createEncryptStream } from '../../src/crypto/stream.js';
import { runCli } from '../support/cli.js';
import { getTestS3, s3Env, type TestS3 } from '../support/s3.js';
import { tempDir } from '../support/tmp.js';

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

function keyOf(line: string) {
  const slash = line.indexOf('/');
  return { id: line.slice(0, slash), key: Buffer.from(line.slice(slash + 1), 'base64') };
}

interface Row {
  where: string;
  name: string;
  keyId?: string;
  keyKnown?: boolean;
  keyProblem?: string;
}

test('list shows which key encrypted each remote backup, and where it looked (real S3)', async () => {
  const place = await s3.place();
  const config = { ...place, prefix: `${place.prefix}lb/` };
  const [old, current, retired] = [generateKey('k-old'), generateKey('k-new'), generateKey('retired')];
  const put = async (name: string, body: Buffer) =>
    s3.client().send(new PutObjectCommand({ Bucket: config.bucket, Key: `${config.prefix}${name}`, Body: body }));
  const encrypted = (line: string) =>
    buffer(Readable.from([Buffer.alloc(300_000, 7)]).pipe(createEncryptStream(keyOf(line))));
  const names = [1_700_000_000, 1_700_000_100, 1_700_000_200, 1_700_000_300].map((t) => backupName(1, t));
  await put(names[0]!, await encrypted(old));
  await put(names[1]!, await encrypted(current));
  await put(names[2]!, await encrypted(retired)); // its key is no longer configured
  await put(names[3]!, Buffer.from('SQLite format 3\0 but not encrypted')); // not a cryptr stream
  const cwd = tempDir();
  const env = {
    ...s3Env(config),
    HQL_DATA_DIR: `${cwd}/data`,
    ENC_KEYS: `${old}\n${current}`,
    ENC_KEY_ACTIVE: 'k-new',
  };

  const [json, text, noKeys] = await Promise.all([
    runCli(['list', '--remote', '--json'], { cwd, env }),
    runCli(['list'], { cwd, env }),
    runCli(['list', '--remote', '--json', '--no-keys'], { cwd, env }),
  ]);
  assert.equal(json.code, 0, json.stderr);
  const out = JSON.parse(json.stdout) as {
    local: unknown;
    remote: unknown;
    keysRead: boolean;
    backups: Row[];
  };
  assert.equal(out.local, null, '--remote: the local folder was not looked at');
  assert.deepEqual(out.remote, { endpoint: config.url, bucket: config.bucket, prefix: config.prefix });
  assert.equal(out.keysRead, true);
  const byName = new Map(out.backups.map((r) => [r.name, r]));
  assert.deepEqual(
    out.backups.map((r) => r.name),
    [...names].reverse(),
  );
  assert.deepEqual(
    [names[0], names[1], names[2]].map((n) => [byName.get(n!)?.keyId, byName.get(n!)?.keyKnown]),
    [
      ['k-old', true],
      ['k-new', true],
      ['retired', false],
    ],
  );
  assert.equal(byName.get(names[3]!)?.keyId, undefined);
  assert.match(byName.get(names[3]!)?.keyProblem ?? '', /not a valid encrypted stream/);

  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^# local: +\S+\/data\/state_machine\/backups$/m);
  const where = `# remote: bucket "${config.bucket}", prefix "${config.prefix}" at ${config.url}`;
  assert.ok(text.stdout.includes(`${where}\n`), text.stdout);
  assert.match(text.stdout, /WHERE\s+NAME\s+TIME \(UTC\)\s+SIZE\s+AGE\s+KEY\n/);
  assert.match(text.stdout, new RegExp(`remote\\s+${names[0]!.replace('.', '\\.')}\\s.*\\sk-old\\n`));
  assert.match(
    text.stdout,
    new RegExp(`remote\\s+${names[2]!.replace('.', '\\.')}\\s.*\\sretired \\(not in key set\\)`),
  );
  assert.match(text.stdout, new RegExp(`remote\\s+${names[3]!.replace('.', '\\.')}\\s.*\\sunreadable\\n`));
  assert.match(text.stdout, new RegExp(`# ${names[3]!.replace('.', '\\.')}: cannot read its key id: `));

  assert.equal(noKeys.code, 0, noKeys.stderr);
  const plain = JSON.parse(noKeys.stdout) as { keysRead: boolean; backups: Row[] };
  assert.equal(plain.keysRead, false);
  assert.ok(plain.backups.every((r) => r.keyId === undefined && r.keyProblem === undefined));
  for (const r of [json, text, noKeys]) assert.ok(!(r.stdout + r.stderr).includes(config.secret));
  // Off a terminal stderr is JSON lines only: on Node 20 the AWS SDK's Node-version warning
  // is one of them (level warn), not Node's plain-text warning output.
  const logged = json.stderr
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { level: string; msg: string });
  if (Number(process.versions.node.split('.')[0]) < 22)
    assert.ok(
      logged.some((r) => r.level === 'warn' && r.msg.includes('NodeVersionSupportWarning')),
      json.stderr,
    );
});
