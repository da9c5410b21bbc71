// Benchmark hook: crawl N simulated mirrors carrying a master of R repositories
// (default ≈500 × 1,200, the Fedora-scale figure) and measure wall time,
// peak RSS and requests per host. Mirrors are served by one real nginx (a server
// per mirror on its own loopback port) plus an rsync daemon for the share that
// offers rsync; a few are slow (a Node server delaying every response), stale,
// missing a directory or dead. Everything is started and stopped here.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../core/config.ts';
import { openDb, type Db } from '../core/db.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { migrate } from '../core/migrate.ts';
import type { StageResult } from '../core/types.ts';
import { staticResolver, type Addresses } from '../net/dns.ts';
import { run as crawl } from '../stages/crawl.ts';
import { freePorts, startNginxSim, startRsyncSim, type Managed } from './daemons.ts';
import { startSimHttpServer, type SimHttpServer } from './http-server.ts';
import { seedSimMaster, writeSimMaster } from './master.ts';
import { moduleName, registerSimHosts } from './network.ts';
import { buildVariant, type SimBehaviour } from './trees.ts';

export interface BenchCrawlOptions {
  mirrors?: number;
  repos?: number;
  /** Shares of mirrors (the rest are fresh). */
  slowShare?: number;
  deadShare?: number;
  staleShare?: number;
  rsyncShare?: number;
  /** Per-response delay of slow mirrors. */
  slowDelayMs?: number;
  /** crawl.concurrency (default: the config default). */
  concurrency?: number;
  nginx: string;
  rsync?: string | null;
  workDir?: string;
  /** Reuse an open database (its master/hosts are replaced); default a fresh in-memory PGlite. */
  db?: Db;
  log?: Logger;
  onProgress?: (message: string) => void;
}

export interface BenchCrawlResult {
  mirrors: number;
  repos: number;
  wallMs: number;
  setupMs: number;
  peakRssBytes: number;
  /** RSS when the crawl started (the in-process PGlite and the seeded master are most of it). */
  rssAtStartBytes: number;
  requests: { total: number; maxPerHost: number; meanPerHost: number; budgetPerHost: number; overBudget: number };
  counts: StageResult['counts'];
  byBehaviour: Record<string, number>;
  notes: string[];
}

/** Which behaviour mirror i gets: deterministic, spread over the list. */
export function benchBehaviour(i: number, n: number, o: Required<Pick<BenchCrawlOptions, 'slowShare' | 'deadShare' | 'staleShare'>>): SimBehaviour | 'slow' {
  const f = (i * 7919) % n;
  const cut = (share: number) => Math.round(share * n);
  const dead = cut(o.deadShare);
  const slow = dead + cut(o.slowShare);
  const stale = slow + cut(o.staleShare);
  if (f < dead) return 'dead';
  if (f < slow) return 'slow';
  if (f < stale) return f % 3 === 0 ? 'stale-3' : f % 3 === 1 ? 'stale-1' : 'missing-dir';
  return 'fresh';
}

export async function benchCrawl(opts: BenchCrawlOptions): Promise<BenchCrawlResult> {
  const n = opts.mirrors ?? 500;
  const repos = opts.repos ?? 1200;
  const shares = { slowShare: opts.slowShare ?? 0.02, deadShare: opts.deadShare ?? 0.04, staleShare: opts.staleShare ?? 0.1 };
  const say = opts.onProgress ?? (() => {});
  const t0 = performance.now();
  const work = opts.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ms-bench-crawl-'));
  const started: Managed[] = [];
  let slowServer: SimHttpServer | null = null;
  const db = opts.db ?? (await openDb({ dataDir: 'memory://' }));
  try {
    if (!opts.db) await migrate(db);
    say(`writing a master of ${repos} repositories (4 pushes)`);
    const master = writeSimMaster(path.join(work, 'master'), { repos, pushes: 4 });
    const { categoryId } = await db.transaction((tx) => seedSimMaster(tx, master, { name: 'Fedora Linux', topdir: 'pub/fedora/linux' }));
    const behaviours = Array.from({ length: n }, (_, i) => benchBehaviour(i, n, shares));
    const trees = new Map<string, string>();
    for (const b of new Set(behaviours)) {
      const variant: SimBehaviour = b === 'slow' ? 'fresh' : b;
      if (!trees.has(variant)) trees.set(variant, buildVariant(master, variant, path.join(work, 'trees', variant)));
      trees.set(b, trees.get(variant)!);
    }
    say(`starting nginx with ${n} servers`);
    const names = behaviours.map((_, i) => `m${String(i).padStart(4, '0')}.bench.test`);
    // Distinct ports, the rsync daemon's included: a dead mirror's port must stay unanswered.
    const [rsyncPortPicked, ...ports] = await freePorts(n + 1);
    const servers = behaviours.flatMap((b, i) => (b === 'dead' || b === 'slow' ? [] : [{ address: '127.0.0.1', port: ports[i]!, root: trees.get(b)!, extra: 'rewrite ^/linux/(.*)$ /$1 break;' }]));
    started.push(await startNginxSim(opts.nginx, path.join(work, 'nginx'), servers, 2));
    const slow = behaviours.flatMap((b, i) => (b === 'slow' ? [{ name: names[i]!, root: trees.get('slow')! }] : []));
    if (slow.length) slowServer = await startSimHttpServer(slow.map((s) => ({ ...s, delayMs: opts.slowDelayMs ?? 200 })));
    const rsyncShare = opts.rsync ? (opts.rsyncShare ?? 0.3) : 0;
    const rsyncIdx = new Set(behaviours.flatMap((b, i) => (b !== 'slow' && b !== 'dead' && (i * 104729) % 100 < rsyncShare * 100 ? [i] : [])));
    const rsyncPort = rsyncPortPicked!;
    if (rsyncIdx.size) {
      started.push(await startRsyncSim(opts.rsync!, path.join(work, 'rsyncd'), '127.0.0.1', rsyncPort, [...rsyncIdx].map((i) => ({ name: moduleName(names[i]!), path: trees.get(behaviours[i]!)! }))));
    }
    const table: Record<string, Addresses> = {};
    const hosts = names.map((name, i) => {
      table[name] = { v4: ['127.0.0.1'], v6: [] };
      const urls =
        behaviours[i] === 'slow' ? [`http://${name}:${slowServer!.port}/${name}/`] : [`http://${name}:${ports[i]}/linux/`, ...(rsyncIdx.has(i) ? [`rsync://${name}:${rsyncPort}/${moduleName(name)}/`] : [])];
      return { name, urls };
    });
    await db.transaction((tx) => registerSimHosts(tx, categoryId, hosts));
    const config = parseConfig({ crawl: opts.concurrency ? { concurrency: opts.concurrency } : {} }, '');
    const setupMs = Math.round(performance.now() - t0);

    say(`crawling ${n} mirrors at concurrency ${config.crawl.concurrency}`);
    const rssAtStart = process.memoryUsage().rss;
    let peak = rssAtStart;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
    const t1 = performance.now();
    let result: StageResult;
    try {
      result = await crawl({
        db,
        config,
        log: opts.log ?? createLogger({ level: 'warn' }),
        signal: new AbortController().signal,
        run: { id: null, startedAt: new Date(), generationId: 'bench', force: false, dryRun: false },
        options: { resolver: staticResolver(table, null) },
        progress: () => ({ tick() {}, done() {} }),
      });
    } finally {
      clearInterval(sampler);
    }
    const wallMs = Math.round(performance.now() - t1);
    peak = Math.max(peak, process.memoryUsage().rss);
    const { rows } = await db.query<{ requests: number; budget: number }>('SELECT requests, budget FROM crawl_log');
    const total = rows.reduce((a, r) => a + r.requests, 0);
    const byBehaviour: Record<string, number> = {};
    for (const b of behaviours) byBehaviour[b] = (byBehaviour[b] ?? 0) + 1;
    return {
      mirrors: n,
      repos,
      wallMs,
      setupMs,
      peakRssBytes: peak,
      rssAtStartBytes: rssAtStart,
      requests: {
        total,
        maxPerHost: Math.max(0, ...rows.map((r) => r.requests)),
        meanPerHost: rows.length ? Math.round(total / rows.length) : 0,
        budgetPerHost: repos + 20,
        overBudget: rows.filter((r) => r.requests > r.budget).length,
      },
      counts: result.counts,
      byBehaviour,
      notes: result.notes ?? [],
    };
  } finally {
    await slowServer?.close();
    for (const m of started.reverse()) await m.stop().catch(() => {});
    if (!opts.db) await db.close();
    if (!opts.workDir) fs.rmSync(work, { recursive: true, force: true });
  }
}
