// node --import tsx bench/import-time.ts [--runs 21] [module ...]
//
// How long `await import(module)` takes in a fresh Node process: the median of --runs
// processes, each timing one import (the process's own start-up is not counted), in wall time
// and in CPU time (user + system), which swings less on a shared machine. Default modules: the
// built package (`npm run build` first) — dist/index.js, what `import('lifeboat')` loads, and
// dist/s3.js, the AWS SDK that it loads only when S3 is configured — and the SDK by itself.
// Results: docs/benchmarks.md, "Import time".
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: { runs: { type: 'string', default: '21' } },
  allowPositionals: true,
});
const runs = Math.max(1, Number(values.runs));
const dist = (file: string) => fileURLToPath(new URL(`../dist/${file}`, import.meta.url));
const modules = positionals.length > 0 ? positionals : [dist('index.js'), dist('s3.js'), '@aws-sdk/client-s3'];
for (const m of modules) {
  if (m.startsWith('/') && !existsSync(m)) throw new Error(`${m} does not exist: run \`npm run build\` first`);
}

interface Sample {
  readonly wall: number;
  readonly cpu: number;
}

function once(module: string): Sample {
  const specifier = JSON.stringify(module.startsWith('/') ? pathToFileURL(module).href : module);
  const script =
    `const t = performance.now(), c = process.cpuUsage(); await import(${specifier}); const u = process.cpuUsage(c);` +
    'console.log(JSON.stringify({ wall: performance.now() - t, cpu: (u.user + u.system) / 1000 }));';
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
  });
  return JSON.parse(out.toString()) as Sample;
}

// Interleaved, so a change in the machine's load touches every module alike.
const samples = new Map<string, Sample[]>(modules.map((m) => [m, []]));
for (let i = 0; i < runs; i++) for (const m of modules) samples.get(m)?.push(once(m));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
console.log(`| module | wall ms, median of ${runs} | wall ms, fastest | CPU ms, median |`);
console.log('| --- | --- | --- | --- |');
for (const [m, xs] of samples) {
  const wall = xs.map((x) => x.wall);
  const cpu = median(xs.map((x) => x.cpu));
  // The last two path segments: `dist/index.js`.
  const name = m.startsWith('/') ? m.slice(m.lastIndexOf('/', m.lastIndexOf('/') - 1) + 1) : m;
  console.log(`| \`${name}\` | ${median(wall).toFixed(0)} | ${Math.min(...wall).toFixed(0)} | ${cpu.toFixed(0)} |`);
}
