// The build stage on the synthetic network (issue 6): the world is loaded into a
// fresh database (registry through `registry apply`, master and crawl state from
// world.json), then `build` runs alone in a child: wall time, peak RSS, and the
// size of the generation it wrote.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { duTree, freshDatabase, mb, REPO_ROOT, runChild, tryImport, type BenchContext, type Benchmark, type Figure } from '../harness.ts';
import { deriveConfig, type StageTaskResult } from '../tasks.ts';
import type { LoadCounts } from '../../pipelines/bench/load.ts';

const TASKS = path.join(REPO_ROOT, 'bench', 'tasks.ts');
const SOURCE = 'issue 6';

export interface BuildMeasurement {
  scale: number;
  hosts: number;
  repositories: number;
  load: LoadCounts & { ms: number };
  buildMs: number;
  childWallMs: number;
  peakRssBytes: number;
  generationDir: string;
  generationBytes: number;
  generationFiles: number;
  stats: Record<string, unknown>;
}

/** The generation a previous build benchmark left for this world at this commit, if any. */
export function previousGeneration(buildWorkDir: string, worldDir: string): string | null {
  try {
    const g = JSON.parse(fs.readFileSync(path.join(buildWorkDir, 'generation.json'), 'utf8')) as { worldDir: string; generationDir: string; commit: string | null };
    return g.worldDir === worldDir && g.commit === currentCommit() && fs.existsSync(g.generationDir) ? g.generationDir : null;
  } catch {
    return null;
  }
}

/** Last commit touching what shapes a generation (a rebuild is needed when it moves) plus local edits. */
function currentCommit(): string | null {
  const paths = ['pipelines/build', 'pipelines/stages/build.ts', 'pipelines/public', 'templates', 'nginx'];
  const r = spawnSync('git', ['-C', REPO_ROOT, 'log', '-1', '--format=%h', '--', ...paths], { encoding: 'utf8' });
  const d = spawnSync('git', ['-C', REPO_ROOT, 'diff', '--stat', 'HEAD', '--', ...paths], { encoding: 'utf8' });
  return r.status === 0 ? `${r.stdout.trim()}${d.stdout.trim() ? '+dirty' : ''}` : null;
}

export async function buildStageAvailable(): Promise<string | null> {
  const stages = await tryImport<{ STAGES: Array<{ name: string }> }>('pipelines/stages/index.ts', ['STAGES']);
  if (!stages.mod) return stages.missing;
  return stages.mod.STAGES.some((s) => s.name === 'build') ? null : 'stage build is not registered in pipelines/stages/index.ts yet';
}

/** Loads the world of `worldDir` into a fresh database under `workDir`, then measures `build`. */
export async function measureBuild(ctx: BenchContext, worldDir: string, workDir: string, label: string): Promise<BuildMeasurement> {
  const db = await freshDatabase(ctx, `build_${label}`, path.join(workDir, 'db'));
  const config = deriveConfig(worldDir, workDir, 'build');
  ctx.log(`${label}: loading the world into the database …`);
  const load = await runChild<LoadCounts & { ms: number }>(TASKS, 'loadTask', { ...db, config, worldDir }, { signal: ctx.signal });
  ctx.log(`${label}: build …`);
  const r = await runChild<StageTaskResult>(TASKS, 'stageTask', { ...db, config, stage: 'build' }, { signal: ctx.signal });
  const v = r.value;
  if (v.status !== 'ok') throw new Error(`${label}: build ended ${v.status}: ${v.error ?? JSON.stringify(v.counts)}`);
  const generationId = String(v.stats.generation ?? v.generationId ?? '');
  const generationDir = path.join(workDir, 'out', 'generations', generationId);
  if (!generationId || !fs.existsSync(generationDir)) throw new Error(`${label}: build reported generation "${generationId}" but ${generationDir} does not exist`);
  const du = duTree(generationDir);
  const world = JSON.parse(fs.readFileSync(path.join(worldDir, 'world.json'), 'utf8')) as { scale: number; summary: { hosts: number; repositories: number } };
  return {
    scale: world.scale,
    hosts: world.summary.hosts,
    repositories: world.summary.repositories,
    load: load.value,
    buildMs: v.stageMs,
    childWallMs: r.wallMs,
    peakRssBytes: r.maxRssBytes,
    generationDir,
    generationBytes: du.bytes,
    generationFiles: du.files,
    stats: v.stats,
  };
}

export const benchmark: Benchmark = {
  name: 'build',
  title: 'build stage',
  figures: [
    { name: 'build wall time', unit: 's', target: { op: '<=', value: 30 }, source: SOURCE },
    { name: 'build peak RSS', unit: 'MB', target: { op: '<=', value: 1024 }, source: SOURCE },
    { name: 'generation size', unit: 'MB', target: { op: '<=', value: 200 }, source: SOURCE },
    { name: 'generation files', unit: '', target: { op: '<=', value: 50_000 }, source: SOURCE },
  ],
  available: buildStageAvailable,
  async run(ctx) {
    const m = await measureBuild(ctx, ctx.worldDir, ctx.workDir, 'build');
    ctx.shared.set('generationDir', m.generationDir);
    // A later `--only nginx` run can serve this generation instead of building again.
    fs.writeFileSync(path.join(ctx.workDir, 'generation.json'), JSON.stringify({ worldDir: ctx.worldDir, generationDir: m.generationDir, commit: currentCommit() }) + '\n');
    const fig = (name: string, value: number, unit: string, target: number, note?: string): Figure => ({ benchmark: 'build', name, value, unit, target: { op: '<=', value: target }, source: SOURCE, ...(note ? { note } : {}) });
    const st = m.stats;
    return [
      fig('build wall time', m.buildMs / 1000, 's', 30, `${st.classes ?? '?'} client classes, ${st.orderings ?? '?'} host orderings; ${m.hosts} hosts, ${m.repositories} repos, ${m.load.hostCategoryDirs} crawl rows`),
      fig('build peak RSS', mb(m.peakRssBytes), 'MB', 1024, ctx.databaseUrl ? 'Postgres in its own process' : 'includes the in-process PGlite'),
      fig('generation size', mb(m.generationBytes), 'MB', 200),
      fig('generation files', m.generationFiles, '', 50_000),
    ];
  },
};
