// The package as an application's TypeScript sees it: the declaration files of `npm run build`
// in node_modules/lifeboat of an empty project that holds only Lifeboat's declared dependencies
// (from package-lock.json), not its devDependencies. scripts/check-pack.sh does the same with
// a real `npm install` of the packed tarball (in CI; it compiles better-sqlite3 first).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tsExamples } from './support/doc-examples.js';
import { tempDir } from './support/tmp.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** Top-level packages npm installs for a user of Lifeboat: the lockfile's entries not marked dev. */
function runtimePackages(): string[] {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; optional?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([path, p]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path) && !p.dev)
    .map(([path]) => path.slice('node_modules/'.length))
    .filter((name) => existsSync(join(ROOT, 'node_modules', name)));
}

/** An application folder with Lifeboat built into node_modules/lifeboat and its runtime dependencies beside it. */
async function application(app: string): Promise<void> {
  const pkg = join(app, 'node_modules', 'lifeboat');
  mkdirSync(pkg, { recursive: true });
  copyFileSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  await run(process.execPath, [TSC, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')]);
  for (const name of runtimePackages()) {
    mkdirSync(dirname(join(app, 'node_modules', name)), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', name), join(app, 'node_modules', name), 'dir');
  }
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
      },
      include: ['*.ts'],
    }),
  );
}

// What the application checks: each line fails to compile if `db` or an event were `any`.
const CONSUMER = `import { Lifeboat, type BackupReport, type LifeboatLogger } from 'lifeboat';
import { S3Store } from 'lifeboat/s3';

const logger: LifeboatLogger = console;
const lifeboat = await Lifeboat.open({ logger, schedule: false });
const changes: number = lifeboat.db.prepare('INSERT INTO notes (body) VALUES (?)').run('x').changes;
// @ts-expect-error prepare() takes SQL text
lifeboat.db.prepare(42);
const row = lifeboat.db.prepare<[number], { body: string }>('SELECT body FROM notes WHERE id = ?').get(1);
const body: string | undefined = row?.body;
lifeboat.on('backup', (report: BackupReport) => console.log(report.name, changes, body));
lifeboat.on('error', (err, operation) => console.error(operation === 'restore', err.message));
// @ts-expect-error no such event
lifeboat.on('backups', () => undefined);
// @ts-expect-error a backup listener gets a report, not a string
lifeboat.on('backup', (name: string) => name);
export const store: typeof S3Store = S3Store;
await lifeboat.close();
`;

async function typecheck(app: string): Promise<{ ok: boolean; output: string }> {
  try {
    await run(process.execPath, [TSC, '-p', join(app, 'tsconfig.json')], { cwd: app });
    return { ok: true, output: '' };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

// Made here, not in the hook: a clean-up registered inside a hook runs when the hook ends.
const app = tempDir('lifeboat-app-');
before(() => application(app));

test("import('lifeboat') does not load the AWS SDK; import('lifeboat/s3') does", async () => {
  const script = `
    import { createRequire } from 'node:module';
    const sdk = () => Object.keys(createRequire(import.meta.url).cache).filter((p) => p.includes('/@aws-sdk/')).length;
    const { Lifeboat } = await import('lifeboat');
    const before = sdk();
    const { S3Store } = await import('lifeboat/s3');
    console.log(JSON.stringify({ lifeboat: typeof Lifeboat, s3Store: typeof S3Store, before, after: sdk() }));
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app });
  const got = JSON.parse(stdout) as { lifeboat: string; s3Store: string; before: number; after: number };
  assert.equal(got.lifeboat, 'function');
  assert.equal(got.s3Store, 'function');
  assert.equal(got.before, 0, 'no module of the SDK is loaded by lifeboat itself');
  assert.ok(got.after > 0, 'the s3 entry loads it');
});

test("lifeboat.db and the events are typed in an application that has only Lifeboat's dependencies", async () => {
  assert.ok(!existsSync(join(app, 'node_modules', 'typescript')), 'devDependencies are not installed');
  writeFileSync(join(app, 'consumer.ts'), CONSUMER);
  // The examples of docs/library.md compile against the published types too (a misnamed option would not).
  for (const example of tsExamples(join(ROOT, 'docs', 'library.md'))) {
    writeFileSync(join(app, `library-md-line-${example.line}.ts`), example.code);
  }
  const checked = await typecheck(app);
  assert.ok(checked.ok, checked.output);

  // The check bites: without the driver's types `db` is `any`, and the expected errors go missing.
  rmSync(join(app, 'node_modules', '@types', 'better-sqlite3'));
  const without = await typecheck(app);
  assert.equal(without.ok, false);
  assert.match(without.output, /consumer\.ts\(7,1\): error TS2578: Unused '@ts-expect-error' directive/);
});
