// The BackupStore contract against the local folder store, with real files.
import { join } from 'node:path';
import { LocalStore } from '../../src/storage/local.js';
import { runStoreContract } from '../support/store-contract.js';
import { tempDir } from '../support/tmp.js';

runStoreContract('local folder', () => new LocalStore(join(tempDir(), 'backups')), { abort: true });
