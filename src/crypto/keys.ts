import { randomBytes } from 'node:crypto';

/**
 * The encryption key set, as Rauthy/Hiqlite configure it: `ENC_KEYS` holds `id/base64key`
 * entries, `ENC_KEY_ACTIVE` names the one used to encrypt. Every key stays usable for
 * decryption, which is what makes key rotation work. Key material never enters a message:
 * problems name an entry by its position and (when it is a valid id) its id, nothing else.
 *
 * Parsing follows cryptr (the crate Hiqlite and Rauthy use): split at the first `/`, trim
 * both parts, the id must match {@link KEY_ID_PATTERN}, the key is *standard* base64 (the
 * `base64` crate's STANDARD engine: `+` and `/`, `=` padding required, canonical) of exactly
 * 32 bytes. Lifeboat is stricter than cryptr in two ways: an entry without `/` is an error
 * (cryptr skips it silently), and a repeated id is an error (cryptr uses the first one).
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
  /** Raw `id/base64key` entries. Blank entries are ignored. */
  readonly entries: readonly string[];
  /** The active key id. */
  readonly active: string | undefined;
  /** How to name the entries in messages, e.g. `encryption.keys (ENC_KEYS)`. */
  readonly entriesName: string;
  /** How to name the active id in messages, e.g. `encryption.key_active (ENC_KEY_ACTIVE)`. */
  readonly activeName: string;
}

export const KEY_ID_PATTERN = /^[a-zA-Z0-9_-]{2,20}$/;
export const KEY_BYTES = 32;
const STANDARD_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/**
 * ENC_KEYS from the environment: one entry per line (`\n` or `\r\n`), each trimmed, blank
 * lines dropped — exactly what Hiqlite's and Rauthy's `t_str_vec` do (`str::lines`). Entries
 * separated by spaces on one line are *not* split (Rauthy does not split them either; only
 * cryptr's legacy converter did); {@link parseKeySet} reports such a line with a hint.
 */
export function splitEnvKeys(value: string): string[] {
  return value
    .split(/\r?\n/)
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
}

/**
 * Why `id` is not a valid key id, or undefined when it is. Never repeats the id itself: a
 * wrong "id" is often a piece of a key pasted into the wrong place.
 */
export function keyIdProblem(id: string): string | undefined {
  if (KEY_ID_PATTERN.test(id)) return undefined;
  if (id.length === 0) return 'the key id is empty';
  const bad = [...new Set([...id].filter((c) => !/[a-zA-Z0-9_-]/.test(c)))];
  const parts: string[] = [];
  if (id.length < 2 || id.length > 20) parts.push(`is ${id.length} characters long`);
  if (bad.length > 0)
    parts.push(
      `contains ${bad
        .map((c) => (/\s/.test(c) ? 'whitespace' : JSON.stringify(c)))
        .filter((c, i, a) => a.indexOf(c) === i)
        .join(', ')}`,
    );
  const colon = bad.includes(':')
    ? ' (newer Rauthy versions also allow ":"; the key spec Lifeboat follows does not)'
    : '';
  return `the key id ${parts.join(' and ')}; it must be 2-20 characters of a-z, A-Z, 0-9, _ or -${colon}`;
}

/**
 * Decodes standard, padded, canonical base64 (as Rust's `base64::engine::general_purpose::STANDARD`),
 * or says why not.
 */
function decodeStandardBase64(b64: string): { bytes: Buffer } | { problem: string } {
  if (/[-_]/.test(b64) && /^[A-Za-z0-9\-_]*={0,2}$/.test(b64)) {
    return {
      problem:
        'the key uses the URL-safe base64 alphabet (- and _); it must be ' +
        'standard base64 (+ and /), as `openssl rand -base64 32` prints',
    };
  }
  if (!STANDARD_BASE64.test(b64))
    return { problem: 'the key is not standard base64 (only A-Z a-z 0-9 + / and = padding at the end)' };
  if (b64.length % 4 !== 0)
    return {
      problem:
        `the key is not padded base64 (${b64.length} characters, ` +
        `not a multiple of 4; is the trailing "=" missing?)`,
    };
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.toString('base64') !== b64)
    return {
      problem: 'the key is not canonical base64 (the last character carries stray bits); cryptr rejects it too',
    };
  return { bytes };
}

/** True when `entry` as a whole is a 32-byte key, i.e. the `id/` part was forgotten. */
function isBareKey(entry: string): boolean {
  const d = decodeStandardBase64(entry);
  return 'bytes' in d && d.bytes.length === KEY_BYTES;
}

/** Validates a key set; never puts key material into a problem message. */
export function parseKeySet(input: KeySetInput): { keySet: KeySet | undefined; problems: string[] } {
  const problems: string[] = [];
  const keys = new Map<string, EncryptionKey>();
  /** Every valid id seen, even of entries whose key was bad: position of first use. */
  const seen = new Map<string, number>();
  let count = 0;
  input.entries.forEach((raw, index) => {
    const entry = raw.trim();
    if (entry === '') return;
    count++;
    const where = `${input.entriesName}, entry ${index + 1}`;
    if (isBareKey(entry)) {
      problems.push(`${where}: looks like a key without its id; write it as id/base64key, e.g. k1/<key>`);
      return;
    }
    const slash = entry.indexOf('/');
    if (slash < 0) {
      problems.push(
        `${where}: not of the form id/base64key (no "/" found); generate one with \`lifeboat keys generate\``,
      );
      return;
    }
    const id = entry.slice(0, slash).trim();
    const b64 = entry.slice(slash + 1).trim();
    const idProblem = keyIdProblem(id);
    if (idProblem) {
      problems.push(`${where}: ${idProblem}`);
      return;
    }
    const named = `${where} (id "${id}")`;
    const first = seen.get(id);
    if (first !== undefined) {
      problems.push(`${named}: the id is already used by entry ${first}; every id must be unique`);
      return;
    }
    seen.set(id, index + 1);
    if (b64 === '') {
      problems.push(`${named}: there is no key after the "/"`);
      return;
    }
    if (/\s/.test(b64)) {
      problems.push(
        `${named}: the key contains whitespace; put every id/base64key ` +
          `entry on its own line (ENC_KEYS) or in its own array element (TOML)`,
      );
      return;
    }
    const decoded = decodeStandardBase64(b64);
    if ('problem' in decoded) {
      problems.push(`${named}: ${decoded.problem}`);
      return;
    }
    if (decoded.bytes.length !== KEY_BYTES) {
      problems.push(
        `${named}: the key decodes to ${decoded.bytes.length} bytes; ` +
          `it must be exactly ${KEY_BYTES} random bytes (\`lifeboat keys generate\`)`,
      );
      return;
    }
    keys.set(id, { id, key: decoded.bytes });
  });
  if (count === 0)
    problems.push(
      `${input.entriesName}: no keys configured; add at least one ` +
        `id/base64key entry (\`lifeboat keys generate\` prints one)`,
    );

  const activeId = input.active?.trim();
  if (!activeId) {
    problems.push(
      `${input.activeName}: not set; set it to the id of the key in ${input.entriesName} that encrypts new data`,
    );
  } else {
    const idProblem = keyIdProblem(activeId);
    if (idProblem) {
      problems.push(`${input.activeName}: not a key id: ${idProblem} (it names a key, it is not the key itself)`);
    } else if (!seen.has(activeId)) {
      const ids = [...seen.keys()];
      problems.push(
        `${input.activeName}: "${activeId}" is not one of the ` +
          `configured key ids (${ids.length ? ids.join(', ') : 'none'})`,
      );
    }
  }
  const active = activeId ? keys.get(activeId) : undefined;
  if (problems.length > 0 || !active) return { keySet: undefined, problems };
  return { keySet: createKeySet([...keys.values()], active.id), problems };
}

export function createKeySet(keys: readonly EncryptionKey[], activeId: string): KeySet {
  const byId = new Map(keys.map((k) => [k.id, k]));
  const active = byId.get(activeId);
  if (!active) throw new RangeError(`active key id "${activeId}" is not in the key set`);
  const ids = Object.freeze([...byId.keys()]);
  return Object.freeze({
    active,
    ids,
    get: (id: string) => byId.get(id),
    // Keys must not leak through JSON.stringify or util.inspect of a config object.
    toJSON: () => ({ active: active.id, ids: [...ids] }),
    [Symbol.for('nodejs.util.inspect.custom')]: () =>
      `KeySet { active: '${active.id}', ids: [${ids.map((i) => `'${i}'`).join(', ')}] }`,
  });
}

/**
 * A new `id/base64key` line from 32 CSPRNG bytes (standard base64, padded: what Rauthy's
 * `openssl rand -base64 32` recipe gives). Without an id, a random 8-character
 * [a-zA-Z0-9] one. Throws a RangeError for an invalid id.
 */
export function generateKey(id?: string): string {
  const keyId = id ?? randomId(8);
  const problem = keyIdProblem(keyId);
  if (problem) throw new RangeError(problem);
  return `${keyId}/${randomBytes(KEY_BYTES).toString('base64')}`;
}

/** Uniform over the 62-character alphabet (rejection sampling: no modulo bias). */
function randomId(length: number): string {
  const limit = 256 - (256 % ID_ALPHABET.length);
  let id = '';
  while (id.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < limit && id.length < length) id += ID_ALPHABET[b % ID_ALPHABET.length];
    }
  }
  return id;
}
