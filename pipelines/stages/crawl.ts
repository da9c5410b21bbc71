// Stage `crawl`: for every active public host-category, decide per master directory
// whether the mirror is up to date (rsync listing, else http(s) repomd.xml hashes
// and sampled HEADs, else ftp), then write each host's verdicts, failure
// accounting, crawl log and propagation samples in one transaction per host.
// Hosts that answered are written as they finish; failed hosts wait for the outage
// guard, which holds back every failure when most hosts fail at once.
import { defaultMaxListeners, setMaxListeners } from 'node:events';
import { mapLimited } from '../core/concurrency.ts';
import { UsageError } from '../core/errors.ts';
import type { Failure, Stage, StageContext, StageResult } from '../core/types.ts';
import { crawlHost, failedVerdicts, type CrawlDeps, type HostOutcome } from '../crawl/host.ts';
import { loadMaster, loadTargets, recentErrors, saveHost, type HostTarget } from '../crawl/store.ts';
import { isOutage, nextHostState, parseShard, shardOf, type MasterCategory } from '../crawl/verdict.ts';
import { systemResolver, type Resolver } from '../net/dns.ts';

export interface CrawlOptions {
  host?: string;
  category?: string;
  shard?: { index: number; count: number };
  dryRun: boolean;
  /** Tests and the simulated network pin names to loopback addresses. */
  resolver: Resolver;
  rsyncPath?: string;
}

export async function run(ctx: StageContext): Promise<StageResult> {
  const opts = crawlOptions(ctx);
  const cfg = ctx.config.crawl;
  const targets = (await loadTargets(ctx.db, opts)).filter((t) => !opts.shard || shardOf(t.name, opts.shard.count) === opts.shard.index);
  if (opts.host && targets.length === 0) throw new UsageError(`no active public host named ${opts.host}${opts.category ? ` carrying ${opts.category}` : ''}`);
  const masters = await loadMasters(ctx, targets);
  // Every host in flight listens on the run's signal (its own deadline hangs off it).
  setMaxListeners(Math.max(defaultMaxListeners, cfg.concurrency * 4 + 16), ctx.signal);
  const deps: CrawlDeps = { config: cfg, resolver: opts.resolver, signal: ctx.signal, rsyncPath: opts.rsyncPath };

  const bar = ctx.progress('crawl', targets.length);
  const settled = await mapLimited(targets, { concurrency: cfg.concurrency, signal: ctx.signal }, async (target) => {
    const outcome = await crawlHost(target, masters, deps);
    // An answer is good news whatever the others do: store it now.
    if (outcome.ok && !opts.dryRun) await save(ctx, outcome, true, masters);
    // Written (or a dry run): only the counts are needed from here on.
    if (outcome.ok) {
      for (const c of outcome.categories) c.verdicts = [];
      outcome.lines = [];
    }
    bar.tick();
    return outcome;
  });
  bar.done();
  const outcomes = settled.flatMap((s) => (s.ok ? [s.value] : []));
  const thrown = settled.flatMap((s) => (s.ok ? [] : [s.error]));
  // A write that threw is an infrastructure problem (the DB), not a mirror's.
  if (thrown.length && !ctx.signal.aborted) throw new Error(`crawl could not store results: ${thrown[0]!.message}`, { cause: thrown[0] });

  const crawled = outcomes.filter((o) => !o.skipped);
  const failed = crawled.filter((o) => !o.ok);
  const outage = !opts.host && isOutage(crawled.length, failed.length, cfg.outageShare, cfg.outageMinHosts);
  if (outage) ctx.log.error(`outage guard: ${failed.length} of ${crawled.length} hosts failed (more than ${Math.round(cfg.outageShare * 100)}%); assuming our own network is at fault, failures not counted, previous freshness kept`);
  if (!opts.dryRun) for (const o of failed) await save(ctx, o, !outage, masters);

  return summarize(outcomes, failed, outage, opts.dryRun);
}

function crawlOptions(ctx: StageContext): CrawlOptions {
  const o = ctx.options;
  let shard: CrawlOptions['shard'];
  if (typeof o.shard === 'string') {
    try {
      shard = parseShard(o.shard);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const resolver = isResolver(o.resolver) ? o.resolver : systemResolver;
  return {
    host: typeof o.host === 'string' ? o.host : undefined,
    category: typeof o.category === 'string' ? o.category : undefined,
    shard,
    dryRun: ctx.run.dryRun || o.dryRun === true,
    resolver,
    rsyncPath: typeof o.rsyncPath === 'string' ? o.rsyncPath : undefined,
  };
}

function isResolver(v: unknown): v is Resolver {
  return typeof v === 'object' && v !== null && typeof (v as Resolver).resolve === 'function';
}

async function loadMasters(ctx: StageContext, targets: readonly HostTarget[]): Promise<Map<number, MasterCategory>> {
  const wanted = new Map<number, string>();
  for (const t of targets) for (const c of t.categories) if (!c.alwaysUp2date) wanted.set(c.categoryId, c.categoryName);
  const masters = new Map<number, MasterCategory>();
  for (const [id, name] of wanted) {
    const keyRepos = ctx.config.categories.find((c) => c.name === name)?.keyRepos ?? [];
    const m = await loadMaster(ctx.db, id, name, keyRepos);
    if (m.dirs.length === 0) ctx.log.warn(`category ${name} has no directories yet (run scan-master first); its hosts get no verdicts`);
    masters.set(id, m);
  }
  return masters;
}

/** One transaction per host: verdicts (unless the outage guard holds them), state, log, samples. */
async function save(ctx: StageContext, o: HostOutcome, counted: boolean, masters: ReadonlyMap<number, MasterCategory>): Promise<void> {
  const cfg = ctx.config.crawl;
  await ctx.db.transaction(async (tx) => {
    let state = null;
    if (o.ok) state = nextHostState(o.target.state, { ok: true }, cfg.failuresBeforeDisable);
    else if (counted) {
      const earlier = o.target.state.crawlFailures + 1 >= cfg.failuresBeforeDisable ? await recentErrors(tx, o.target.hostId, 2) : [];
      state = nextHostState(o.target.state, { ok: false, error: o.error ?? undefined }, cfg.failuresBeforeDisable, earlier);
    }
    if (state && state.autoDisabled !== o.target.state.autoDisabled) {
      ctx.log.warn(state.autoDisabled ? `${o.target.name}: ${state.disableReason}` : `${o.target.name}: re-enabled after a successful crawl`);
    }
    await saveHost(tx, {
      hostId: o.target.hostId,
      runId: ctx.run.id,
      startedAt: o.startedAt,
      durationMs: o.durationMs,
      method: o.method,
      ok: o.ok,
      counted,
      errorKind: o.errorKind,
      summary: summaryLine(o, counted),
      requests: o.requests,
      budget: o.budget,
      bytes: o.bytes,
      reachableV4: o.reachableV4,
      reachableV6: o.reachableV6,
      lines: o.lines,
      categories: counted
        ? o.categories.map((c) => ({ hostCategoryId: c.hostCategoryId, verdicts: c.ok ? c.verdicts : failedVerdicts(masters.get(c.categoryId)!, c.error) }))
        : [],
      state,
      propagation: counted ? o.propagation : new Map(),
      propagationDays: cfg.propagationDays,
    });
  });
}

export function summaryLine(o: HostOutcome, counted = true): string {
  if (!o.ok) return `${o.error ?? 'failed'}${counted ? '' : ' (not counted: outage guard)'}`;
  const fresh = o.categories.reduce((n, c) => n + c.fresh, 0);
  const total = o.categories.reduce((n, c) => n + c.fresh + c.stale, 0);
  const partial = o.categories.filter((c) => !c.ok).map((c) => `${c.category}: ${c.error?.message}`);
  return `${o.method}: ${fresh} of ${total} directories up to date; ${o.requests} requests (budget ${o.budget})${partial.length ? `; failed ${partial.join('; ')}` : ''}`;
}

function summarize(outcomes: HostOutcome[], failed: HostOutcome[], outage: boolean, dryRun: boolean): StageResult {
  const crawled = outcomes.filter((o) => !o.skipped);
  const failures: Failure[] = failed.map((o) => ({ subject: o.target.name, kind: o.errorKind ?? 'other', message: o.error ?? 'failed' }));
  const requests = crawled.map((o) => o.requests);
  const maxReq = Math.max(0, ...requests);
  const worst = crawled.reduce<HostOutcome | null>((w, o) => (!w || o.requests / o.budget > w.requests / w.budget ? o : w), null);
  const overBudget = crawled.filter((o) => o.requests > o.budget).length;
  const total = requests.reduce((a, b) => a + b, 0);
  const stale = crawled.filter((o) => o.ok && o.categories.some((c) => c.stale > 0)).length;
  // Hosts whose every category is always_up2date are not crawled and count as fine.
  const alwaysUp2date = outcomes.length - crawled.length;
  const notes = [
    `politeness: ${total} requests, at most ${maxReq} on one host${worst ? ` (${worst.target.name}: ${worst.requests} of a budget of ${worst.budget} = repositories + 20)` : ''}, ${overBudget} host(s) over budget`,
    `freshness: ${crawled.length - failed.length - stale} host(s) fully up to date, ${stale} with stale directories, ${failed.length} failed`,
  ];
  if (alwaysUp2date) notes.push(`always_up2date: ${alwaysUp2date} host(s) not crawled, counted as ok`);
  if (outage) notes.push(`outage guard: ${failed.length} failed host(s) not counted against their mirrors (${failed.slice(0, 5).map((o) => o.target.name).join(', ')}${failed.length > 5 ? ', …' : ''})`);
  if (dryRun) notes.push('dry run: nothing written');
  return {
    stage: 'crawl',
    counts: { ok: crawled.length - failed.length + alwaysUp2date, failed: outage ? 0 : failed.length, skipped: 0 },
    failures: outage ? [] : failures,
    degraded: outage,
    stats: {
      hosts: outcomes.length,
      requests: total,
      requestsMaxPerHost: maxReq,
      requestsMeanPerHost: crawled.length ? Math.round((total / crawled.length) * 10) / 10 : 0,
      overBudget,
      outage,
      alwaysUp2date,
    },
    notes,
  };
}

export const crawlStage: Stage = {
  name: 'crawl',
  description: 'check every public mirror against the master tree (rsync listing, http(s) repomd.xml hashes, ftp) and record freshness',
  run,
};
