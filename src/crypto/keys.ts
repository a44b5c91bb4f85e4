// Placeholder: the encryption work owns this module. Contract used by config:
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

/** Validates a key set; never puts key material into a problem message. */
export function parseKeySet(input: KeySetInput): { keySet: KeySet | undefined; problems: string[] } {
  void input;
  throw new Error('not implemented yet');
}
