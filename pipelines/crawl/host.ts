// Crawling one host: resolve its name per address family, check each family,
// then one method per category (rsync listing, else http(s) repomd.xml + sampled
// HEADs, else ftp), all under the host's time budget and politeness budget.
// Whatever the mirror does comes back as data (verdicts, a failure, log lines).
import type { Agent } from 'node:http';
import type { Config } from '../core/config.ts';
import type { FailureKind } from '../core/types.ts';
import { mapLimited } from '../core/concurrency.ts';
import { NetError, classifyNetError, deadline } from '../net/errors.ts';
import { tcpCheck, urlHostname, urlPort, withAddress, type Addresses, type Resolver } from '../net/dns.ts';
import { httpRequest, hostAgent, type PinnedAddress } from '../net/http.ts';
import { rsyncList } from '../net/rsync.ts';
import { openFtp, type FtpSession } from '../net/ftp.ts';
import type { CategoryTarget, HostTarget } from './store.ts';
import {
  compareListing,
  joinDir,
  normDir,
  politenessBudget,
  repomdVerdict,
  sampleDirs,
  wantedPaths,
  type MasterCategory,
  type MasterDir,
  type MirrorListing,
  type Verdict,
  type VersionsBehind,
} from './verdict.ts';

export type CrawlConfig = Config['crawl'];
export type Method = 'rsync' | 'https' | 'http' | 'ftp';

export interface CrawlDeps {
  config: CrawlConfig;
  resolver: Resolver;
  signal: AbortSignal;
  rsyncPath?: string;
}

export interface CategoryOutcome {
  hostCategoryId: number;
  categoryId: number;
  category: string;
  method: Method | 'none';
  ok: boolean;
  error?: NetError;
  /** Verdicts of a crawled category; a failed one's are made at write time (failedVerdicts), and both are dropped once written. */
  verdicts: Verdict[];
  fresh: number;
  stale: number;
}

export interface HostOutcome {
  target: HostTarget;
  /** Every category was always_up2date: nothing crawled. */
  skipped: boolean;
  ok: boolean;
  errorKind: FailureKind | null;
  error: string | null;
  method: string;
  startedAt: Date;
  durationMs: number;
  requests: number;
  budget: number;
  bytes: number;
  reachableV4: boolean | null;
  reachableV6: boolean | null;
  lines: string[];
  categories: CategoryOutcome[];
  propagation: Map<number, VersionsBehind>;
}

/** HEADs (or LISTs over ftp) for non-repository directories, within the +20 of the budget. */
export const SAMPLE_PER_HOST = 12;
/** Transport failures in a row (with no success) after which a host's remaining requests are skipped. */
export const GIVE_UP_AFTER = 3;
const MAX_LINES = 200;

const SCHEME_ORDER: Record<string, Method> = { 'rsync:': 'rsync', 'https:': 'https', 'http:': 'http', 'ftp:': 'ftp' };

/** rsync first (one listing covers everything), then https, http, ftp. */
export function pickUrl(urls: readonly string[]): { method: Method; url: URL } | null {
  let best: { method: Method; url: URL; rank: number } | null = null;
  for (const raw of urls) {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      continue;
    }
    const method = SCHEME_ORDER[u.protocol];
    if (!method) continue;
    const rank = ['rsync', 'https', 'http', 'ftp'].indexOf(method);
    if (!best || rank < best.rank) best = { method, url: u, rank };
  }
  return best && { method: best.method, url: best.url };
}

class Budget {
  used = 0;
  constructor(readonly limit: number) {}
  take(what: string): void {
    if (this.used >= this.limit) throw new NetError('other', `politeness budget of ${this.limit} requests exhausted before ${what}`);
    this.used++;
  }
}

export async function crawlHost(target: HostTarget, masters: ReadonlyMap<number, MasterCategory>, deps: CrawlDeps): Promise<HostOutcome> {
  const startedAt = new Date();
  const t0 = performance.now();
  const lines: string[] = [];
  let dropped = 0;
  const log = (line: string) => (lines.length < MAX_LINES ? lines.push(line) : dropped++);
  const crawlable = target.categories.filter((c) => !c.alwaysUp2date);
  const repos = crawlable.reduce((n, c) => n + (masters.get(c.categoryId)?.repos.length ?? 0), 0);
  const budget = new Budget(politenessBudget(repos));
  const outcome: HostOutcome = {
    target,
    skipped: crawlable.length === 0,
    ok: true,
    errorKind: null,
    error: null,
    method: 'none',
    startedAt,
    durationMs: 0,
    requests: 0,
    budget: budget.limit,
    bytes: 0,
    reachableV4: null,
    reachableV6: null,
    lines,
    categories: [],
    propagation: new Map(),
  };
  for (const c of target.categories) if (c.alwaysUp2date) log(`${c.categoryName}: always up to date, not crawled`);
  if (outcome.skipped) return finish();

  const limit = deadline(deps.config.hostTimeoutMs, deps.signal);
  const families = new Map<string, Promise<FamilyCheck>>();
  const ctx: HostCtx = { deps, budget, log, signal: limit.signal, addBytes: (n) => (outcome.bytes += n), propagation: outcome.propagation };
  try {
    for (const cat of crawlable) {
      const master = masters.get(cat.categoryId);
      if (!master) continue;
      const picked = pickUrl(cat.urls);
      if (!picked) {
        const error = new NetError('rejected', `no crawlable URL (rsync, http, https or ftp) for category ${cat.categoryName}`);
        log(`${cat.categoryName}: ${error.message}`);
        outcome.categories.push(failedCategory(cat, master, 'none', error));
        continue;
      }
      outcome.method = outcome.method === 'none' || outcome.method === picked.method ? picked.method : `${outcome.method}+${picked.method}`;
      const key = `${urlHostname(picked.url)}:${urlPort(picked.url)}`;
      if (!families.has(key)) families.set(key, checkFamilies(picked.url, ctx));
      const fam = await families.get(key)!;
      if (key === [...families.keys()][0]) {
        outcome.reachableV4 = fam.v4;
        outcome.reachableV6 = fam.v6;
      }
      if (!fam.pin) {
        outcome.categories.push(failedCategory(cat, master, picked.method, fam.error!));
        continue;
      }
      try {
        const verdicts = await crawlCategory(picked.method, picked.url, fam.pin, master, ctx);
        const fresh = verdicts.filter((v) => v.up2date).length;
        outcome.categories.push({ hostCategoryId: cat.hostCategoryId, categoryId: cat.categoryId, category: cat.categoryName, method: picked.method, ok: true, verdicts, fresh, stale: verdicts.length - fresh });
        // rsync only sees sizes; when the mirror also serves http(s), the key
        // repositories' repomd.xml hashes give their exact version (within the +20).
        const web = picked.method === 'rsync' ? pickUrl(cat.urls.filter((u) => /^https?:/i.test(u))) : null;
        if (web && master.repos.some((r) => r.key)) {
          const wkey = `${urlHostname(web.url)}:${urlPort(web.url)}`;
          if (!families.has(wkey)) families.set(wkey, checkFamilies(web.url, ctx));
          const wfam = await families.get(wkey)!;
          if (wfam.pin) await sampleKeyRepos(web.url, wfam.pin, master, ctx);
        }
      } catch (thrown) {
        const error = limit.timedOut() ? new NetError('timeout', `host time budget of ${deps.config.hostTimeoutMs} ms exhausted`) : classifyNetError(thrown);
        log(`${cat.categoryName}: crawl failed: ${error.message}`);
        outcome.categories.push(failedCategory(cat, master, picked.method, error));
      }
    }
  } finally {
    limit.dispose();
  }
  // A host is up if any category could be crawled; one that answers nothing has failed.
  const failed = outcome.categories.filter((c) => !c.ok);
  // A category we could not crawl serves no version we know of: its key repositories
  // are sampled as unreachable, so the propagation plot does not keep its last bucket.
  for (const c of failed) markUnreachable(masters.get(c.categoryId), outcome.propagation);
  if (outcome.categories.length && failed.length === outcome.categories.length) {
    outcome.ok = false;
    outcome.errorKind = failed[0]!.error!.kind;
    outcome.error = failed[0]!.error!.message;
  }
  return finish();

  function finish(): HostOutcome {
    outcome.requests = budget.used;
    outcome.durationMs = Math.round(performance.now() - t0);
    if (dropped) lines.push(`… ${dropped} more lines not kept`);
    return outcome;
  }
}

interface HostCtx {
  deps: CrawlDeps;
  budget: Budget;
  log(line: string): void;
  signal: AbortSignal;
  addBytes(n: number): void;
  propagation: Map<number, VersionsBehind>;
}

interface FamilyCheck {
  v4: boolean | null;
  v6: boolean | null;
  pin: PinnedAddress | null;
  error?: NetError;
}

/** Resolves A and AAAA, opens one connection per family, pins the first that answers (IPv4 preferred). */
async function checkFamilies(url: URL, ctx: HostCtx): Promise<FamilyCheck> {
  const name = urlHostname(url);
  const port = urlPort(url);
  let addrs: Addresses;
  try {
    addrs = await ctx.deps.resolver.resolve(name, ctx.signal);
  } catch (thrown) {
    const error = classifyNetError(thrown);
    ctx.log(`resolve ${name}: ${error.message}`);
    return { v4: false, v6: false, pin: null, error: new NetError('dns', error.message) };
  }
  ctx.log(`resolve ${name}: A ${addrs.v4.join(' ') || '(none)'}; AAAA ${addrs.v6.join(' ') || '(none)'}`);
  const check = async (address: string | undefined, family: 4 | 6): Promise<{ ok: boolean | null; error?: NetError }> => {
    if (!address) return { ok: false };
    try {
      ctx.budget.take(`connect over IPv${family}`);
      const ms = await tcpCheck(address, port, ctx.deps.config.requestTimeoutMs, ctx.signal);
      ctx.log(`IPv${family} ${address} port ${port}: connected in ${ms} ms`);
      return { ok: true };
    } catch (thrown) {
      const error = classifyNetError(thrown);
      ctx.log(`IPv${family} ${address} port ${port}: ${error.message}`);
      return { ok: false, error };
    }
  };
  const [v4, v6] = [await check(addrs.v4[0], 4), await check(addrs.v6[0], 6)];
  const pin: PinnedAddress | null = v4.ok ? { address: addrs.v4[0]!, family: 4 } : v6.ok ? { address: addrs.v6[0]!, family: 6 } : null;
  return { v4: v4.ok, v6: v6.ok, pin, error: pin ? undefined : (v4.error ?? v6.error ?? new NetError('refused', `${name} is not reachable over IPv4 or IPv6`)) };
}

function failedCategory(cat: CategoryTarget, master: MasterCategory, method: Method | 'none', error: NetError): CategoryOutcome {
  const stale = master.dirs.filter((d) => d.readable).length;
  return { hostCategoryId: cat.hostCategoryId, categoryId: cat.categoryId, category: cat.categoryName, method, ok: false, error, verdicts: [], fresh: 0, stale };
}

/** Key repositories of a failed category without a sample yet: unreachable (null). */
export function markUnreachable(master: MasterCategory | undefined, propagation: Map<number, VersionsBehind>): void {
  for (const r of master?.repos ?? []) if (r.key && !propagation.has(r.id)) propagation.set(r.id, null);
}

/** A host we could not crawl is stale everywhere until it answers again. */
export function failedVerdicts(master: MasterCategory, error: NetError | undefined): Verdict[] {
  const reason = `crawl failed: ${error?.message ?? 'unknown error'}`.slice(0, 500);
  return master.dirs.filter((d) => d.readable).map((d) => ({ dirId: d.id, up2date: false, reason }));
}

async function crawlCategory(method: Method, url: URL, pin: PinnedAddress, master: MasterCategory, ctx: HostCtx): Promise<Verdict[]> {
  if (method === 'rsync') return crawlRsync(url, pin, master, ctx);
  if (method === 'ftp') return crawlFtp(url, pin, master, ctx);
  return crawlHttp(url, pin, master, ctx);
}

async function crawlRsync(url: URL, pin: PinnedAddress, master: MasterCategory, ctx: HostCtx): Promise<Verdict[]> {
  const target = withAddress(url, pin.address).replace(/\/*$/, '/');
  const wanted = wantedPaths(master);
  ctx.budget.take('rsync listing');
  // The listing streams into the comparison's sets: no list of entries is held.
  const listing: MirrorListing = { dirs: new Set(), files: new Map() };
  const res = await rsyncList({
    url: target,
    timeoutMs: ctx.deps.config.hostTimeoutMs,
    ioTimeoutMs: ctx.deps.config.requestTimeoutMs,
    family: pin.family,
    signal: ctx.signal,
    rsyncPath: ctx.deps.rsyncPath,
    keep: (e) => {
      if (e.type === 'dir') {
        const dir = normDir(e.path);
        if (wanted.dirs.has(dir)) listing.dirs.add(dir);
      } else if (wanted.files.has(e.path)) listing.files.set(e.path, e.size);
      return false;
    },
  });
  ctx.addBytes(res.bytes);
  ctx.log(`rsync --list-only -r ${url.href}: ${res.lines} lines in ${res.durationMs} ms${res.unparsed ? `, ${res.unparsed} unparsable` : ''}${res.partial ? `; partial: ${res.partial}` : ''}`);
  const { verdicts, propagation } = compareListing(master, listing);
  for (const [k, v] of propagation) ctx.propagation.set(k, v);
  logVerdicts(master, verdicts, ctx);
  return verdicts;
}

function logVerdicts(master: MasterCategory, verdicts: Verdict[], ctx: HostCtx): void {
  const names = new Map(master.dirs.map((d) => [d.id, d.name]));
  const stale = verdicts.filter((v) => !v.up2date);
  ctx.log(`${master.name}: ${verdicts.length - stale.length} directories up to date, ${stale.length} not`);
  for (const v of stale) ctx.log(`  stale ${names.get(v.dirId) ?? v.dirId}: ${v.reason}`);
}

/** Per-request failures become verdicts; after GIVE_UP_AFTER transport failures with no success the host is abandoned. */
class Streak {
  failures = 0;
  successes = 0;
  last: NetError | null = null;
  ok(): void {
    this.successes++;
  }
  fail(err: NetError): void {
    this.failures++;
    this.last = err;
  }
  get hopeless(): boolean {
    return this.successes === 0 && this.failures >= GIVE_UP_AFTER;
  }
}

async function crawlHttp(url: URL, pin: PinnedAddress, master: MasterCategory, ctx: HostCtx): Promise<Verdict[]> {
  const cfg = ctx.deps.config;
  const base = url.href.replace(/\/*$/, '/');
  const agent: Agent = hostAgent(base, cfg.perHost);
  const streak = new Streak();
  const verdicts: Verdict[] = [];
  const common = {
    timeoutMs: cfg.requestTimeoutMs,
    maxRedirects: cfg.maxRedirects,
    allowOffHostRedirects: cfg.allowOffHostRedirects,
    signal: ctx.signal,
    pin,
    agent,
    onRequest: (u: string) => ctx.budget.take(u),
  };
  try {
    await mapLimited(master.repos, { concurrency: cfg.perHost, signal: ctx.signal }, async (repo) => {
      if (streak.hopeless) return;
      const path = joinDir(repo.dirName, 'repodata/repomd.xml');
      let fetched: Parameters<typeof repomdVerdict>[1];
      try {
        const res = await httpRequest(new URL(encodePath(path), base).href, { ...common, method: 'GET', maxBytes: cfg.maxResponseBytes });
        ctx.addBytes(res.bytes);
        streak.ok();
        fetched = res.status === 200 && res.sha256 ? { status: 'ok', sha256: res.sha256, bytes: res.bytes } : { status: 'missing', detail: `HTTP ${res.status}` };
      } catch (thrown) {
        const err = classifyNetError(thrown);
        if (err.kind === 'cancelled') throw err;
        streak.fail(err);
        ctx.log(`GET ${path}: ${err.message}`);
        verdicts.push({ dirId: repo.dirId, up2date: false, reason: `GET repomd.xml failed: ${err.message}`.slice(0, 500) });
        if (repo.key) ctx.propagation.set(repo.id, null);
        return;
      }
      const v = repomdVerdict(repo, fetched);
      verdicts.push({ dirId: repo.dirId, up2date: v.up2date, reason: v.reason });
      if (repo.repodataDirId !== null) verdicts.push({ dirId: repo.repodataDirId, up2date: v.up2date, reason: v.reason });
      if (repo.key) ctx.propagation.set(repo.id, v.behind);
    });
    if (streak.hopeless) throw streak.last!;
    const sample = sampleDirs(master, Math.min(SAMPLE_PER_HOST, ctx.budget.limit - ctx.budget.used));
    await mapLimited(sample, { concurrency: cfg.perHost, signal: ctx.signal }, async (dir) => {
      if (streak.hopeless) return;
      const file = firstFile(dir);
      const path = joinDir(dir.name, file.name);
      try {
        const res = await httpRequest(new URL(encodePath(path), base).href, { ...common, method: 'HEAD', maxBytes: 0 });
        streak.ok();
        const len = res.headers['content-length'] !== undefined ? Number(res.headers['content-length']) : null;
        verdicts.push(
          res.status !== 200
            ? { dirId: dir.id, up2date: false, reason: `HEAD ${file.name}: HTTP ${res.status}` }
            : len !== null && len !== file.size
              ? { dirId: dir.id, up2date: false, reason: `HEAD ${file.name}: ${len} bytes, master ${file.size}` }
              : { dirId: dir.id, up2date: true, reason: `HEAD ${file.name}: present${len !== null ? `, ${len} bytes` : ''}` },
        );
      } catch (thrown) {
        const err = classifyNetError(thrown);
        if (err.kind === 'cancelled') throw err;
        streak.fail(err);
        verdicts.push({ dirId: dir.id, up2date: false, reason: `HEAD ${file.name} failed: ${err.message}`.slice(0, 500) });
      }
    });
  } finally {
    agent.destroy();
  }
  if (ctx.signal.aborted) throw ctx.signal.reason instanceof Error ? ctx.signal.reason : new NetError('cancelled', 'cancelled');
  logVerdicts(master, verdicts, ctx);
  return verdicts;
}

async function crawlFtp(url: URL, pin: PinnedAddress, master: MasterCategory, ctx: HostCtx): Promise<Verdict[]> {
  const cfg = ctx.deps.config;
  const top = decodeURIComponent(url.pathname).replace(/\/*$/, '');
  const session: FtpSession = await openFtp({
    host: pin.address,
    port: urlPort(url),
    requestTimeoutMs: cfg.requestTimeoutMs,
    sessionTimeoutMs: cfg.hostTimeoutMs,
    maxListingBytes: cfg.maxResponseBytes,
    signal: ctx.signal,
    onRequest: (what) => ctx.budget.take(what),
  });
  const verdicts: Verdict[] = [];
  const streak = new Streak();
  try {
    for (const repo of master.repos) {
      if (streak.hopeless) break;
      const path = `${top}/${joinDir(repo.dirName, 'repodata/repomd.xml')}`;
      try {
        const got = await session.fetch(path, cfg.maxResponseBytes);
        streak.ok();
        if (got) ctx.addBytes(got.bytes);
        const v = repomdVerdict(repo, got ? { status: 'ok', sha256: got.sha256, bytes: got.bytes } : { status: 'missing', detail: 'FTP 550' });
        verdicts.push({ dirId: repo.dirId, up2date: v.up2date, reason: v.reason });
        if (repo.repodataDirId !== null) verdicts.push({ dirId: repo.repodataDirId, up2date: v.up2date, reason: v.reason });
        if (repo.key) ctx.propagation.set(repo.id, v.behind);
      } catch (thrown) {
        const err = classifyNetError(thrown);
        if (err.kind === 'cancelled' || err.kind === 'timeout') throw err;
        streak.fail(err);
        ctx.log(`RETR ${path}: ${err.message}`);
        verdicts.push({ dirId: repo.dirId, up2date: false, reason: `RETR repomd.xml failed: ${err.message}`.slice(0, 500) });
      }
    }
    if (streak.hopeless) throw streak.last!;
    for (const dir of sampleDirs(master, Math.min(SAMPLE_PER_HOST, ctx.budget.limit - ctx.budget.used))) {
      try {
        const entries = await session.list(`${top}/${normDir(dir.name) === '.' ? '' : dir.name}`);
        streak.ok();
        const sizes = new Map(entries.filter((e) => !e.isDir).map((e) => [e.name, e.size]));
        const bad = dir.files.filter((f) => sizes.get(f.name) !== f.size);
        verdicts.push(
          bad.length
            ? { dirId: dir.id, up2date: false, reason: `LIST: ${bad.length} of ${dir.files.length} files missing or a different size (first: ${bad[0]!.name})` }
            : { dirId: dir.id, up2date: true, reason: `LIST: all ${dir.files.length} listed files match` },
        );
      } catch (thrown) {
        const err = classifyNetError(thrown);
        if (err.kind === 'cancelled' || err.kind === 'timeout') throw err;
        verdicts.push({ dirId: dir.id, up2date: false, reason: `LIST failed: ${err.message}`.slice(0, 500) });
      }
    }
  } finally {
    session.close();
  }
  logVerdicts(master, verdicts, ctx);
  return verdicts;
}

/** Exact propagation for key repositories over http(s), best effort: failures keep the size-based guess. */
async function sampleKeyRepos(url: URL, pin: PinnedAddress, master: MasterCategory, ctx: HostCtx): Promise<void> {
  const cfg = ctx.deps.config;
  const base = url.href.replace(/\/*$/, '/');
  for (const repo of master.repos.filter((r) => r.key).slice(0, SAMPLE_PER_HOST)) {
    const path = joinDir(repo.dirName, 'repodata/repomd.xml');
    try {
      const res = await httpRequest(new URL(encodePath(path), base).href, {
        timeoutMs: cfg.requestTimeoutMs,
        maxBytes: cfg.maxResponseBytes,
        maxRedirects: cfg.maxRedirects,
        allowOffHostRedirects: cfg.allowOffHostRedirects,
        signal: ctx.signal,
        pin,
        onRequest: (u) => ctx.budget.take(u),
      });
      ctx.addBytes(res.bytes);
      if (res.status !== 200 || !res.sha256) continue;
      const v = repomdVerdict(repo, { status: 'ok', sha256: res.sha256, bytes: res.bytes });
      ctx.propagation.set(repo.id, v.behind);
      ctx.log(`key repository ${repo.prefix}/${repo.arch} over http: ${v.reason}`);
    } catch (thrown) {
      const err = classifyNetError(thrown);
      if (err.kind === 'cancelled') throw err;
      ctx.log(`key repository ${repo.prefix}/${repo.arch} over http: ${err.message}`);
      return;
    }
  }
}

function firstFile(dir: MasterDir): { name: string; size: number } {
  return [...dir.files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))[0]!;
}

function encodePath(p: string): string {
  return p
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
}
