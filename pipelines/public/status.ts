// Status pages: an overview (fresh mirrors per category, propagation of key
// repositories, recent runs), one page per mirror for its admins, and status.json.
// View models are built field by field from the snapshot; pure.
import type { CategoryConfig } from '../core/config.ts';
import type { PublicHost, PublicRepository } from './data.ts';
import {
  cmp, countryLabel, fmtBandwidth, fmtDuration, fmtTime, isListed, isPublicHost, registryActive, safeHref, servable, slug,
  urlsByProtocol, type Facts,
} from './model.ts';
import { propagationSeries, type PropagationPoint } from './propagation.ts';
import { notServingReason, repoKey } from './publiclist.ts';
import { isPrivateHost } from '../core/private.ts';

export interface StatusOptions {
  propagationDays: number;
  statusPrivateHosts: boolean;
  keyRepos: string[];
}

export interface StatusContext extends StatusOptions {
  /** Repositories with a propagation plot (plottedRepos), computed once per build. */
  plotted: PublicRepository[];
}

export function statusContext(f: Facts, opts: StatusOptions): StatusContext {
  return { ...opts, plotted: plottedRepos(f, opts.keyRepos) };
}

export function keyReposOf(categories: readonly CategoryConfig[]): string[] {
  return categories.flatMap((c) => c.keyRepos);
}

/** Hosts with a status page: every host the registry keeps, private ones if configured. */
export function statusHosts(f: Facts, opts: Pick<StatusOptions, 'statusPrivateHosts'>): PublicHost[] {
  return f.data.hosts
    .filter((h) => {
      const site = f.siteOf.get(h.siteId);
      if (!site) return false;
      return isPublicHost(h, site) || (opts.statusPrivateHosts && isPrivateHost(h, site) && registryActive(h, site));
    })
    .sort((a, b) => cmp(a.name, b.name));
}

export function hostPagePath(name: string): string {
  return `status/hosts/${slug(name)}.html`;
}

export function plotPath(r: Pick<PublicRepository, 'prefix' | 'arch'>): string {
  return `status/propagation/${slug(r.prefix)}.${slug(r.arch)}.svg`;
}

/** Repositories with a propagation plot: the configured key repositories and any with samples. */
export function plottedRepos(f: Facts, keyRepos: string[]): PublicRepository[] {
  const sampled = new Set(f.samplesByRepo.keys());
  const keys = new Set(keyRepos);
  return f.data.repositories
    .filter((r) => sampled.has(r.id) || keys.has(r.prefix) || keys.has(repoKey(r)))
    .sort((a, b) => cmp(a.prefix, b.prefix) || cmp(a.arch, b.arch));
}

export function seriesFor(f: Facts, r: PublicRepository, days: number): PropagationPoint[] {
  return propagationSeries(f.samplesByRepo.get(r.id) ?? [], { days });
}

interface CategoryState {
  name: string;
  repositories: number;
  hosts: number;
  fresh: number;
  partial: number;
  stale: number;
  notServing: number;
}

function categoryStates(f: Facts): CategoryState[] {
  return [...f.data.categories]
    .sort((a, b) => cmp(a.name, b.name))
    .map((c) => {
      const repos = (f.reposByCategory.get(c.id) ?? []).filter(servable);
      const st: CategoryState = { name: c.name, repositories: repos.length, hosts: 0, fresh: 0, partial: 0, stale: 0, notServing: 0 };
      for (const h of f.publicHosts) {
        if (!h.categories.some((hc) => hc.categoryId === c.id)) continue;
        st.hosts++;
        if (notServingReason(h)) {
          st.notServing++;
          continue;
        }
        const n = repos.filter((r) => isListed(f, h.id, r.id)).length;
        if (repos.length > 0 && n === repos.length) st.fresh++;
        else if (n > 0) st.partial++;
        else st.stale++;
      }
      return st;
    });
}

function latestShares(series: PropagationPoint[]) {
  const last = series[series.length - 1];
  if (!last) return { current: 0, behind1: 0, behind2: 0, older: 0, unreachable: 0, total: 0, at: 'never' };
  return { ...last.counts, total: last.total, at: fmtTime(last.at) };
}

export function statusIndexView(f: Facts, opts: StatusContext) {
  const hosts = statusHosts(f, opts);
  const plots = opts.plotted.map((r) => {
    const s = latestShares(seriesFor(f, r, opts.propagationDays));
    return { key: repoKey(r), src: plotPath(r).slice('status/'.length), ...s };
  });
  const row = (h: PublicHost) => {
    const reason = notServingReason(h);
    const carried = h.categories.flatMap((hc) => (f.reposByCategory.get(hc.categoryId) ?? []).filter(servable));
    const fresh = carried.filter((r) => isListed(f, h.id, r.id)).length;
    return {
      name: h.name,
      href: hostPagePath(h.name).slice('status/'.length),
      site: f.siteOf.get(h.siteId)!.name,
      country: h.country ?? '—',
      fresh: `${fresh}/${carried.length}`,
      cls: reason ? 'stale' : carried.length > 0 && fresh === carried.length ? 'ok' : fresh > 0 ? 'partial' : 'stale',
      lastCrawl: fmtTime(h.lastCrawled),
      lastCheckedIn: fmtTime(h.lastCheckedIn),
      failures: h.crawlFailures,
      note: reason ?? '',
    };
  };
  const isPriv = (h: PublicHost) => isPrivateHost(h, f.siteOf.get(h.siteId)!);
  return {
    title: 'Mirror status',
    base: '../',
    categories: categoryStates(f),
    plots,
    propagationDays: opts.propagationDays,
    publicHosts: hosts.filter((h) => !isPriv(h)).map(row),
    privateHosts: hosts.filter(isPriv).map(row),
    runs: f.data.runs.slice(0, 10).map((r) => ({
      id: r.id,
      started: fmtTime(r.startedAt),
      status: r.status,
      duration: r.finishedAt ? fmtDuration(r.finishedAt.getTime() - r.startedAt.getTime()) : '—',
      stages: r.stages.map((s) => `${s.stage} ${s.status} ${fmtDuration(s.durationMs)}`).join(' · '),
    })),
  };
}

export function hostStatusView(f: Facts, h: PublicHost, opts: StatusContext) {
  const site = f.siteOf.get(h.siteId)!;
  const priv = isPrivateHost(h, site);
  const plotted = new Set(opts.plotted.map((r) => r.id));
  const categories = h.categories
    .map((hc) => {
      const cat = f.data.categories.find((c) => c.id === hc.categoryId)!;
      const repos = (f.reposByCategory.get(hc.categoryId) ?? []).filter(servable);
      const fresh = repos.filter((r) => isListed(f, h.id, r.id));
      const stale = repos.filter((r) => !fresh.includes(r)).map((r) => ({ key: repoKey(r), behind: staleness(f, h, r), plot: plotted.has(r.id) ? `../${plotPath(r).slice('status/'.length)}` : null }));
      return {
        name: cat.name,
        alwaysUp2date: hc.alwaysUp2date,
        share: `${fresh.length}/${repos.length}`,
        percent: repos.length ? Math.round((fresh.length / repos.length) * 100) : 0,
        cls: repos.length > 0 && fresh.length === repos.length ? 'ok' : fresh.length > 0 ? 'partial' : 'stale',
        stale,
        // Private hosts' URLs are for their own network: not published.
        protocols: priv ? [] : urlsByProtocol(hc.urls).map((p) => ({ protocol: p.protocol, urls: p.urls.map((u) => ({ url: u, href: safeHref(u) })) })),
      };
    })
    .sort((a, b) => cmp(a.name, b.name));
  return {
    title: h.name,
    base: '../../',
    name: h.name,
    siteName: site.name,
    siteHref: safeHref(site.orgUrl),
    comment: h.comment,
    private: priv,
    country: h.country ? `${countryLabel(h.country)} (${h.country})` : 'unknown',
    bandwidth: fmtBandwidth(h.bandwidthMbps),
    internet2: h.internet2,
    serving: notServingReason(h) === null && registryActive(h, site),
    notServing: notServingReason(h) ?? (registryActive(h, site) ? '' : 'disabled in the registry'),
    autoDisabled: h.autoDisabled,
    disableReason: h.disableReason ?? '',
    failures: h.crawlFailures,
    lastCrawl: fmtTime(h.lastCrawled),
    lastCrawlDuration: fmtDuration(h.lastCrawlDurationMs),
    lastCrawlMethod: h.lastCrawlMethod ?? '—',
    lastProbed: fmtTime(h.lastProbed),
    probeDown: h.probeDown,
    reachable: `IPv4 ${yesNo(h.reachableIpv4)}, IPv6 ${yesNo(h.reachableIpv6)}`,
    lastCheckedIn: fmtTime(h.lastCheckedIn),
    categories,
    crawls: (f.data.crawlLogs.get(h.id) ?? []).map((c) => ({
      at: fmtTime(c.startedAt),
      method: c.method,
      ok: c.ok,
      outcome: c.ok ? 'ok' : `failed${c.errorKind ? ` (${c.errorKind})` : ''}${c.counted ? '' : ', not counted (outage guard)'}`,
      duration: fmtDuration(c.durationMs),
      summary: c.summary,
      requests: `${c.requests}${c.budget ? ` of a budget of ${c.budget}` : ''}`,
      dirs: `${c.dirsUp2date} up to date, ${c.dirsStale} stale`,
      lines: c.lines.join('\n'),
    })),
  };
}

function yesNo(v: boolean | null): string {
  return v === null ? 'not checked' : v ? 'yes' : 'no';
}

/** How far behind a host is for a repository it is not listed for, as well as we know. */
export function staleness(f: Facts, h: PublicHost, r: PublicRepository): string {
  if (h.autoDisabled) return 'host disabled by the crawler';
  if (h.probeDown) return 'host down at the last probe';
  const hc = h.categories.find((c) => c.categoryId === r.categoryId);
  const sample = f.latestSample.get(`${h.id}:${r.id}`);
  const verdict = hc?.dirs.get(r.directoryId);
  if (sample && sample.versionsBehind !== null && sample.versionsBehind > 0) {
    return `${sample.versionsBehind >= 3 ? '3 or more' : sample.versionsBehind} version${sample.versionsBehind === 1 ? '' : 's'} behind at ${fmtTime(sample.sampledAt)}`;
  }
  if (sample && sample.versionsBehind === null) return `unreachable at ${fmtTime(sample.sampledAt)}`;
  if (verdict && !verdict.up2date) return `stale at ${fmtTime(verdict.checkedAt)}${verdict.reason ? `: ${verdict.reason}` : ''}`;
  if (hc && hc.urls.length === 0 && !isPrivateHost(h, f.siteOf.get(h.siteId)!)) return 'no public URL for this category';
  return 'not crawled yet';
}

/** status.json: the same facts for scripts and dashboards. */
export function statusJson(f: Facts, opts: StatusContext) {
  return {
    format: 1,
    categories: categoryStates(f).map((c) => ({
      name: c.name, repositories: c.repositories, hosts: c.hosts, fresh: c.fresh, partial: c.partial, stale: c.stale, not_serving: c.notServing,
    })),
    hosts: statusHosts(f, opts).map((h) => {
      const site = f.siteOf.get(h.siteId)!;
      return {
        name: h.name,
        site: site.name,
        private: isPrivateHost(h, site),
        country: h.country,
        serving: notServingReason(h) === null,
        not_serving_reason: notServingReason(h),
        crawl_failures: h.crawlFailures,
        disable_reason: h.disableReason,
        last_crawled: h.lastCrawled?.toISOString() ?? null,
        last_crawl_duration_ms: h.lastCrawlDurationMs,
        last_checked_in: h.lastCheckedIn?.toISOString() ?? null,
        reachable_ipv4: h.reachableIpv4,
        reachable_ipv6: h.reachableIpv6,
        categories: h.categories
          .map((hc) => {
            const repos = (f.reposByCategory.get(hc.categoryId) ?? []).filter(servable);
            return {
              name: f.data.categories.find((c) => c.id === hc.categoryId)!.name,
              repositories: repos.length,
              up_to_date: repos.filter((r) => isListed(f, h.id, r.id)).length,
            };
          })
          .sort((a, b) => cmp(a.name, b.name)),
      };
    }),
    propagation: opts.plotted.map((r) => {
      const series = seriesFor(f, r, opts.propagationDays);
      const { at, ...latest } = latestShares(series);
      return { repository: r.prefix, arch: r.arch, latest: { ...latest, at: series.at(-1)?.at.toISOString() ?? null } };
    }),
    runs: f.data.runs.slice(0, 10).map((r) => ({
      id: r.id,
      started_at: r.startedAt.toISOString(),
      finished_at: r.finishedAt?.toISOString() ?? null,
      status: r.status,
      stages: r.stages.map((s) => ({ stage: s.stage, status: s.status, duration_ms: s.durationMs })),
    })),
  };
}
