import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, ERROR_CODES, type ErrorCode, EXIT_FAILURE, EXIT_USAGE, LifeboatError } from '../src/errors.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOC = 'docs/errors.md';

/** Codes the CLI never shows under their own name: it reports them as CONFIG_INVALID (exit 2). */
const REPORTED_AS_CONFIG_INVALID: readonly ErrorCode[] = ['CRON_INVALID'];

/** The rows of docs/errors.md's tables: code, what happened, exit, what to do. */
function documented(): Map<string, readonly string[]> {
  const rows = new Map<string, readonly string[]>();
  for (const line of readFileSync(join(ROOT, DOC), 'utf8').split('\n')) {
    if (!line.startsWith('| `')) continue;
    const cells = line
      .slice(1, -1)
      .split('|')
      .map((c) => c.trim());
    const code = cells[0]!.replaceAll('`', '');
    assert.ok(!rows.has(code), `${code} is documented twice in ${DOC}`);
    rows.set(code, cells);
  }
  return rows;
}

test(`${DOC} documents exactly the codes of ERROR_CODES, each with what happened, the exit code and what to do`, () => {
  assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length, 'a code twice in ERROR_CODES');
  const rows = documented();
  assert.deepEqual(
    [...rows.keys()].sort(),
    [...ERROR_CODES].sort(),
    `${DOC} and ERROR_CODES (src/errors.ts) must list the same codes`,
  );
  for (const code of ERROR_CODES) {
    const [, happened, exit, todo] = rows.get(code)!;
    assert.ok(happened && todo, `${code}: both "what happened" and "what to do"`);
    const expected =
      code === 'CONFIG_INVALID'
        ? new ConfigError(['x']).exitCode
        : REPORTED_AS_CONFIG_INVALID.includes(code)
          ? EXIT_USAGE
          : new LifeboatError(code, 'x').exitCode;
    assert.equal(exit, String(expected), `${code}: exit code`);
  }
  assert.equal(new ConfigError(['x']).exitCode, EXIT_USAGE);
  assert.equal(new LifeboatError('NOT_FOUND', 'x').exitCode, EXIT_FAILURE);
});

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

test('every code in ERROR_CODES is raised somewhere in src/ (no stale codes in the list or the doc)', () => {
  const text = sources(join(ROOT, 'src'))
    .map((file) => readFileSync(file, 'utf8'))
    .join('\n')
    .replace(/export const ERROR_CODES = \[[^\]]*\] as const;/, '');
  for (const code of ERROR_CODES) assert.ok(text.includes(`'${code}'`), `${code} is not used in src/`);
});

test('a code that is not in ERROR_CODES does not compile', () => {
  // @ts-expect-error: 'NOT_A_CODE' is not an ErrorCode (tsc fails if this line compiles)
  const err = new LifeboatError('NOT_A_CODE', 'x');
  assert.equal(err.code, 'NOT_A_CODE');
});
