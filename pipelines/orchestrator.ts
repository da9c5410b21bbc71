// `mirrorsmith run`: the stages in order under the run lock, one pipeline_run row
// with per-stage status/duration/counts, per-mirror failures carried as data, and
// the exit code decided at the end (0 ok, 1 a stage threw or too many failures,
// 130 cancelled).
import os from 'node:os';
import type { AppContext } from './core/context.ts';
import { LockHeldError, coerceError, errorMessage } from './core/errors.ts';
import { makeProgressFactory } from './core/progress.ts';
import type { Stage, StageContext, StageResult } from './core/types.ts';
import type { Queryable } from './core/db.ts';

export const RUN_LOCK_KEY = 0x6d697272; // 'mirr'

export interface StageRecord {
  stage: string;
  status: 'ok' | 'failed' | 'skipped' | 'degraded' | 'cancelled';
  durationMs: number;
  counts?: StageResult['counts'];
  stats?: StageResult['stats'];
  error?: string;
}

export interface RunOutcome {
  exitCode: number;
  runId: number;
  records: StageRecord[];
  results: StageResult[];
}

export interface RunOptions {
  stages: Stage[];
  signal: AbortSignal;
  force?: boolean;
  dryRun?: boolean;
  options?: Record<string, unknown>;
  /** What this run is, for the run row and the refusal a concurrent run gets; pid and host are added. */
  holder?: string;
}

export function generationIdFor(startedAt: Date, runId: number): string {
  return `${startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${runId}`;
}

export async function runPipeline(app: AppContext, opts: RunOptions): Promise<RunOutcome> {
  const { db, log } = app;
  // On a real server the advisory lock serialises runs; PGlite is already locked
  // exclusively by this process (see core/lock.ts). The lock lives on one session.
  return db.withClient(async (session) => {
    if (db.kind === 'pg') await takeAdvisoryLock(session);
    try {
      return await runStages(app, session, opts);
    } finally {
      if (db.kind === 'pg') await session.query('SELECT pg_advisory_unlock($1)', [RUN_LOCK_KEY]).catch(() => {});
    }
  });
}

/**
 * The same refusal on both backends. On PGlite the data-directory lock (core/lock.ts)
 * is what serialises runs and it is taken when the database opens, before any run
 * row exists: its holder record carries the pid, host and start time.
 */
export function asRunLockError(thrown: unknown): unknown {
  if (!(thrown instanceof LockHeldError) || !thrown.holder) return thrown;
  const h = thrown.holder;
  const what = thrown.resource ? `the embedded database ${thrown.resource}` : 'the embedded database';
  return new LockHeldError(`another run holds the lock since ${h.startedAt} (pid ${h.pid} on ${h.hostname}, "${h.holder}"): ${what} allows one process at a time`, h, thrown.resource);
}

async function takeAdvisoryLock(session: Queryable): Promise<void> {
  const { rows } = await session.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [RUN_LOCK_KEY]);
  if (rows[0]?.locked) return;
  const holder = await session.query<{ id: number; started_at: Date; holder: string }>(
    `SELECT id, started_at, holder FROM pipeline_run WHERE status = 'running' ORDER BY id DESC LIMIT 1`,
  );
  const r = holder.rows[0];
  throw new LockHeldError(
    r ? `another run holds the lock since ${r.started_at.toISOString()} (run ${r.id}, ${r.holder})` : 'another run holds the lock (pg advisory lock taken)',
  );
}

async function runStages(app: AppContext, session: Queryable, opts: RunOptions): Promise<RunOutcome> {
  const { config, log } = app;
  const holder = `${opts.holder ?? 'run'} (pid ${process.pid} on ${os.hostname()})`;
  // A row left 'running' by a crashed run (we hold the lock now) is closed as failed.
  await session.query(`UPDATE pipeline_run SET status = 'failed', finished_at = now() WHERE status = 'running'`);
  const inserted = await session.query<{ id: number; started_at: Date }>(
    'INSERT INTO pipeline_run (holder) VALUES ($1) RETURNING id, started_at',
    [holder],
  );
  const { id: runId, started_at: startedAt } = inserted.rows[0]!;
  const generationId = generationIdFor(startedAt, runId);
  const records: StageRecord[] = [];
  const results: StageResult[] = [];
  let exitCode = 0;
  let stopped = false;
  const progress = makeProgressFactory(app.interactive);

  for (const stage of opts.stages) {
    if (stopped || opts.signal.aborted) {
      records.push({ stage: stage.name, status: opts.signal.aborted ? 'cancelled' : 'skipped', durationMs: 0 });
      continue;
    }
    const stageLog = log.child({ stage: stage.name });
    const ctx: StageContext = {
      db: app.db,
      config,
      log: stageLog,
      signal: opts.signal,
      run: { id: runId, startedAt, generationId, force: opts.force ?? false, dryRun: opts.dryRun ?? false },
      options: opts.options ?? {},
      progress,
    };
    const t0 = performance.now();
    try {
      const result = await stage.run(ctx);
      const durationMs = Math.round(performance.now() - t0);
      results.push(result);
      records.push({ stage: stage.name, status: result.degraded ? 'degraded' : 'ok', durationMs, counts: result.counts, stats: result.stats });
      logSummary(stageLog, result, durationMs);
      if (exceedsFailureRatio(result, config.maxFailureRatio)) {
        stageLog.error(`failure ratio ${ratio(result).toFixed(2)} exceeds maxFailureRatio ${config.maxFailureRatio}`);
        exitCode = 1;
      }
    } catch (thrown) {
      const err = coerceError(thrown);
      const durationMs = Math.round(performance.now() - t0);
      const cancelled = opts.signal.aborted;
      records.push({ stage: stage.name, status: cancelled ? 'cancelled' : 'failed', durationMs, error: errorMessage(err) });
      stageLog.error(`stage failed: ${err.message}`);
      if (err.stack) stageLog.debug(err.stack);
      exitCode = cancelled ? 130 : 1;
      stopped = true; // later stages (publish above all) must not run on a broken state
    }
    await session.query('UPDATE pipeline_run SET stages = $2 WHERE id = $1', [runId, JSON.stringify(records)]);
  }
  if (opts.signal.aborted && exitCode === 0) exitCode = 130;
  const status = exitCode === 130 ? 'cancelled' : exitCode !== 0 ? 'failed' : records.some((r) => r.status === 'degraded') ? 'degraded' : 'ok';
  const published = results.find((r) => r.stage === 'publish')?.stats?.generation;
  await session.query(
    'UPDATE pipeline_run SET status = $2, exit_code = $3, finished_at = now(), stages = $4, generation = $5 WHERE id = $1',
    [runId, status, exitCode, JSON.stringify(records), typeof published === 'string' ? published : null],
  );
  return { exitCode, runId, records, results };
}

function ratio(r: StageResult): number {
  const total = r.counts.ok + r.counts.failed;
  return total === 0 ? 0 : r.counts.failed / total;
}

function exceedsFailureRatio(r: StageResult, max: number): boolean {
  return r.counts.ok + r.counts.failed > 0 && ratio(r) > max;
}

/** `crawl ok=812 failed=37 skipped=4 41.2s`, then failures grouped by kind. */
export function logSummary(log: AppContext['log'], r: StageResult, durationMs: number): void {
  const stats = r.stats ? ' ' + Object.entries(r.stats).map(([k, v]) => `${k}=${v}`).join(' ') : '';
  log.info(`${r.stage} ok=${r.counts.ok} failed=${r.counts.failed} skipped=${r.counts.skipped}${stats} ${(durationMs / 1000).toFixed(1)}s${r.degraded ? ' (degraded)' : ''}`);
  const byKind = new Map<string, string[]>();
  for (const f of r.failures) byKind.set(f.kind, [...(byKind.get(f.kind) ?? []), f.subject]);
  for (const [kind, subjects] of byKind) {
    const top = [...new Set(subjects)].slice(0, 5).join(', ');
    log.warn(`${subjects.length} ${kind} failure(s): ${top}${subjects.length > 5 ? ', …' : ''}`);
  }
  for (const f of r.failures.slice(0, 50)) log.debug(`${f.subject}: ${f.kind}: ${f.message}`);
  for (const n of r.notes ?? []) log.info(n);
}
