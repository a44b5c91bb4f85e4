// The BackupStore contract against the local folder store, with real files.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalStore } from '../../src/storage/local.js';
import { runStoreContract } from '../support/store-contract.js';
import { tempDir } from '../support/tmp.js';

// A staged file is a temp file in the folder: none may stay behind.
const leftovers = async (store: unknown) =>
  (await readdir((store as LocalStore).dir).catch(() => [])).filter((f) => f.startsWith('.')).length;

runStoreContract('local folder', () => new LocalStore(join(tempDir(), 'backups')), { leftovers });
