// One structured logger: human lines on a terminal, JSON lines with --log-format json
// (or when stderr is not a TTY and CI asked for it). Children carry bindings such as
// { stage } or { host }.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'text' | 'json';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogSink {
  write(line: string): void;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
  /** Number of error-level lines logged through this logger tree. */
  readonly problems: { errors: number; warnings: number };
}

export interface LoggerOptions {
  format?: LogFormat;
  level?: LogLevel;
  sink?: LogSink;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const format = opts.format ?? 'text';
  const min = LEVELS[opts.level ?? 'info'];
  const sink = opts.sink ?? { write: (line: string) => process.stderr.write(line + '\n') };
  const problems = { errors: 0, warnings: 0 };

  function make(bindings: Record<string, unknown>): Logger {
    const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
      if (level === 'error') problems.errors++;
      if (level === 'warn') problems.warnings++;
      if (LEVELS[level] < min) return;
      const all = { ...bindings, ...fields };
      if (format === 'json') {
        sink.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...all }));
        return;
      }
      const scope = Object.entries(bindings)
        .map(([, v]) => String(v))
        .join('/');
      const extra = fields && Object.keys(fields).length ? ' ' + formatFields(fields) : '';
      const tag = level === 'info' ? '' : `${level.toUpperCase()} `;
      sink.write(`${tag}${scope ? `[${scope}] ` : ''}${msg}${extra}`);
    };
    return {
      debug: (m, f) => emit('debug', m, f),
      info: (m, f) => emit('info', m, f),
      warn: (m, f) => emit('warn', m, f),
      error: (m, f) => emit('error', m, f),
      child: (b) => make({ ...bindings, ...b }),
      problems,
    };
  }
  return make({});
}

function formatFields(fields: Record<string, unknown>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
}

/** A logger that keeps lines in memory: for tests and for per-host crawl logs. */
export function memoryLogger(level: LogLevel = 'debug'): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ format: 'json', level, sink: { write: (l) => lines.push(l) } });
  return Object.assign(logger, { lines });
}
