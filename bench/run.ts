// `npm run bench [-- --smoke | --growth | --only NAME[,NAME] | --scale K | --seed N | --wrk-seconds S]`
// Runs every registered benchmark (bench/benchmarks/*.ts), each measuring in child
// processes, prints one table (figure, value, target, ratio) and writes
// bench/results/<timestamp>.json with the machine it ran on.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatTable } from '../pipelines/core/table.ts';
import { figureRows, machineInfo, REPO_ROOT, runChild, type BenchContext, type Benchmark, type Figure } from './harness.ts';
import { readWorld } from '../pipelines/bench/generate.ts';
import type { WorldSummary } from '../pipelines/bench/generate.ts';

const USAGE = `usage: npm run bench -- [--smoke] [--growth] [--only NAME[,NAME]] [--scale K] [--seed N] [--wrk-seconds S] [--database-url URL] [--quiet]
  --smoke        scale 0.01, short wrk runs: checks the harness works (a few minutes on 2 cores)
  --growth       also build at scales 0.5, 1, 2, 4 and print how time, memory and output grow
  --only NAMES   run only these benchmarks (comma-separated)
  --scale K      world scale (default 1 = Fedora-sized)
  --database-url run the stages against this Postgres instead of the embedded PGlite`;

export interface RunOptions {
  smoke: boolean;
  growth: boolean;
  only: string[];
  scale: number;
  seed: number;
  wrkSeconds: number;
  databaseUrl: string;
  quiet: boolean;
  resultsDir: string;
  varDir: string;
}

export function parseOptions(argv: string[]): RunOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      smoke: { type: 'boolean', default: false },
      growth: { type: 'boolean', default: false },
      only: { type: 'string' },
      scale: { type: 'string' },
      seed: { type: 'string', default: '1' },
      'wrk-seconds': { type: 'string' },
      'database-url': { type: 'string', default: '' },
      'results-dir': { type: 'string', default: path.join(REPO_ROOT, 'bench', 'results') },
      'var-dir': { type: 'string', default: path.join(REPO_ROOT, 'var', 'bench') },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) throw new UsageMessage(USAGE);
  const scale = Number(values.scale ?? (values.smoke ? 0.01 : 1));
  if (!(scale > 0 && scale <= 64)) throw new UsageMessage(`--scale: expected a number in (0, 64], got "${values.scale}"\n${USAGE}`);
  const seed = Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new UsageMessage(`--seed: expected a non-negative integer, got "${values.seed}"`);
  const wrkSeconds = Number(values['wrk-seconds'] ?? (values.smoke ? 1 : 10));
  if (!(wrkSeconds >= 1 && wrkSeconds <= 120)) throw new UsageMessage(`--wrk-seconds: expected 1..120, got "${values['wrk-seconds']}"`);
  return {
    smoke: values.smoke!,
    growth: values.growth!,
    only: (values.only ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    scale,
    seed,
    wrkSeconds,
    databaseUrl: values['database-url']!,
    quiet: values.quiet!,
    resultsDir: path.resolve(values['results-dir']!),
    varDir: path.resolve(values['var-dir']!),
  };
}

export class UsageMessage extends Error {}

/** The registered benchmarks, in the order they run. */
export async function loadBenchmarks(): Promise<Benchmark[]> {
  const dir = path.join(REPO_ROOT, 'bench', 'benchmarks');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.ts')).sort();
  const list: Benchmark[] = [];
  for (const f of files) {
    const mod = (await import(path.join(dir, f))) as { benchmark?: Benchmark; order?: number };
    if (mod.benchmark) list.push(mod.benchmark);
  }
  const order = ['generate', 'scan-master', 'crawl', 'build', 'nginx', 'growth'];
  return list.sort((a, b) => (order.indexOf(a.name) + 1 || 99) - (order.indexOf(b.name) + 1 || 99));
}

export interface RunReport {
  startedAt: string;
  finishedAt: string;
  options: Omit<RunOptions, 'databaseUrl'> & { database: string };
  machine: ReturnType<typeof machineInfo>;
  world: WorldSummary | null;
  figures: Figure[];
  unavailable: Array<{ benchmark: string; reason: string }>;
  errors: Array<{ benchmark: string; error: string }>;
  resultsFile: string;
}

export async function runBenchmarks(opts: RunOptions, out: (line: string) => void, signal: AbortSignal): Promise<RunReport> {
  const startedAt = new Date();
  const all = await loadBenchmarks();
  const unknown = opts.only.filter((n) => !all.some((b) => b.name === n));
  if (unknown.length) throw new UsageMessage(`--only: unknown benchmark(s) ${unknown.join(', ')} (known: ${all.map((b) => b.name).join(', ')})`);
  const selected = all.filter((b) => (opts.only.length ? opts.only.includes(b.name) : b.name !== 'growth' || opts.growth));
  const log = (m: string) => {
    if (!opts.quiet) process.stderr.write(`bench: ${m}\n`);
  };
  const worldDir = (scale: number) => path.join(opts.varDir, 'worlds', `scale-${scale}-seed-${opts.seed}`);
  const shared = new Map<string, unknown>();
  const world = async (scale: number, o: { tree?: boolean } = {}): Promise<string> => {
    const dir = worldDir(scale);
    const existing = readWorld(dir);
    const tree = o.tree !== false;
    if (existing && existing.scale === scale && existing.seed === opts.seed && (existing.tree || !tree)) return dir;
    log(`generating the scale-${scale} world in ${path.relative(REPO_ROOT, dir)}${tree ? '' : ' (no tree)'} …`);
    const r = await runChild<WorldSummary>(path.join(REPO_ROOT, 'bench', 'tasks.ts'), 'generateTask', { scale, seed: opts.seed, out: dir, tree, repoRoot: REPO_ROOT }, { signal, log: opts.quiet ? undefined : (l) => log(l) });
    log(`world ready: ${r.value.repositories} repositories, ${r.value.hosts} hosts, ${(r.wallMs / 1000).toFixed(1)} s`);
    return dir;
  };
  const figures: Figure[] = [];
  const unavailable: RunReport['unavailable'] = [];
  const errors: RunReport['errors'] = [];
  const mainWorld = await world(opts.scale, { tree: selected.some((b) => b.usesTree) });
  for (const b of selected) {
    if (signal.aborted) break;
    const reason = await b.available();
    if (reason) {
      log(`${b.name}: not available yet: ${reason}`);
      unavailable.push({ benchmark: b.name, reason });
      for (const f of b.figures) figures.push({ benchmark: b.name, name: f.name, value: null, unit: f.unit, target: f.target, source: f.source, note: `not available yet: ${reason}` });
      continue;
    }
    const workDir = path.join(opts.varDir, 'work', b.name);
    fs.rmSync(workDir, { recursive: true, force: true });
    fs.mkdirSync(workDir, { recursive: true });
    const ctx: BenchContext = { scale: opts.scale, seed: opts.seed, smoke: opts.smoke, worldDir: mainWorld, workDir, wrkSeconds: opts.wrkSeconds, databaseUrl: opts.databaseUrl, shared, signal, log: (m) => log(`${b.name}: ${m}`), world };
    log(`${b.name}: running …`);
    const t0 = Date.now();
    try {
      const got = await b.run(ctx);
      figures.push(...got);
      log(`${b.name}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } catch (err) {
      const msg = (err as Error).message;
      log(`${b.name}: FAILED: ${msg}`);
      errors.push({ benchmark: b.name, error: msg });
      for (const f of b.figures) figures.push({ benchmark: b.name, name: f.name, value: null, unit: f.unit, target: f.target, source: f.source, note: `failed: ${msg.split('\n')[0]}` });
    }
  }
  const finishedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  fs.mkdirSync(opts.resultsDir, { recursive: true });
  const resultsFile = path.join(opts.resultsDir, `${stamp}${opts.smoke ? '-smoke' : ''}.json`);
  const { databaseUrl, ...rest } = opts;
  const report: RunReport = {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    options: { ...rest, database: databaseUrl ? 'postgres (--database-url)' : 'embedded PGlite' },
    machine: machineInfo(),
    world: readWorld(mainWorld)?.summary ?? null,
    figures,
    unavailable,
    errors,
    resultsFile,
  };
  fs.writeFileSync(resultsFile, JSON.stringify(report, null, 2) + '\n');
  out(renderReport(report));
  return report;
}

export function renderReport(r: RunReport): string {
  const m = r.machine;
  const lines = [
    `mirrorsmith benchmarks — scale ${r.options.scale}, seed ${r.options.seed}, ${r.options.database}`,
    `machine: ${m.cores} cores (${m.cpuModel}), ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB, Node ${m.node}, nginx ${m.nginx ?? 'absent'}, ${m.wrk ?? 'wrk absent'}, commit ${m.gitCommit ?? '?'}`,
  ];
  if (r.world) lines.push(`world: ${r.world.repositories} repositories, ${r.world.directories} directories, ${r.world.files} files, ${r.world.hosts} hosts (${r.world.privateHosts} private), ${r.world.netblocks} netblocks, ${r.world.countries} countries`);
  lines.push('', formatTable(['figure', 'value', 'target', 'ratio', '', 'notes'], figureRows(r.figures)));
  const missed = r.figures.filter((f) => f.value !== null && f.target && figureRows([f])[0]![4] === 'MISS');
  lines.push('', `${r.figures.filter((f) => f.value !== null).length} figures measured, ${r.figures.filter((f) => f.value === null).length} not available, ${missed.length} over target; results: ${path.relative(REPO_ROOT, r.resultsFile)}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  let opts: RunOptions;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = err instanceof UsageMessage && /^usage/.test((err as Error).message) ? 0 : 2;
    return;
  }
  try {
    const report = await runBenchmarks(opts, (t) => process.stdout.write(t + '\n'), controller.signal);
    // Benchmarks report; only a harness failure is an error.
    process.exitCode = report.errors.length ? 1 : 0;
  } catch (err) {
    process.stderr.write(`bench: ${err instanceof UsageMessage ? err.message : ((err as Error).stack ?? String(err))}\n`);
    process.exitCode = err instanceof UsageMessage ? 2 : 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('bench/run.ts')) await main();
