import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ENTRY = fileURLToPath(new URL('../../src/cli/entry.ts', import.meta.url));
// Absolute, so the CLI can run with any working directory.
const TSX = import.meta.resolve('tsx');

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  cwd?: string;
  /** Replaces the environment entirely (plus PATH/HOME/TZ), so the developer's HQL_* never leak in. */
  env?: Record<string, string | undefined>;
  input?: string;
  /** A command to run the CLI under, e.g. UNSHARE (test/support/namespaces.ts). */
  wrap?: readonly string[];
}

/** Runs the real CLI in a child process, exactly as an operator would. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const env: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'TZ', 'LANG']) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  for (const [k, v] of Object.entries(options.env ?? {})) if (v !== undefined) env[k] = v;
  return new Promise((resolve, reject) => {
    const command = [...(options.wrap ?? []), process.execPath, '--import', TSX, ENTRY, ...args];
    const child = spawn(command[0]!, command.slice(1), {
      cwd: options.cwd ?? process.cwd(),
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}
