/**
 * How to start a worker thread whose entry module sits beside the caller: `<name>.js` once
 * compiled (dist/); run from the TypeScript sources (tests, `npm run lifeboat`), `<name>.ts`
 * needs tsx's loader, which Node 20 does not pass on to worker threads from `--import`, so a
 * two-line bootstrap registers it there first.
 */
export interface ThreadEntry {
  readonly entry: string | URL;
  readonly eval: boolean;
}

export function threadEntry(callerUrl: string, name: string): ThreadEntry {
  if (!callerUrl.endsWith('.ts')) return { entry: new URL(`./${name}.js`, callerUrl), eval: false };
  return {
    entry:
      `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})\n` +
      '        .then((tsx) => { tsx.register(); ' +
      `return import(${JSON.stringify(new URL(`./${name}.ts`, callerUrl).href)}); })`,
    eval: true,
  };
}
