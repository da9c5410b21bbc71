// Types shared across stages.
import type { Config } from './config.ts';
import type { Db } from './db.ts';
import type { Logger } from './log.ts';
import type { Progress } from './progress.ts';

export interface RunInfo {
  /** pipeline_run.id, or null for a stage run on its own outside `mirrorsmith run`. */
  id: number | null;
  startedAt: Date;
  /** Name of the generation this run builds: out/generations/<generationId>/. */
  generationId: string;
  /** --force: publish even when the shrink guard objects. */
  force: boolean;
  /** --dry-run where a stage supports it. */
  dryRun: boolean;
}

export interface StageContext {
  db: Db;
  config: Config;
  log: Logger;
  signal: AbortSignal;
  run: RunInfo;
  /** Stage-specific options from the CLI (e.g. { category: 'Fedora Linux', shard: '1/4' }). */
  options: Readonly<Record<string, unknown>>;
  /** A progress bar on a terminal, silent in CI. */
  progress(label: string, total: number, detail?: string): Progress;
}

export type FailureKind = 'timeout' | 'refused' | 'dns' | 'protocol' | 'parse' | 'stale' | 'rejected' | 'cancelled' | 'other';

/** A per-mirror (or per-item) failure: data, not an exception. */
export interface Failure {
  /** What failed: a host name, a category, a report file. */
  subject: string;
  kind: FailureKind;
  message: string;
}

export interface StageResult {
  stage: string;
  counts: { ok: number; failed: number; skipped: number };
  failures: Failure[];
  /** Extra figures for the run row and manifest, e.g. { requests: 1234 }. */
  stats?: Record<string, number | string | boolean>;
  /** The stage ran but its results should not be trusted (e.g. crawl outage guard). */
  degraded?: boolean;
  /** One-line human notes printed after the summary. */
  notes?: string[];
}

export interface Stage {
  name: string;
  description: string;
  run(ctx: StageContext): Promise<StageResult>;
}

export function emptyResult(stage: string): StageResult {
  return { stage, counts: { ok: 0, failed: 0, skipped: 0 }, failures: [] };
}
