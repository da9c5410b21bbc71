// Tasks that run inside a benchmark child process (see harness.ts runChild): each
// opens what it needs, measures its own section, and returns plain JSON.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { openApp } from '../pipelines/core/context.ts';
import { openDb } from '../pipelines/core/db.ts';
import { migrate } from '../pipelines/core/migrate.ts';
import { generateWorld, type WorldSummary } from '../pipelines/bench/generate.ts';
import { loadWorld, type LoadCounts } from '../pipelines/bench/load.ts';
import { runPipeline } from '../pipelines/orchestrator.ts';
import { STAGES } from '../pipelines/stages/index.ts';

export interface DbChoice {
  /** postgres:// URL, or empty for the embedded PGlite at the config's database.dataDir. */
  databaseUrl?: string;
}

function env(db: DbChoice): NodeJS.ProcessEnv {
  return { ...process.env, DATABASE_URL: db.databaseUrl ?? '' };
}

export async function generateTask(args: { scale: number; seed: number; out: string; tree: boolean; repoRoot: string }): Promise<WorldSummary> {
  return generateWorld(args);
}

/** Creates and migrates an embedded database (the template fresh benchmark databases are copied from). */
export async function initDbTask(args: { dataDir: string }): Promise<{ openMs: number; migrateMs: number }> {
  const t0 = performance.now();
  const db = await openDb({ dataDir: args.dataDir, holder: 'bench template' });
  const t1 = performance.now();
  try {
    await migrate(db);
  } finally {
    await db.close();
  }
  return { openMs: t1 - t0, migrateMs: performance.now() - t1 };
}

/** Opens an existing database and migrates it: the fixed cost every stage child pays. */
export async function openDbTask(args: DbChoice & { config: string }): Promise<{ ms: number }> {
  const t0 = performance.now();
  const app = await openApp({ config: args.config, configExplicit: true, holder: 'bench open', quiet: true }, env(args));
  await app.db.close();
  return { ms: performance.now() - t0 };
}

export async function loadTask(args: DbChoice & { config: string; worldDir: string }): Promise<LoadCounts & { ms: number }> {
  const app = await openApp({ config: args.config, configExplicit: true, holder: 'bench load', quiet: true }, env(args));
  try {
    const t0 = performance.now();
    const counts = await loadWorld(app.db, app.config, args.worldDir);
    return { ...counts, ms: performance.now() - t0 };
  } finally {
    await app.db.close();
  }
}

export interface StageTaskResult {
  /** Wall time of the stage alone (database already open and migrated). */
  stageMs: number;
  exitCode: number;
  status: string;
  stats: Record<string, unknown>;
  counts: Record<string, number> | null;
  error: string | null;
  generationId: string | null;
}

/**
 * Empties the kernel's page, dentry and inode caches (root only): what a scan of a tree
 * nobody read lately meets. Returns why it could not, or null.
 */
export function dropPageCache(): string | null {
  try {
    execFileSync('sync');
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
    return null;
  } catch (err) {
    return `cannot drop the page cache: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** Runs one stage through the orchestrator (run row, lock, exit code), as `mirrorsmith <stage>` does. */
export async function stageTask(args: DbChoice & { config: string; stage: string; options?: Record<string, unknown>; coldCache?: boolean }): Promise<StageTaskResult> {
  const stage = STAGES.find((s) => s.name === args.stage);
  if (!stage) throw new Error(`no stage named ${args.stage} (known: ${STAGES.map((s) => s.name).join(', ')})`);
  const app = await openApp({ config: args.config, configExplicit: true, holder: `bench ${args.stage}`, quiet: true }, env(args));
  try {
    // Let what opening queued run first: the first macrotask turn after PGlite opens
    // stalls 0.3–0.45 s (V8 finishing work on its WebAssembly, no JS running), which
    // otherwise lands in the stage's first await (measured: a no-change rescan 0.8 s
    // without this turn, 0.3–0.4 s with it or with a 2 s sleep).
    await new Promise((r) => setTimeout(r, 0));
    // After open and migrate: the stage alone meets the cold caches.
    if (args.coldCache) {
      const failed = dropPageCache();
      if (failed) throw new Error(failed);
    }
    const controller = new AbortController();
    const t0 = performance.now();
    const outcome = await runPipeline(app, { stages: [stage], signal: controller.signal, options: args.options ?? {}, force: true });
    const stageMs = performance.now() - t0;
    const rec = outcome.records.find((r) => r.stage === args.stage);
    const gen = await app.db.query<{ generation: string | null }>('SELECT generation FROM pipeline_run WHERE id = $1', [outcome.runId]);
    return {
      stageMs,
      exitCode: outcome.exitCode,
      status: rec?.status ?? 'missing',
      stats: (rec?.stats ?? {}) as Record<string, unknown>,
      counts: (rec?.counts ?? null) as Record<string, number> | null,
      error: rec?.error ?? null,
      generationId: gen.rows[0]?.generation ?? null,
    };
  } finally {
    await app.db.close();
  }
}

/**
 * A copy of the world's config for one benchmark: every path absolute, the database
 * and output under `workDir`, and `mutate` applied (e.g. drop fullfiletimelist).
 */
export interface DerivedConfig {
  categories: Array<{ source?: { type: string; path?: string }; fullfiletimelist?: string } & Record<string, unknown>>;
  geoip?: { researchPrefixes?: string } & Record<string, unknown>;
  registry?: { dir?: string };
  output?: Record<string, unknown>;
  [key: string]: unknown;
}

export function deriveConfig(worldDir: string, workDir: string, name: string, mutate?: (cfg: DerivedConfig) => void): string {
  const src = path.join(worldDir, 'mirrorsmith.yaml');
  const cfg = YAML.parse(fs.readFileSync(src, 'utf8')) as DerivedConfig;
  const abs = (p: string) => path.resolve(worldDir, p);
  cfg.database = { dataDir: path.join(workDir, 'db') };
  cfg.registry = { dir: abs(cfg.registry?.dir ?? 'registry') };
  cfg.output = { ...(cfg.output ?? {}), dir: path.join(workDir, 'out') };
  for (const c of cfg.categories ?? []) if (c.source?.type === 'local') c.source.path = abs(c.source.path ?? '.');
  if (cfg.geoip?.researchPrefixes) cfg.geoip.researchPrefixes = abs(cfg.geoip.researchPrefixes);
  mutate?.(cfg);
  fs.mkdirSync(workDir, { recursive: true });
  const file = path.join(workDir, `${name}.yaml`);
  fs.writeFileSync(file, YAML.stringify(cfg, { lineWidth: 0 }));
  return file;
}
