import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

test('--version and -V print the package version', async () => {
  const [long, short] = await Promise.all([runCli(['--version']), runCli(['-V'])]);
  for (const r of [long, short]) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${VERSION}\n`);
    assert.equal(r.stderr, '');
  }
});

test('a usage error prints the error and one hint line, not the whole help', async () => {
  const [option, nested, command, missing] = await Promise.all([
    runCli(['backup', '--nope']),
    runCli(['keys', 'list', '--x']),
    runCli(['bakup']),
    runCli(['restore']),
  ]);
  assert.equal(option.code, 2);
  assert.equal(option.stdout, '');
  assert.equal(option.stderr, "lifeboat: unknown option '--nope'\ntry 'lifeboat backup --help'\n");
  assert.equal(nested.code, 2);
  assert.equal(nested.stderr, "lifeboat: unknown option '--x'\ntry 'lifeboat keys list --help'\n");
  assert.equal(command.code, 2);
  assert.match(
    command.stderr,
    /^lifeboat: unknown command 'bakup'\n\(Did you mean backup\?\)\ntry 'lifeboat --help'\n$/,
  );
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, "lifeboat: missing required argument 'source'\ntry 'lifeboat restore --help'\n");
  for (const r of [option, nested, command, missing]) assert.doesNotMatch(r.stdout + r.stderr, /Usage:|Options:/);
});

test('--help still prints the whole help, with the global options', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /-V, --version/);
  assert.match(r.stdout, /--log-level <level>/);
});
