// View models of the public mirror list: the index and one page per category,
// version and arch. Built field by field (an allow-list): nothing from the
// database reaches a template unless it is named here. Pure.
import type { PublicHost, PublicRepository } from './data.ts';
import {
  cmp, continentLabel, countryLabel, fmtBandwidth, fmtTime, groupByPlace, isListed, safeHref,
  servable, slug, urlsByProtocol, versionOf, type Facts,
} from './model.ts';

export interface LinkView { label: string; href: string }

export interface FreshnessView {
  label: string;
  /** ok: every repository in scope; partial: some; stale: none. */
  cls: 'ok' | 'partial' | 'stale';
  /** `prefix/arch` keys of the repositories in scope this host is listed for (space separated). */
  freshKeys: string;
  /** Names of repositories in scope it is not listed for (shown on arch pages). */
  stale: string[];
}

export interface HostRowView {
  name: string;
  statusHref: string;
  siteName: string;
  siteHref: string | null;
  siteComment: string;
  comment: string;
  bandwidth: string;
  internet2: boolean;
  protocols: { protocol: string; urls: { url: string; href: string | null }[] }[];
  freshness: FreshnessView[];
  lastCrawl: string;
  /** Why the host is not handed out at the moment, if it is not. */
  notServing: string | null;
}

export interface PlaceView {
  code: string;
  name: string;
  count: number;
  countries: { code: string; name: string; count: number; hosts: HostRowView[] }[];
}

export interface ScopeChildView { label: string; href: string; hosts: number; fresh: number }

export interface PublicPageView {
  title: string;
  base: string;
  crumbs: LinkView[];
  summary: { hosts: number; countries: number; sites: number };
  children: ScopeChildView[];
  childKind: string;
  repos: { key: string; listed: number }[];
  places: PlaceView[];
  /** One table line per mirror instead of a card (category/version/arch pages: many of them). */
  compact: boolean;
}

export interface PublicPage {
  path: string;
  view: PublicPageView;
}

interface Scope {
  title: string;
  path: string;
  crumbs: LinkView[];
  categoryId: number | null;
  repos: PublicRepository[];
  /** List each repository's state per host (arch pages), else shares only. */
  detailed: boolean;
  childKind: string;
  children: { label: string; path: string; repos: PublicRepository[]; categoryId: number }[];
}

/** Every public-list page, index first, in a stable order. */
export function publicListPages(f: Facts): PublicPage[] {
  const scopes: Scope[] = [];
  const cats = [...f.data.categories].sort((a, b) => cmp(a.name, b.name));
  const index: Scope = {
    title: 'Public mirror list', path: 'publiclist/index.html', crumbs: [], categoryId: null, repos: [], detailed: false,
    childKind: 'Categories', children: [],
  };
  scopes.push(index);
  for (const c of cats) {
    const repos = (f.reposByCategory.get(c.id) ?? []).filter(servable);
    const catPath = `publiclist/${slug(c.name)}`;
    index.children.push({ label: c.name, path: `${catPath}/index.html`, repos, categoryId: c.id });
    const versions = new Map<string, PublicRepository[]>();
    for (const r of repos) versions.set(versionOf(r.prefix), [...(versions.get(versionOf(r.prefix)) ?? []), r]);
    const catCrumbs = [{ label: 'Public mirror list', href: 'publiclist/index.html' }];
    const catScope: Scope = { title: c.name, path: `${catPath}/index.html`, crumbs: catCrumbs, categoryId: c.id, repos, detailed: false, childKind: 'Versions', children: [] };
    scopes.push(catScope);
    for (const [version, vrepos] of [...versions.entries()].sort(([a], [b]) => compareVersions(a, b))) {
      const vPath = `${catPath}/${slug(version)}`;
      catScope.children.push({ label: version, path: `${vPath}/index.html`, repos: vrepos, categoryId: c.id });
      const vCrumbs = [...catCrumbs, { label: c.name, href: catScope.path }];
      const vScope: Scope = { title: `${c.name} ${version}`, path: `${vPath}/index.html`, crumbs: vCrumbs, categoryId: c.id, repos: vrepos, detailed: false, childKind: 'Architectures', children: [] };
      scopes.push(vScope);
      const arches = new Map<string, PublicRepository[]>();
      for (const r of vrepos) arches.set(r.arch, [...(arches.get(r.arch) ?? []), r]);
      for (const [arch, arepos] of [...arches.entries()].sort(([a], [b]) => cmp(a, b))) {
        const aPath = `${vPath}/${slug(arch)}/index.html`;
        vScope.children.push({ label: arch, path: aPath, repos: arepos, categoryId: c.id });
        scopes.push({
          title: `${c.name} ${version} ${arch}`, path: aPath, crumbs: [...vCrumbs, { label: version, href: vScope.path }],
          categoryId: c.id, repos: arepos, detailed: true, childKind: '', children: [],
        });
      }
    }
  }
  return scopes.map((s) => ({ path: s.path, view: scopeView(f, s) }));
}

function scopeView(f: Facts, s: Scope): PublicPageView {
  const base = '../'.repeat(s.path.split('/').length - 1);
  const hosts = s.categoryId === null ? f.publicHosts : f.publicHosts.filter((h) => h.categories.some((hc) => hc.categoryId === s.categoryId));
  const rows = hosts.map((h) => ({ h, row: hostRow(f, h, s, base) }));
  const places: PlaceView[] = groupByPlace(rows, (r) => r.h).map((g) => ({
    code: g.continent,
    name: continentLabel(g.continent),
    count: g.count,
    countries: g.countries.map((c) => ({ code: c.country ?? 'XX', name: countryLabel(c.country), count: c.items.length, hosts: c.items.map((i) => i.row) })),
  }));
  const children = s.children.map((c) => {
    const carrying = f.publicHosts.filter((h) => h.categories.some((hc) => hc.categoryId === c.categoryId));
    return {
      label: c.label,
      href: base + c.path,
      hosts: carrying.length,
      fresh: carrying.filter((h) => c.repos.some((r) => isListed(f, h.id, r.id))).length,
    };
  });
  return {
    title: s.title,
    base,
    crumbs: s.crumbs.map((c) => ({ label: c.label, href: base + c.href })),
    summary: {
      hosts: hosts.length,
      countries: new Set(hosts.map((h) => h.country ?? 'XX')).size,
      sites: new Set(hosts.map((h) => h.siteId)).size,
    },
    children,
    childKind: s.childKind,
    repos: s.detailed
      ? s.repos.map((r) => ({ key: repoKey(r), listed: f.publicHosts.filter((h) => isListed(f, h.id, r.id)).length }))
      : [],
    places,
    compact: s.categoryId !== null,
  };
}

function hostRow(f: Facts, h: PublicHost, s: Scope, base: string): HostRowView {
  const site = f.siteOf.get(h.siteId)!;
  const hcs = s.categoryId === null ? h.categories : h.categories.filter((hc) => hc.categoryId === s.categoryId);
  const freshness: FreshnessView[] = [];
  if (s.categoryId === null) {
    for (const hc of hcs) {
      const cat = f.data.categories.find((c) => c.id === hc.categoryId);
      if (!cat) continue;
      const repos = (f.reposByCategory.get(cat.id) ?? []).filter(servable);
      freshness.push(freshnessOf(f, h, repos, `${cat.name}: `, false));
    }
    freshness.sort((a, b) => cmp(a.label, b.label));
  } else {
    freshness.push(freshnessOf(f, h, s.repos, '', s.detailed));
  }
  return {
    name: h.name,
    statusHref: `${base}status/hosts/${slug(h.name)}.html`,
    siteName: site.name,
    siteHref: safeHref(site.orgUrl),
    siteComment: site.comment,
    comment: h.comment,
    bandwidth: fmtBandwidth(h.bandwidthMbps),
    internet2: h.internet2,
    protocols: urlsByProtocol(hcs.flatMap((hc) => hc.urls)).map((p) => ({ protocol: p.protocol, urls: p.urls.map((u) => ({ url: u, href: safeHref(u) })) })),
    freshness,
    lastCrawl: fmtTime(h.lastCrawled),
    notServing: notServingReason(h),
  };
}

function freshnessOf(f: Facts, h: PublicHost, repos: PublicRepository[], prefix: string, detailed: boolean): FreshnessView {
  const fresh = repos.filter((r) => isListed(f, h.id, r.id));
  const n = repos.length;
  const cls = n > 0 && fresh.length === n ? 'ok' : fresh.length > 0 ? 'partial' : 'stale';
  return {
    label: `${prefix}${fresh.length}/${n} up to date`,
    cls,
    // Only arch pages (a handful of repositories) name them: elsewhere the list would be huge.
    freshKeys: detailed ? fresh.map(repoKey).join(' ') : '',
    stale: detailed ? repos.filter((r) => !fresh.includes(r)).map(repoKey) : [],
  };
}

export function notServingReason(h: PublicHost): string | null {
  if (h.autoDisabled) return `disabled by the crawler${h.disableReason ? `: ${h.disableReason}` : ''}`;
  if (h.probeDown) return 'down at the last liveness probe';
  return null;
}

export function repoKey(r: Pick<PublicRepository, 'prefix' | 'arch'>): string {
  return `${r.prefix}/${r.arch}`;
}

/** Development names (rawhide) first, then numeric versions, newest first. */
export function compareVersions(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  const an = Number.isFinite(na);
  const bn = Number.isFinite(nb);
  if (an && bn) return nb - na;
  if (an !== bn) return an ? 1 : -1;
  return cmp(a, b);
}
