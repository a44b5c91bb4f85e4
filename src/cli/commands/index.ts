import type { Command } from 'commander';
import { registerBackup } from './backup.js';
import { registerConfig } from './config.js';
import { registerDecrypt } from './decrypt.js';
import { registerDoctor } from './doctor.js';
import { registerEncrypt } from './encrypt.js';
import { registerIdentity } from './identity.js';
import { registerKeys } from './keys.js';
import { registerList } from './list.js';
import { registerPitr } from './pitr.js';
import { registerRestore } from './restore.js';
import { registerSchedule } from './schedule.js';
import { registerServe } from './serve.js';
import { registerVerify } from './verify.js';

/** Each command lives in its own file and registers itself on the program. */
export type RegisterCommand = (program: Command) => void;

export const commands: readonly RegisterCommand[] = [
  registerServe,
  registerBackup,
  registerList,
  registerSchedule,
  registerConfig,
  registerEncrypt,
  registerDecrypt,
  registerKeys,
  registerRestore,
  registerVerify,
  registerPitr,
  registerIdentity,
  registerDoctor,
];
