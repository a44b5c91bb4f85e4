import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { inspect } from 'node:util';
import {
  createKeySet,
  generateKey,
  KEY_ID_PATTERN,
  keyIdProblem,
  parseKeySet,
  splitEnvKeys,
} from '../../src/crypto/keys.js';

const names = { entriesName: 'encryption.keys (ENC_KEYS)', activeName: 'encryption.key_active (ENC_KEY_ACTIVE)' };
const materialOf = (line: string) => line.slice(line.indexOf('/') + 1);

test('a valid set with several keys (rotation): the active one encrypts, every key stays available', () => {
  const a = generateKey('old_key');
  const b = generateKey('new-key');
  const c = generateKey('2026-06-25');
  const { keySet, problems } = parseKeySet({
    entries: splitEnvKeys(`\n  ${a}\r\n\n${b}  \n${c}\n`),
    active: ' new-key ',
    ...names,
  });
  assert.deepEqual(problems, []);
  assert.equal(keySet?.active.id, 'new-key');
  assert.deepEqual(keySet?.ids, ['old_key', 'new-key', '2026-06-25']);
  assert.equal(keySet?.get('old_key')?.key.toString('base64'), materialOf(a));
  assert.equal(keySet?.get('2026-06-25')?.key.length, 32);
  assert.equal(keySet?.get('nope'), undefined);
  assert.ok(Object.isFrozen(keySet));
  // Rotating = same entries, another active id.
  const rotated = parseKeySet({ entries: [a, b, c], active: 'old_key', ...names });
  assert.equal(rotated.keySet?.active.id, 'old_key');
  // Blank entries (TOML "" or blank lines) are ignored; trimming around the "/" is allowed, as cryptr does.
  const spaced = parseKeySet({ entries: ['', `  old_key / ${materialOf(a)} `], active: 'old_key', ...names });
  assert.deepEqual(spaced.problems, []);
  assert.equal(spaced.keySet?.active.key.toString('base64'), materialOf(a));
});

const splitEnvKeysPerLine =
  'splitEnvKeys: one entry per line (LF or CRLF), trimmed, blank lines dropped; spaces do not separate entries';
test(splitEnvKeysPerLine, () => {
  assert.deepEqual(splitEnvKeys('a/x\r\n\r\n  b/y  \n\t\nc/z'), ['a/x', 'b/y', 'c/z']);
  assert.deepEqual(splitEnvKeys(''), []);
  assert.deepEqual(splitEnvKeys('a/x b/y'), ['a/x b/y'], 'Rauthy/Hiqlite split on lines only');
  const [k1, k2] = [generateKey('k1'), generateKey('k2')];
  const { problems } = parseKeySet({ entries: splitEnvKeys(`${k1} ${k2}`), active: 'k1', ...names });
  assert.match(
    problems.join('\n'),
    /entry 1 \(id "k1"\): the key contains whitespace; put every id\/base64key entry on its own line/,
  );
});

test('every invalid entry kind is reported by position and id, never with the key', () => {
  const k32 = randomBytes(32).toString('base64');
  const k31 = randomBytes(31).toString('base64');
  const k33 = randomBytes(33).toString('base64');
  // A 32-byte key whose standard base64 holds both + and / (so the url-safe form differs).
  let urlSafeSource = randomBytes(32);
  while (!/[+/]/.test(urlSafeSource.toString('base64'))) urlSafeSource = randomBytes(32);
  const urlSafe = `${urlSafeSource.toString('base64url')}=`;
  // Non-canonical: same bytes for Node's lenient decoder, but stray bits in the last character.
  const canonical = Buffer.alloc(32, 0).toString('base64'); // "AAAA...A="
  const nonCanonical = `${canonical.slice(0, -2)}B=`;
  const cases: ReadonlyArray<readonly [string[], string | undefined, RegExp]> = [
    [['noslash'], 'k1', /ENC_KEYS\), entry 1: not of the form id\/base64key \(no "\/" found\)/],
    [[k32], 'k1', /entry 1: looks like a key without its id; write it as id\/base64key/],
    [[`a/${k32}`], 'a', /entry 1: the key id is 1 characters long; it must be 2-20 characters/],
    [[`this_id_is_far_too_long_x/${k32}`], 'k1', /entry 1: the key id is 25 characters long/],
    [[`bad.id/${k32}`], 'k1', /entry 1: the key id contains "\."; it must be 2-20 characters of a-z, A-Z, 0-9, _ or -/],
    [[`ns:k1/${k32}`], 'k1', /contains ":".*newer Rauthy versions also allow ":"/],
    [[`/${k32}`], 'k1', /entry 1: the key id is empty/],
    [['k1/'], 'k1', /entry 1 \(id "k1"\): there is no key after the "\/"/],
    [[`k1/${k31}`], 'k1', /entry 1 \(id "k1"\): the key decodes to 31 bytes; it must be exactly 32/],
    [[`k1/${k33}`], 'k1', /decodes to 33 bytes/],
    [['k1/not*base64'], 'k1', /\(id "k1"\): the key is not standard base64/],
    [[`k1/${urlSafe}`], 'k1', /URL-safe base64 alphabet \(- and _\); it must be standard base64/],
    [[`k1/${k32.replace(/=+$/, '')}`], 'k1', /not padded base64 \(43 characters.*trailing "=" missing/],
    [[`k1/${nonCanonical}`], 'k1', /not canonical base64/],
    [
      [generateKey('k1'), generateKey('k2'), generateKey('k1')],
      'k1',
      /entry 3 \(id "k1"\): the id is already used by entry 1/,
    ],
    [[generateKey('k1')], undefined, /ENC_KEY_ACTIVE\): not set/],
    [[generateKey('k1')], '   ', /ENC_KEY_ACTIVE\): not set/],
    [[generateKey('k1'), generateKey('k2')], 'k3', /"k3" is not one of the configured key ids \(k1, k2\)/],
    [[], 'k1', /ENC_KEYS\): no keys configured/],
    [['', '  '], 'k1', /no keys configured/],
  ];
  for (const [entries, active, re] of cases) {
    const { keySet, problems } = parseKeySet({ entries, active, ...names });
    assert.equal(keySet, undefined, String(re));
    assert.ok(
      problems.some((p) => re.test(p)),
      `${re}\n${problems.join('\n')}`,
    );
    for (const p of problems) {
      for (const m of [k32, k31, k33, urlSafe, nonCanonical, ...entries.map(materialOf).filter((x) => x.length > 8)]) {
        assert.ok(!p.includes(m), `key material in "${p}"`);
      }
    }
  }
});

const allProblemsOnce =
  'all problems at once; an active id whose entry was bad is not ' +
  'reported as missing; key material pasted as the id never echoed';
test(allProblemsOnce, () => {
  const k32 = randomBytes(32).toString('base64');
  const { problems } = parseKeySet({ entries: [`k1/${k32.slice(4)}`, 'nope', `k2/${k32}`], active: 'k1', ...names });
  assert.equal(problems.length, 2, problems.join('\n'));
  assert.match(problems[0]!, /entry 1 \(id "k1"\)/);
  assert.match(problems[1]!, /entry 2: not of the form/);
  // The key pasted into ENC_KEY_ACTIVE: named as not an id, not echoed.
  const pasted = parseKeySet({ entries: [`k2/${k32}`], active: `k2/${k32}`, ...names });
  assert.match(pasted.problems.join('\n'), /ENC_KEY_ACTIVE\): not a key id: .*it is not the key itself/);
  assert.ok(!pasted.problems.join('\n').includes(k32.slice(0, 10)));
  // A key whose base64 contains "/" given without an id: not split into a fake id and echoed.
  let withSlash = randomBytes(32).toString('base64');
  while (withSlash.indexOf('/') < 4 || withSlash.indexOf('/') > 20) withSlash = randomBytes(32).toString('base64');
  const bare = parseKeySet({ entries: [withSlash], active: 'k1', ...names });
  assert.match(bare.problems.join('\n'), /looks like a key without its id/);
  assert.ok(
    !bare.problems.join('\n').includes(withSlash.slice(0, withSlash.indexOf('/'))),
    'the part before "/" was echoed as an id',
  );
});

test('generateKey: 32 CSPRNG bytes in standard padded base64 with a valid id; round-trips through parseKeySet', () => {
  const a = generateKey();
  const b = generateKey('my-key');
  assert.match(a, /^[a-zA-Z0-9]{8}\/[A-Za-z0-9+/]{43}=$/);
  assert.match(b, /^my-key\/[A-Za-z0-9+/]{43}=$/);
  assert.notEqual(materialOf(a), materialOf(b));
  assert.notEqual(a.slice(0, 8), generateKey().slice(0, 8));
  const { keySet, problems } = parseKeySet({ entries: [a, b], active: 'my-key', ...names });
  assert.deepEqual(problems, []);
  assert.equal(keySet?.active.key.toString('base64'), materialOf(b));
  assert.equal(keySet?.get(a.slice(0, 8))?.key.length, 32);
  assert.throws(
    () => generateKey('x'),
    (e: unknown) => e instanceof RangeError && /1 characters long/.test(e.message),
  );
  assert.throws(() => generateKey('bad id'), RangeError);
  assert.equal(keyIdProblem('ok_id-2'), undefined);
  assert.ok(KEY_ID_PATTERN.test(generateKey().split('/')[0]!));
});

test('a key set never shows key material through JSON or util.inspect', () => {
  const key = randomBytes(32);
  const set = createKeySet(
    [
      { id: 'k1', key },
      { id: 'k2', key: randomBytes(32) },
    ],
    'k2',
  );
  const out = JSON.stringify({ set }) + inspect({ set }, { depth: 5 });
  assert.ok(!out.includes(key.toString('base64')) && !out.includes(key.toString('hex')));
  assert.match(out, /k1/);
  assert.deepEqual(JSON.parse(JSON.stringify(set)), { active: 'k2', ids: ['k1', 'k2'] });
  assert.throws(() => createKeySet([{ id: 'k1', key }], 'zz'), RangeError);
});
