// Progress for long stages: a bar on an interactive terminal, nothing in CI or when
// logs are JSON (the stage summary line says the same at the end). Whether a human
// is watching is decided once, in core/context.ts (a TTY on stderr, CI not "true",
// text logs).
import cliProgress from 'cli-progress';

export interface Progress {
  /** Advances by n (default 1); `detail` names what comes next (a category, an emitter). */
  tick(n?: number, detail?: string): void;
  done(): void;
}

const silent: Progress = { tick() {}, done() {} };

export function makeProgressFactory(enabled: boolean, stream: NodeJS.WritableStream = process.stderr): (label: string, total: number, detail?: string) => Progress {
  if (!enabled) return () => silent;
  return (label, total, detail = '') => {
    const bar = new cliProgress.SingleBar(
      { format: `${label.padEnd(12)} {bar} {value}/{total} {eta_formatted} {detail}`, stream, hideCursor: false, clearOnComplete: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { detail });
    return {
      tick: (n = 1, next?: string) => bar.increment(n, next === undefined ? undefined : { detail: next }),
      done: () => bar.stop(),
    };
  };
}
