// Pure facts derived from the snapshot that every public output shares: which hosts
// are public and active, which are up to date for which repository, versions, slugs,
// continent grouping. No I/O here.
import { CONTINENT_NAMES, continentOf, countryName, type Continent } from '../core/countries.ts';
import type { PropagationSample, PublicData, PublicHost, PublicRepository, PublicSite } from './data.ts';
import type { Snapshot } from '../build/snapshot.ts';
import { listedHosts } from './eligibility.ts';
import { isPrivateHost } from '../core/private.ts';

export interface Facts {
  data: PublicData;
  siteOf: Map<number, PublicSite>;
  /** Hosts that appear publicly: public host on a public site, registry-active. Sorted by name. */
  publicHosts: PublicHost[];
  /** Repository id → ids of hosts the metalink lists for it (public and private). */
  listed: Map<number, Set<number>>;
  /** Repositories per category id, sorted by prefix then arch. */
  reposByCategory: Map<number, PublicRepository[]>;
  /** Propagation samples per repository id, oldest first. */
  samplesByRepo: Map<number, PropagationSample[]>;
  /** The newest sample per `${hostId}:${repositoryId}`. */
  latestSample: Map<string, PropagationSample>;
}

/** `snapshot` is the build's snapshot of the same database: eligibility comes from it. */
export function buildFacts(data: PublicData, snapshot: Snapshot): Facts {
  const siteOf = new Map(data.sites.map((s) => [s.id, s]));
  const publicHosts = data.hosts.filter((h) => isPublicHost(h, siteOf.get(h.siteId))).sort((a, b) => cmp(a.name, b.name));
  const listed = listedHosts(snapshot);
  const reposByCategory = new Map<number, PublicRepository[]>();
  for (const r of [...data.repositories].sort((a, b) => cmp(a.prefix, b.prefix) || cmp(a.arch, b.arch))) {
    const list = reposByCategory.get(r.categoryId) ?? [];
    list.push(r);
    reposByCategory.set(r.categoryId, list);
  }
  const samplesByRepo = new Map<number, PropagationSample[]>();
  const latestSample = new Map<string, PropagationSample>();
  for (const smp of [...data.propagation].sort((a, b) => a.sampledAt.getTime() - b.sampledAt.getTime() || a.hostId - b.hostId)) {
    const list = samplesByRepo.get(smp.repositoryId) ?? [];
    list.push(smp);
    samplesByRepo.set(smp.repositoryId, list);
    latestSample.set(`${smp.hostId}:${smp.repositoryId}`, smp);
  }
  return { data, siteOf, publicHosts, listed, reposByCategory, samplesByRepo, latestSample };
}

/** Private hosts and hosts of private sites never appear on public pages. */
export function isPublicHost(h: PublicHost, site: PublicSite | undefined): boolean {
  return !!site && !isPrivateHost(h, site) && registryActive(h, site);
}

/** Switched on by the site and host admins (the crawler may still have disabled it). */
export function registryActive(h: PublicHost, site: PublicSite): boolean {
  return site.adminActive && site.userActive && h.adminActive && h.userActive;
}

export function isListed(f: Facts, hostId: number, repoId: number): boolean {
  return f.listed.get(repoId)?.has(hostId) ?? false;
}

/** Repositories a host's categories cover (those it could be listed for). */
export function carriedRepos(f: Facts, h: PublicHost): PublicRepository[] {
  return h.categories.flatMap((hc) => (f.reposByCategory.get(hc.categoryId) ?? []).filter(servable));
}

/** A repository clients can be sent to at all. */
export function servable(r: PublicRepository): boolean {
  return r.readable && !r.disabled;
}

/**
 * The release a repository belongs to, from its name: `fedora-41` → 41,
 * `updates-released-f41` → 41, `epel-9` → 9, `rawhide` → rawhide.
 */
export function versionOf(prefix: string): string {
  const m = /(?:^|[-_.])f?(\d+(?:\.\d+)?)(?:[-_](?:debug|source|srpms?))?$/i.exec(prefix);
  return m ? m[1]! : prefix;
}

/** A path segment safe in URLs and file names, stable for a given name. */
export function slug(name: string): string {
  const s = name.trim().replace(/\s+/g, '-').replace(/[^A-Za-z0-9._+-]/g, '_').replace(/^\.+/, '_');
  return s || '_';
}

export function continentOfHost(h: PublicHost): Continent | 'XX' {
  return (h.country && continentOf(h.country)) || 'XX';
}

export function continentLabel(code: Continent | 'XX'): string {
  return code === 'XX' ? 'Unknown' : CONTINENT_NAMES[code];
}

export function countryLabel(code: string | null): string {
  if (!code) return 'Unknown';
  return countryName(code) ?? code;
}

export interface Grouped<T> {
  continent: Continent | 'XX';
  countries: { country: string | null; items: T[] }[];
  count: number;
}

/** Groups items by continent then country, both sorted, items keep their order. */
export function groupByPlace<T>(items: T[], hostOf: (t: T) => PublicHost): Grouped<T>[] {
  const byContinent = new Map<string, Map<string, T[]>>();
  for (const item of items) {
    const h = hostOf(item);
    const c = continentOfHost(h);
    const countries = byContinent.get(c) ?? new Map<string, T[]>();
    const key = h.country ?? '';
    countries.set(key, [...(countries.get(key) ?? []), item]);
    byContinent.set(c, countries);
  }
  return [...byContinent.entries()]
    .sort(([a], [b]) => cmp(continentLabel(a as Continent), continentLabel(b as Continent)))
    .map(([continent, countries]) => {
      const list = [...countries.entries()]
        .sort(([a], [b]) => cmp(countryLabel(a || null), countryLabel(b || null)))
        .map(([country, items]) => ({ country: country || null, items }));
      return { continent: continent as Continent | 'XX', countries: list, count: list.reduce((n, c) => n + c.items.length, 0) };
    });
}

/** Protocol of a URL, for grouping: https, http, ftp, rsync (others are rejected by the registry). */
export function protocolOf(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  return m ? m[1]!.toLowerCase() : 'other';
}

export const PROTOCOL_ORDER = ['https', 'http', 'ftp', 'rsync'];

export function urlsByProtocol(urls: string[]): { protocol: string; urls: string[] }[] {
  const m = new Map<string, string[]>();
  for (const u of [...new Set(urls)].sort()) {
    const p = protocolOf(u);
    m.set(p, [...(m.get(p) ?? []), u]);
  }
  return [...m.entries()]
    .sort(([a], [b]) => rank(a) - rank(b) || cmp(a, b))
    .map(([protocol, list]) => ({ protocol, urls: list }));
}

function rank(p: string): number {
  const i = PROTOCOL_ORDER.indexOf(p);
  return i < 0 ? PROTOCOL_ORDER.length : i;
}

/** Only these schemes become links; anything else is shown as text. */
export function safeHref(url: string | null): string | null {
  if (!url) return null;
  return /^(https?|ftp|rsync):\/\/[^\s"'<>`]+$/i.test(url) ? url : null;
}

/** Deterministic UTC rendering of a database timestamp. */
export function fmtTime(d: Date | null): string {
  if (!d) return 'never';
  return d.toISOString().replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC');
}

export function fmtDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 120) return `${s.toFixed(1)} s`;
  const m = s / 60;
  if (m < 120) return `${m.toFixed(1)} min`;
  return `${(m / 60).toFixed(1)} h`;
}

export function fmtBandwidth(mbps: number): string {
  return mbps >= 1000 && mbps % 100 === 0 ? `${mbps / 1000} Gbit/s` : `${mbps} Mbit/s`;
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
