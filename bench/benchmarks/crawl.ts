// A full crawl of ≈500 simulated mirrors on loopback (issue 5), through the crawl
// engineer's hook pipelines/simnet/bench.ts (one real nginx with a server per mirror,
// an rsync daemon for a share of them, some slow, stale and dead), in a child process,
// against a fresh database: a copy of the migrated PGlite template on disk, or with
// --database-url a new Postgres database (so the crawl's own RSS shows).
import path from 'node:path';
import { freshDatabase, mb, REPO_ROOT, runChild, tryImport, type Benchmark } from '../harness.ts';
import { readWorld } from '../../pipelines/bench/generate.ts';

const SOURCE = 'issue 5';

export interface CrawlTaskResult {
  mirrors: number;
  repos: number;
  wallMs: number;
  setupMs: number;
  peakRssBytes: number;
  rssAtStartBytes: number;
  requests: { total: number; maxPerHost: number; meanPerHost: number; budgetPerHost: number; overBudget: number };
  counts: { ok: number; failed: number; skipped: number };
  byBehaviour: Record<string, number>;
}

export const benchmark: Benchmark = {
  name: 'crawl',
  title: 'crawl of simulated mirrors',
  figures: [
    { name: 'full crawl wall time', unit: 's', target: { op: '<=', value: 300 }, source: SOURCE },
    { name: 'crawl peak RSS', unit: 'MB', target: { op: '<=', value: 500 }, source: SOURCE },
    { name: 'requests per host (max)', unit: '', source: `${SOURCE}: budget = repositories + 20` },
    { name: 'hosts over the request budget', unit: '', target: { op: '<=', value: 0 }, source: SOURCE },
  ],
  async available() {
    const hook = await tryImport('pipelines/simnet/bench.ts', ['benchCrawl']);
    if (!hook.mod) return hook.missing;
    const { whichTool } = await import('../../test/helpers/system.ts');
    if (!whichTool('nginx')) return 'nginx is not installed (apt-get install nginx-light)';
    return null;
  },
  async run(ctx) {
    const world = readWorld(ctx.worldDir);
    const repos = world?.summary.repositories ?? Math.round(1150 * ctx.scale);
    const mirrors = Math.max(5, Math.round(500 * ctx.scale));
    const { whichTool } = await import('../../test/helpers/system.ts');
    const dataDir = path.join(ctx.workDir, 'db');
    const db = await freshDatabase(ctx, 'crawl', dataDir);
    const r = await runChild<CrawlTaskResult>(
      path.join(REPO_ROOT, 'bench', 'benchmarks', 'crawl.ts'),
      'crawlTask',
      { mirrors, repos, nginx: whichTool('nginx'), rsync: whichTool('rsync'), workDir: path.join(ctx.workDir, 'sim'), databaseUrl: db.databaseUrl, dataDir },
      { signal: ctx.signal, timeoutMs: 20 * 60_000 },
    );
    const v = r.value;
    const behaviours = Object.entries(v.byBehaviour).map(([k, n]) => `${n} ${k}`).join(', ');
    return [
      { benchmark: 'crawl', name: 'full crawl wall time', value: v.wallMs / 1000, unit: 's', target: { op: '<=', value: 300 }, source: SOURCE, note: `${v.mirrors} mirrors × ${v.repos} repos (${behaviours}); ok=${v.counts.ok} failed=${v.counts.failed}; setup ${(v.setupMs / 1000).toFixed(0)} s not counted` },
      { benchmark: 'crawl', name: 'crawl peak RSS', value: mb(Math.max(r.maxRssBytes, v.peakRssBytes)), unit: 'MB', target: { op: '<=', value: 500 }, source: SOURCE, note: `child process${ctx.databaseUrl ? ', Postgres in its own process' : ' incl. the embedded PGlite'}; ${mb(v.rssAtStartBytes).toFixed(0)} MB when the crawl started; nginx/rsync are separate processes` },
      { benchmark: 'crawl', name: 'requests per host (max)', value: v.requests.maxPerHost, unit: '', target: { op: '<=', value: v.requests.budgetPerHost }, source: `${SOURCE}: budget = repositories + 20`, note: `mean ${v.requests.meanPerHost}, ${v.requests.total} in total` },
      { benchmark: 'crawl', name: 'hosts over the request budget', value: v.requests.overBudget, unit: '', target: { op: '<=', value: 0 }, source: SOURCE },
    ];
  },
};

/** Child task: opens the benchmark's database (Postgres URL or PGlite data directory) and runs the simnet crawl hook. */
export async function crawlTask(args: { mirrors: number; repos: number; nginx: string; rsync: string | null; workDir: string; databaseUrl?: string; dataDir: string }): Promise<CrawlTaskResult> {
  const { benchCrawl } = (await import('../../pipelines/simnet/bench.ts')) as typeof import('../../pipelines/simnet/bench.ts');
  const { openDb } = await import('../../pipelines/core/db.ts');
  const { migrate } = await import('../../pipelines/core/migrate.ts');
  const db = await openDb({ url: args.databaseUrl || undefined, dataDir: args.dataDir, holder: 'bench crawl' });
  try {
    await migrate(db);
    const r = await benchCrawl({ mirrors: args.mirrors, repos: args.repos, nginx: args.nginx, rsync: args.rsync, workDir: args.workDir, db, onProgress: (m) => process.stderr.write(`crawl: ${m}\n`) });
    return { mirrors: r.mirrors, repos: r.repos, wallMs: r.wallMs, setupMs: r.setupMs, peakRssBytes: r.peakRssBytes, rssAtStartBytes: r.rssAtStartBytes, requests: r.requests, counts: r.counts, byBehaviour: r.byBehaviour };
  } finally {
    await db.close();
  }
}
