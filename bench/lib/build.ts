import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './util.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** How a child process runs Lifeboat's code: compiled JavaScript (as shipped) or through tsx. */
export interface ChildRuntime {
  readonly kind: 'compiled' | 'tsx';
  /** `node` arguments that run bench/child.ts. */
  readonly childArgs: readonly string[];
  /** `node` arguments that run another script of bench/ the same way (`name` without extension). */
  scriptArgs(name: string): string[];
}

/**
 * Compiles src/ and bench/child.ts into `dir` the way `npm run build` does (tsc, no bundler),
 * so the measured processes load plain JavaScript as a deployed Lifeboat does — tsx adds
 * ~30 MB of RSS (its loader thread and transpile caches) that production never pays.
 * Layout mirrors the repository (out/src, out/bench); the SQLite worker is compiled beside its client.
 * `extra` names more entry files (relative to the repository), e.g. test/support scripts the soak spawns.
 */
export async function compileForChildren(
  dir: string,
  log: (s: string) => void,
  extra: readonly string[] = [],
): Promise<ChildRuntime> {
  const out = join(dir, 'out');
  mkdirSync(out, { recursive: true });
  const tsconfig = join(dir, 'tsconfig.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: join(REPO, 'tsconfig.json'),
      compilerOptions: {
        rootDir: REPO,
        outDir: out,
        typeRoots: [join(REPO, 'node_modules', '@types')],
        noEmit: false,
        declaration: false,
        sourceMap: false,
        incremental: false,
      },
      include: [
        join(REPO, 'src'),
        join(REPO, 'bench', 'child.ts'),
        join(REPO, 'bench', 'pitr-child.ts'),
        ...extra.map((file) => join(REPO, file)),
      ],
    }),
  );
  const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    await run(process.execPath, [tsc, '-p', tsconfig], { maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    // tsc still emits on type errors (files being edited by someone else); only a missing output is fatal.
    const text = String((err as { stdout?: string }).stdout ?? err)
      .split('\n')
      .slice(0, 5)
      .join('\n');
    log(`tsc reported problems (emitted anyway):\n${text}`);
  }
  if (!existsSync(join(out, 'bench', 'child.js')))
    throw new Error(`compiling for the child processes produced no ${join(out, 'bench', 'child.js')}`);
  symlinkSync(join(REPO, 'node_modules'), join(out, 'node_modules'));
  writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
  const scriptArgs = (name: string) => ['--no-warnings', join(out, 'bench', `${name}.js`)];
  return { kind: 'compiled', childArgs: scriptArgs('child'), scriptArgs };
}

export function tsxRuntime(): ChildRuntime {
  const scriptArgs = (name: string) => [
    '--no-warnings',
    '--import',
    import.meta.resolve('tsx'),
    join(REPO, 'bench', `${name}.ts`),
  ];
  return { kind: 'tsx', childArgs: scriptArgs('child'), scriptArgs };
}
