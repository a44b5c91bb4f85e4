/** Progress for long work, drawn only on a terminal (never into logs or pipes). */
export interface Progress {
  update(bytes: number): void;
  done(): void;
}

export function createProgress(options: { label: string; total?: number; stream?: NodeJS.WriteStream }): Progress {
  const stream = options.stream ?? process.stderr;
  if (!stream.isTTY) return { update: () => undefined, done: () => undefined };
  const started = performance.now();
  let last = Number.NEGATIVE_INFINITY; // the first update always draws
  let drawn = false;
  const draw = (bytes: number) => {
    const secs = (performance.now() - started) / 1000;
    const rate = secs > 0 ? bytes / secs : 0;
    const mb = (n: number) => (n / 1048576).toFixed(1);
    const total = options.total;
    const pct = total ? ` ${Math.min(100, (bytes / total) * 100).toFixed(0)}%` : '';
    const eta = total && rate > 0 ? ` eta ${Math.max(0, (total - bytes) / rate).toFixed(0)} s` : '';
    stream.write(`\r${options.label}${pct} ${mb(bytes)}${total ? `/${mb(total)}` : ''} MiB ${mb(rate)} MiB/s${eta}\u001b[K`);
    drawn = true;
  };
  return {
    update(bytes: number) {
      const now = performance.now();
      if (now - last < 200) return;
      last = now;
      draw(bytes);
    },
    done() {
      if (drawn) stream.write('\r\u001b[K');
    },
  };
}
