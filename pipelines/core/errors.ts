// Error types shared by every stage. Infrastructure problems are thrown;
// per-mirror problems are data (see types.ts `Failure`).

/** A user-facing problem with input (config, registry, CLI arguments): exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Input that failed validation; `issues` name the file / record / field of each problem. */
export class ValidationError extends UsageError {
  override name = 'ValidationError';
  constructor(
    message: string,
    readonly issues: string[],
  ) {
    super(issues.length ? `${message}:\n  - ${issues.join('\n  - ')}` : message);
  }
}

/** Who holds a lock: the process, where, since when, doing what. */
export interface LockHolder {
  pid: number;
  hostname: string;
  startedAt: string;
  holder: string;
}

/** Another process holds the database or the run lock; `holder` says who, when known. */
export class LockHeldError extends Error {
  override name = 'LockHeldError';
  constructor(
    message: string,
    readonly holder?: LockHolder,
    /** What is locked, e.g. the embedded database's data directory. */
    readonly resource?: string,
  ) {
    super(message);
  }
}

/** Turns whatever was thrown into an Error, keeping the original as `cause`. */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : JSON.stringify(thrown), { cause: thrown });
}

/** One line, for summaries and logs. */
export function errorMessage(thrown: unknown): string {
  const err = coerceError(thrown);
  return err.message.split('\n')[0] ?? err.name;
}
