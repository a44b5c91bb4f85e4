// The ```ts examples of the documentation, as a reader copies them, run against this checkout:
// README.md's library example (test/lifeboat/readme-example.test.ts) and every example of
// docs/library.md (test/lifeboat/library-doc.test.ts).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface DocExample {
  /** The nearest `#` heading above the block, without the hashes. */
  readonly heading: string;
  /** Line of the opening fence, 1-based, for messages. */
  readonly line: number;
  readonly code: string;
}

/** Every ```ts block of a markdown file, in order. */
export function tsExamples(markdownFile: string): DocExample[] {
  const lines = readFileSync(markdownFile, 'utf8').split('\n');
  const out: DocExample[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const h = /^#+\s+(.*)$/.exec(line);
    if (h) heading = h[1]!;
    else if (line.startsWith('```')) {
      const start = i;
      const body: string[] = [];
      for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!);
      if (line.trim() === '```ts') out.push({ heading, line: start + 1, code: `${body.join('\n')}\n` });
    }
  }
  return out;
}

const ENTRIES: Record<string, string> = {
  lifeboat: fileURLToPath(new URL('../../src/index.ts', import.meta.url)),
  'lifeboat/s3': fileURLToPath(new URL('../../src/s3.ts', import.meta.url)),
};

/** The example with `from 'lifeboat'` (and 'lifeboat/s3') pointing at this checkout's sources. */
export function fromCheckout(code: string): string {
  return code.replace(/from '(lifeboat(?:\/s3)?)'/g, (whole, name: string) => {
    const path = ENTRIES[name];
    return path ? `from ${JSON.stringify(path)}` : whole;
  });
}

export interface ExampleRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const TSX = import.meta.resolve('tsx');

/** Runs a TypeScript file with tsx in a process of its own, with only `env` (plus PATH and HOME). */
export function runTs(file: string, cwd: string, env: Record<string, string | undefined>): Promise<ExampleRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, file], {
      cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
