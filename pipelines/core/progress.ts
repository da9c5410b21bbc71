// Progress for long stages: a bar on an interactive terminal, nothing in CI or when
// logs are JSON (the stage summary line says the same at the end).
import cliProgress from 'cli-progress';

export interface Progress {
  tick(n?: number): void;
  done(): void;
}

const silent: Progress = { tick() {}, done() {} };

export function makeProgressFactory(enabled: boolean): (label: string, total: number) => Progress {
  if (!enabled) return () => silent;
  return (label, total) => {
    const bar = new cliProgress.SingleBar(
      { format: `${label.padEnd(12)} {bar} {value}/{total} {eta_formatted}`, stream: process.stderr, hideCursor: false, clearOnComplete: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0);
    return {
      tick: (n = 1) => bar.increment(n),
      done: () => bar.stop(),
    };
  };
}
