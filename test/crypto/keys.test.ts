import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateKey, parseKeySet, splitEnvKeys } from '../../src/crypto/keys.js';

const names = { entriesName: 'encryption.keys (ENC_KEYS)', activeName: 'encryption.key_active (ENC_KEY_ACTIVE)' };
const good = (id: string) => generateKey(id);

test('a valid set with several keys; the active one encrypts, all decrypt', () => {
  const a = good('old_key');
  const b = good('new-key');
  const { keySet, problems } = parseKeySet({ entries: splitEnvKeys(`\n  ${a}\r\n\n${b}  \n`), active: 'new-key', ...names });
  assert.deepEqual(problems, []);
  assert.equal(keySet?.active.id, 'new-key');
  assert.deepEqual(keySet?.ids, ['old_key', 'new-key']);
  assert.equal(keySet?.get('old_key')?.key.toString('base64'), a.slice(a.indexOf('/') + 1));
  assert.equal(keySet?.get('nope'), undefined);
});

test('every invalid entry is reported by position and id, never with the key', () => {
  const material = Buffer.alloc(31, 7).toString('base64');
  const cases: ReadonlyArray<readonly [string[], string | undefined, RegExp]> = [
    [['noslash'], 'x', /entry 1: not of the form id\/base64key/],
    [[`a/${Buffer.alloc(32).toString('base64')}`], 'a', /key id "a" must be 2-20 characters/],
    [[`this_id_is_far_too_long_x/${Buffer.alloc(32).toString('base64')}`], 'x', /2-20 characters/],
    [[`bad.id/${Buffer.alloc(32).toString('base64')}`], 'x', /2-20 characters/],
    [[`k1/${material}`], 'k1', /decodes to 31 bytes, it must be exactly 32/],
    [['k1/not*base64'], 'k1', /not standard base64/],
    [[`k1/${Buffer.alloc(32).toString('base64url')}`.replace(/=+$/, '')], 'k1', /not standard base64/],
    [[good('k1'), good('k1')], 'k1', /entry 2: key id "k1" appears more than once/],
    [[good('k1')], undefined, /ENC_KEY_ACTIVE\): not set/],
    [[good('k1')], 'k2', /"k2" is not one of the configured key ids \(k1\)/],
    [[], 'k1', /no keys configured/],
  ];
  for (const [entries, active, re] of cases) {
    const { keySet, problems } = parseKeySet({ entries, active, ...names });
    assert.equal(keySet, undefined);
    assert.ok(problems.some((p) => re.test(p)), `${re}\n${problems.join('\n')}`);
    for (const p of problems) assert.ok(!p.includes(material) && !p.includes(Buffer.alloc(32).toString('base64')), `key material in "${p}"`);
  }
});

test('generated keys are 32 random bytes with a valid id', () => {
  const a = generateKey();
  const b = generateKey('my-key');
  assert.match(a, /^[a-zA-Z0-9]{8}\/[A-Za-z0-9+/]{43}=$/);
  assert.match(b, /^my-key\//);
  assert.notEqual(a.slice(a.indexOf('/') + 1), b.slice(b.indexOf('/') + 1));
  assert.equal(Buffer.from(b.slice(b.indexOf('/') + 1), 'base64').length, 32);
  assert.throws(() => generateKey('x'), RangeError);
});
