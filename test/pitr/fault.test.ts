import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { FAULT_ENV, FAULT_POINTS } from '../../src/pitr/fault.js';

const fault = new URL('../../src/pitr/fault.ts', import.meta.url).href;

/** A process that passes `point` and then prints `alive`. */
function pass(point: string, env: Record<string, string>) {
  const script =
    `const { faultPoint } = await import(${JSON.stringify(fault)}); ` +
    `faultPoint(${JSON.stringify(point)}); console.log('alive');`;
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
}

test('a fault point kills its process with SIGKILL when LIFEBOAT_FAULT names it, and only then', () => {
  const armed = pass('after-seal', { [FAULT_ENV]: 'after-seal' });
  assert.equal(armed.signal, 'SIGKILL');
  assert.equal(armed.stdout, '');
  const other = pass('after-seal', { [FAULT_ENV]: 'after-put' });
  assert.equal(other.status, 0, other.stderr);
  assert.equal(other.stdout, 'alive\n');
  const unset = pass('after-seal', {});
  assert.equal(unset.stdout, 'alive\n');
  assert.equal(new Set(FAULT_POINTS).size, FAULT_POINTS.length);
});
