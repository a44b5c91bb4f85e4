import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import { test } from 'node:test';
import type { EncryptionKey, KeySet } from '../../src/crypto/keys.js';
import { decryptValue, encryptValue } from '../../src/crypto/value.js';
import { LifeboatError } from '../../src/errors.js';

const KEY_A: EncryptionKey = { id: 'keyA', key: Buffer.alloc(32, 0xa1) };
const KEY_B: EncryptionKey = { id: 'keyB', key: Buffer.alloc(32, 0xb2) };

function keySet(active: EncryptionKey, ...others: EncryptionKey[]): KeySet {
  const all = [active, ...others];
  return { active, ids: all.map((k) => k.id), get: (id) => all.find((k) => k.id === id) };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof LifeboatError ? err.code : String(err);
  }
  return 'none';
}

test('a value is header (chunk size 0) + 12-byte nonce + ciphertext || tag, openable by hand', () => {
  const plain = Buffer.from('secret value');
  const value = encryptValue(KEY_A, plain);
  assert.equal(value.toString('hex', 0, 10), `0101000a0000${Buffer.from('keyA').toString('hex')}`);
  assert.equal(value.length, 10 + 12 + plain.length + 16);
  // Independent open: nonce straight after the header, tag at the end.
  const d = createDecipheriv('chacha20-poly1305', KEY_A.key, value.subarray(10, 22), { authTagLength: 16 });
  d.setAuthTag(value.subarray(value.length - 16));
  const opened = Buffer.concat([d.update(value.subarray(22, value.length - 16)), d.final()]);
  assert.equal(opened.toString(), 'secret value');
  assert.equal(decryptValue(keySet(KEY_B, KEY_A), value).toString(), 'secret value', 'any key of the set');
  assert.equal(decryptValue(keySet(KEY_A), encryptValue(KEY_A, Buffer.alloc(0))).length, 0, 'an empty value');
  assert.ok(!encryptValue(KEY_A, plain).equals(value), 'a fresh random nonce every time');
});

test('value failures: unknown id, wrong key, tampering, truncation, a stream instead of a value', () => {
  const value = encryptValue(KEY_A, Buffer.from('secret value'));
  assert.equal(
    code(() => decryptValue(keySet(KEY_B), value)),
    'KEY_UNKNOWN',
  );
  assert.equal(
    code(() => decryptValue(keySet({ id: 'keyA', key: Buffer.alloc(32, 7) }), value)),
    'AUTH_FAILED',
  );
  for (const at of [10, 21, 22, value.length - 1]) {
    const bad = Buffer.from(value);
    bad[at]! ^= 1;
    assert.equal(
      code(() => decryptValue(keySet(KEY_A), bad)),
      'AUTH_FAILED',
      `flip at ${at}`,
    );
  }
  assert.equal(
    code(() => decryptValue(keySet(KEY_A), value.subarray(0, 15))),
    'TRUNCATED',
  );
  assert.equal(
    code(() => decryptValue(keySet(KEY_A), value.subarray(0, 30))),
    'TRUNCATED',
  );
  assert.equal(
    code(() => decryptValue(keySet(KEY_A), value.subarray(0, value.length - 1))),
    'AUTH_FAILED',
  );
  const stream = Buffer.from(value);
  stream.writeUInt16BE(128, 4);
  assert.equal(
    code(() => decryptValue(keySet(KEY_A), stream)),
    'BAD_HEADER',
  );
  let message = '';
  try {
    decryptValue(keySet(KEY_B), value);
  } catch (err) {
    message = (err as Error).message;
  }
  assert.match(message, /key id "keyA".*configured ids: keyB/);
  assert.ok(!message.includes(KEY_B.key.toString('base64')));
});
