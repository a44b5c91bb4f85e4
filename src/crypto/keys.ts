import { randomBytes } from 'node:crypto';

/**
 * The encryption key set, as Rauthy/Hiqlite configure it: `ENC_KEYS` holds `id/base64key`
 * entries, `ENC_KEY_ACTIVE` names the one used to encrypt. Every key stays usable for
 * decryption, which is what makes key rotation work. Key material never enters a message.
 */

export interface EncryptionKey {
  readonly id: string;
  readonly key: Buffer;
}

export interface KeySet {
  readonly active: EncryptionKey;
  readonly ids: readonly string[];
  get(id: string): EncryptionKey | undefined;
}

export interface KeySetInput {
  /** Raw `id/base64key` entries. */
  readonly entries: readonly string[];
  /** The active key id. */
  readonly active: string | undefined;
  /** How to name the entries in messages, e.g. `encryption.keys (ENC_KEYS)`. */
  readonly entriesName: string;
  /** How to name the active id in messages, e.g. `encryption.key_active (ENC_KEY_ACTIVE)`. */
  readonly activeName: string;
}

export const KEY_ID_PATTERN = /^[a-zA-Z0-9_-]{2,20}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
export const KEY_BYTES = 32;

/** ENC_KEYS from the environment: one entry per line (any whitespace separates entries). */
export function splitEnvKeys(value: string): string[] {
  return value
    .split(/\s+/)
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
}

/** Validates a key set; never puts key material into a problem message. */
export function parseKeySet(input: KeySetInput): { keySet: KeySet | undefined; problems: string[] } {
  const problems: string[] = [];
  const keys = new Map<string, EncryptionKey>();
  input.entries.forEach((raw, index) => {
    const entry = raw.trim();
    const where = `${input.entriesName}, entry ${index + 1}`;
    const slash = entry.indexOf('/');
    if (slash < 0) {
      problems.push(`${where}: not of the form id/base64key (no "/" found); generate one with \`lifeboat keys generate\``);
      return;
    }
    const id = entry.slice(0, slash).trim();
    const b64 = entry.slice(slash + 1).trim();
    if (!KEY_ID_PATTERN.test(id)) {
      problems.push(`${where}: key id ${JSON.stringify(id.slice(0, 40))} must be 2-20 characters of a-z, A-Z, 0-9, _ or -`);
      return;
    }
    if (keys.has(id)) {
      problems.push(`${where}: key id "${id}" appears more than once; every id must be unique`);
      return;
    }
    const bytes = BASE64.test(b64) && b64.length % 4 === 0 ? Buffer.from(b64, 'base64') : undefined;
    if (!bytes) {
      problems.push(`${where} (id "${id}"): the key is not standard base64 (A-Z a-z 0-9 + / with = padding)`);
      return;
    }
    if (bytes.length !== KEY_BYTES) {
      problems.push(`${where} (id "${id}"): the key decodes to ${bytes.length} bytes, it must be exactly ${KEY_BYTES} random bytes`);
      return;
    }
    keys.set(id, { id, key: bytes });
  });
  if (input.entries.length === 0) problems.push(`${input.entriesName}: no keys configured; add at least one id/base64key entry`);
  const activeId = input.active?.trim();
  let active: EncryptionKey | undefined;
  if (!activeId) {
    problems.push(`${input.activeName}: not set; name the id of the key in ${input.entriesName} that encrypts new data`);
  } else {
    active = keys.get(activeId);
    if (!active && problems.length === 0) {
      problems.push(`${input.activeName}: "${activeId}" is not one of the configured key ids (${[...keys.keys()].join(', ') || 'none'})`);
    }
  }
  if (problems.length > 0 || !active) return { keySet: undefined, problems };
  return { keySet: createKeySet([...keys.values()], active.id), problems };
}

export function createKeySet(keys: readonly EncryptionKey[], activeId: string): KeySet {
  const byId = new Map(keys.map((k) => [k.id, k]));
  const active = byId.get(activeId);
  if (!active) throw new RangeError(`active key id "${activeId}" is not in the key set`);
  return Object.freeze({
    active,
    ids: Object.freeze([...byId.keys()]),
    get: (id: string) => byId.get(id),
    // Keys must not leak through JSON.stringify or util.inspect of a config object.
    toJSON: () => ({ active: active.id, ids: [...byId.keys()] }),
    [Symbol.for('nodejs.util.inspect.custom')]: () => `KeySet { active: '${active.id}', ids: [${[...byId.keys()].map((i) => `'${i}'`).join(', ')}] }`,
  });
}

/** A new `id/base64key` line from 32 CSPRNG bytes; a random 8-character id when none is given. */
export function generateKey(id?: string): string {
  const keyId = id ?? randomId(8);
  if (!KEY_ID_PATTERN.test(keyId)) throw new RangeError(`key id "${keyId}" must be 2-20 characters of a-z, A-Z, 0-9, _ or -`);
  return `${keyId}/${randomBytes(KEY_BYTES).toString('base64')}`;
}

function randomId(length: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const bytes = randomBytes(length);
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
}
