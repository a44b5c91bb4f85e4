// docs/library.md: every ```ts example runs as written (each in a process of its own, in a
// fresh folder, against the real S3 server, with keys), and prints what it promises; and the
// page names every option, member, event and export of the library.
import assert from 'node:assert/strict';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { generateKey } from '../../src/crypto/keys.js';
import { createItemsDb } from '../support/db.js';
import { fromCheckout, runTs, tsExamples } from '../support/doc-examples.js';
import { getTestS3, s3Env, type TestS3 } from '../support/s3.js';
import { tempDir } from '../support/tmp.js';

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOC = join(ROOT, 'docs', 'library.md');
const NAME = String.raw`backup_node_1_\d+\.sqlite`;

/** What each example prints (stdout, and stderr where it says so), by heading and number under it. */
const EXPECTED: Record<string, { stdout: RegExp[]; stderr?: RegExp[] }> = {
  'Start 1': { stdout: [new RegExp(`^${NAME}: \\d+ bytes, pushed: true$`, 'm')] },
  'Options 1': {
    stdout: [
      /^database .*\/var\/app\/state_machine\/db\/app\.db, embedded, next backup \d{4}-/m,
      /^keeping at least 5/m,
    ],
  },
  'Options 2': { stdout: [new RegExp(`^sidecar: ${NAME} from .*/app\\.db$`, 'm'), /^NO_HANDLE$/m] },
  'The database handle (`db`) 1': { stdout: [/^notes: 2, journal: wal$/m] },
  'Backups 1': {
    stdout: [new RegExp(`^backed up ${NAME} in \\d+ ms \\(copy, .*upload`, 'm'), /^next scheduled backup: \d{4}-/m],
  },
  'Restores 1': {
    stdout: [new RegExp(`^restored ${NAME} \\(\\d+ bytes\\); the previous database is kept at /`, 'm'), /^rows: 1$/m],
  },
  'Listing and status 1': {
    stdout: [
      new RegExp(`^local: ${NAME} \\(\\d+ bytes\\)$`, 'm'),
      /^remote: 1$/m,
      /^remote store s3 bucket .*: ok$/m,
      new RegExp(`^last backup ${NAME}, last error none$`, 'm'),
      /^successes 1, failures 0, local backups 1$/m,
    ],
  },
  'Events 1': {
    stdout: [new RegExp(`^backup ${NAME}: \\d+ bytes$`, 'm'), /^restored file:\//m, /^remote store ok$/m],
    stderr: [/^restore failed: .*backup_node_1_1\.sqlite/m],
  },
  'Logging 1': { stdout: [/^backup started \{/m, /^Lifeboat stopped$/m] },
  'Logging 2': { stdout: [/"component":"backups".*"msg":"Lifeboat started/] },
  'A store of your own (`remote`) 1': { stdout: [new RegExp(`^local folder .*/nas/app-backups: ${NAME}$`, 'm')] },
  'A store of your own (`remote`) 2': { stdout: [/^objects in the bucket: 1$/m] },
  'The clock (`clock`) 1': {
    stdout: [/^next backup 2026-11-24T02:30:00\.000Z$/m, /^scheduled backup backup_node_1_1795487400\.sqlite$/m],
  },
  'Errors 1': { stdout: [/node_id/, /backup_cron/, /^CLOSED: this Lifeboat instance is closed/m] },
  'Other exports 1': {
    stdout: [
      /^node 2, keep 7 days, warnings: 0$/m,
      /^backup_node_2_1795487400\.sqlite \{ nodeId: 2, unixSeconds: 1795487400 \}$/m,
    ],
  },
};

function keyed() {
  const seen = new Map<string, number>();
  return tsExamples(DOC).map((example) => {
    const n = (seen.get(example.heading) ?? 0) + 1;
    seen.set(example.heading, n);
    return { key: `${example.heading} ${n}`, ...example };
  });
}

test('every example of docs/library.md has its expected output here, and each expectation its example', () => {
  assert.deepEqual(
    keyed()
      .map((e) => e.key)
      .sort(),
    Object.keys(EXPECTED).sort(),
  );
});

test('the examples of docs/library.md run as written', { concurrency: 2 }, async (t) => {
  for (const example of keyed()) {
    await t.test(`${example.key} (docs/library.md line ${example.line})`, async () => {
      const expected = EXPECTED[example.key];
      assert.ok(expected, example.key);
      const cwd = tempDir();
      // As in an application folder: its dependencies (pino, …) resolve; `lifeboat` is this checkout's source.
      symlinkSync(join(ROOT, 'node_modules'), join(cwd, 'node_modules'), 'dir');
      createItemsDb(join(cwd, 'app.db'), 10); // "a database another process writes" (the sidecar example)
      const file = join(cwd, 'example.mts');
      writeFileSync(file, fromCheckout(example.code));
      const env = { ...s3Env(await s3.place()), ENC_KEYS: generateKey('doc'), ENC_KEY_ACTIVE: 'doc' };
      const res = await runTs(file, cwd, env);
      const output = `--- stdout\n${res.stdout}--- stderr\n${res.stderr}`;
      assert.equal(res.code, 0, output);
      for (const re of expected.stdout) assert.match(res.stdout, re, output);
      for (const re of expected.stderr ?? []) assert.match(res.stderr, re, output);
    });
  }
});

/** The names a declaration list holds, read from the source with the TypeScript parser. */
function declarations(file: string) {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const members = (name: string, kind: 'interface' | 'class') => {
    let found: ts.NodeArray<ts.ClassElement | ts.TypeElement> | undefined;
    source.forEachChild((node) => {
      if (kind === 'interface' && ts.isInterfaceDeclaration(node) && node.name.text === name) found = node.members;
      if (kind === 'class' && ts.isClassDeclaration(node) && node.name?.text === name) found = node.members;
    });
    assert.ok(found, `${name} in ${file}`);
    return found
      .filter(
        (m) => !ts.canHaveModifiers(m) || !ts.getModifiers(m)?.some((x) => x.kind === ts.SyntaxKind.PrivateKeyword),
      )
      .map((m) => m.name)
      .filter((n): n is ts.Identifier => n !== undefined && ts.isIdentifier(n))
      .map((n) => n.text);
  };
  return members;
}

test('docs/library.md names every option, method, property and event of Lifeboat, and every export', () => {
  const doc = readFileSync(DOC, 'utf8');
  const named = (name: string) => new RegExp(`\`(lifeboat\\.|Lifeboat\\.)?${name}[\`(: ]`).test(doc);
  const lifeboat = declarations(join(ROOT, 'src', 'lifeboat.ts'));
  const options = lifeboat('LifeboatOptions', 'interface');
  const members = lifeboat('Lifeboat', 'class').filter((n) => n !== 'constructor');
  const events = lifeboat('LifeboatEvents', 'interface');
  assert.ok(options.includes('backupOnStart') && members.includes('whenStarted') && events.includes('error'));
  for (const option of options) assert.match(doc, new RegExp(`^\\| \`${option}\` `, 'm'), `option ${option}`);
  for (const name of [...members, ...events]) assert.ok(named(name), `\`${name}\` is not in docs/library.md`);

  const index = ts.createSourceFile('index.ts', readFileSync(join(ROOT, 'src', 'index.ts'), 'utf8'), 99, true);
  const exported: string[] = [];
  index.forEachChild((node) => {
    if (ts.isExportDeclaration(node) && node.exportClause && ts.isNamedExports(node.exportClause)) {
      for (const e of node.exportClause.elements) exported.push(e.name.text);
    }
  });
  assert.ok(exported.length > 20 && exported.includes('Lifeboat'));
  for (const name of exported) assert.ok(named(name), `the export \`${name}\` is not in docs/library.md`);
});
