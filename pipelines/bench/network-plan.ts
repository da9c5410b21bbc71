// Pure plan of the synthetic mirror network: sites and hosts in the registry format
// (issue 3 item 6), their netblocks inside real GeoIP ranges of their country, ASN and
// Internet2 hosts, and the crawl state (freshness per host × repository directory).
import type { GeoTables } from './geo.ts';
import { v4BlockIn, v4ToString, v6BlockIn } from './geo.ts';
import { CATEGORY_NAMES, type CategorySpec, type MasterPlan, type RepoSpec } from './master-plan.ts';
import { Rng } from './rng.ts';

// Public mirrors per country, skewed like Fedora's list: many in the US and Germany,
// one or two in many small countries. ~78 countries.
export const COUNTRY_WEIGHTS: Array<[string, number]> = [
  ['US', 80], ['DE', 55], ['CN', 20], ['FR', 18], ['GB', 15], ['NL', 14], ['JP', 12], ['RU', 11], ['CA', 11], ['SE', 10],
  ['BR', 10], ['CZ', 9], ['IT', 9], ['PL', 8], ['AU', 8], ['ES', 7], ['CH', 7], ['AT', 6], ['KR', 6], ['TW', 6],
  ['IN', 6], ['FI', 5], ['DK', 5], ['NO', 5], ['BE', 5], ['GR', 4], ['PT', 4], ['RO', 4], ['HU', 4], ['UA', 4],
  ['ZA', 4], ['SG', 4], ['HK', 4], ['ID', 3], ['TH', 3], ['VN', 3], ['MY', 3], ['NZ', 3], ['IE', 3], ['IL', 3],
  ['TR', 3], ['AR', 3], ['CL', 3], ['MX', 3], ['CO', 2], ['BG', 2], ['SK', 2], ['SI', 2], ['HR', 2], ['RS', 2],
  ['LT', 2], ['LV', 2], ['EE', 2], ['LU', 2], ['IS', 1], ['KZ', 1], ['BY', 1], ['MD', 1], ['GE', 1], ['AM', 1],
  ['IR', 1], ['SA', 1], ['AE', 1], ['EG', 1], ['KE', 1], ['NG', 1], ['MA', 1], ['TN', 1], ['PE', 1], ['EC', 1],
  ['CR', 1], ['UY', 1], ['BD', 1], ['PK', 1], ['LK', 1], ['NP', 1], ['PH', 1], ['CY', 1],
];

/** CountryContinentRedirect rows, as MirrorManager ships them for the Middle East/Caucasus. */
export const CONTINENT_REDIRECTS: Record<string, string> = { IL: 'EU', TR: 'EU', CY: 'EU', AM: 'EU', GE: 'EU', KZ: 'EU' };

export interface HostCategoryEntry { always_up2date: boolean; urls: string[]; private_urls: string[] }

/** One host, field names exactly as in the registry files. */
export interface RegistryHost {
  name: string;
  country: string;
  bandwidth_mbps: number;
  private: boolean;
  internet2: boolean;
  internet2_clients: boolean;
  asn?: number;
  asn_clients: boolean;
  countries_allowed: string[];
  netblocks: string[];
  acl_ips: string[];
  max_connections: number;
  admin_active: boolean;
  user_active: boolean;
  comment: string;
  categories: Record<string, HostCategoryEntry>;
}

export interface RegistrySite {
  site: string;
  org_url: string;
  private: boolean;
  admin_active: boolean;
  user_active: boolean;
  admins: string[];
  comment: string;
  hosts: RegistryHost[];
}

export type Freshness = 'fresh' | 'behind-one' | 'behind-days' | 'dead';

export interface HostState {
  host: string;
  freshness: Freshness;
  crawlFailures: number;
  autoDisabled: boolean;
  disableReason: string | null;
  /** Seconds before "now" (load time) of the last crawl / report; null when never. */
  lastCrawledAgoS: number | null;
  lastCheckedInAgoS: number | null;
  method: 'rsync' | 'http' | 'ftp' | 'report' | null;
  reachableIpv4: boolean;
  reachableIpv6: boolean;
}

/** [host, category, directory (relative to the category top), up2date 0/1, checkedAgoS, reason]. */
export type DirRow = [string, string, string, 0 | 1, number, string | null];

export interface CrawlState {
  hosts: HostState[];
  dirs: DirRow[];
}

export interface NetworkPlan {
  sites: RegistrySite[];
  crawl: CrawlState;
  researchPrefixes: string[];
  counts: { hosts: number; publicHosts: number; privateHosts: number; netblocks: number; ipv6Netblocks: number; asnClientHosts: number; internet2Hosts: number; countries: number; countriesAllowedHosts: number };
}

const BANDWIDTHS: Array<[number[], number]> = [
  [[10, 20, 50], 4],
  [[100, 200, 500], 21],
  [[1000, 2000, 2500, 5000], 50],
  [[10_000, 20_000, 25_000, 40_000], 21],
  [[100_000], 4],
];

const CATEGORY_SHARE: Record<string, number> = {
  [CATEGORY_NAMES.linux]: 0.93,
  [CATEGORY_NAMES.epel]: 0.66,
  [CATEGORY_NAMES.secondary]: 0.15,
  [CATEGORY_NAMES.archive]: 0.06,
};

const RSYNC_MODULE: Record<string, string> = {
  [CATEGORY_NAMES.linux]: 'fedora/linux',
  [CATEGORY_NAMES.epel]: 'fedora-epel',
  [CATEGORY_NAMES.secondary]: 'fedora-secondary',
  [CATEGORY_NAMES.archive]: 'fedora-archive',
};

export function planNetwork(scale: number, seed: number, master: MasterPlan, geo: GeoTables): NetworkPlan {
  const rng = new Rng(seed).fork('network');
  const nPublic = Math.max(4, Math.round(450 * scale));
  const nPrivate = Math.max(2, Math.round(150 * scale));
  const netblockTarget = Math.max(6, Math.round(2000 * scale));
  const nAsnClients = Math.max(1, Math.round(100 * scale));
  const nInternet2 = Math.max(1, Math.round(30 * scale));
  const countries = COUNTRY_WEIGHTS.map(([c]) => c).filter((c) => geo.v4.has(c));
  const weights = COUNTRY_WEIGHTS.filter(([c]) => geo.v4.has(c)).map(([, w]) => w);

  // Every country gets one public mirror when there are enough to go round; the rest follow the skew.
  const publicCountries: string[] = [];
  if (nPublic >= countries.length * 2) publicCountries.push(...countries);
  while (publicCountries.length < nPublic) publicCountries.push(countries[rng.weightedIndex(weights)]!);
  rng.shuffle(publicCountries);
  // Internet2 hosts are US research networks; make sure enough US hosts exist.
  const usIdx = publicCountries.map((c, i) => (c === 'US' ? i : -1)).filter((i) => i >= 0);
  for (let i = 0; usIdx.length < nInternet2 && i < publicCountries.length; i++) {
    if (publicCountries[i] !== 'US' && publicCountries[i] !== 'DE') {
      publicCountries[i] = 'US';
      usIdx.push(i);
    }
  }
  const internet2 = new Set(usIdx.slice(0, nInternet2));
  const privateCountries = Array.from({ length: nPrivate }, () => countries[rng.weightedIndex(weights)]!);

  // Netblocks: every private host has some (MirrorManager requires them); ~60% of public hosts list some.
  const hostSpecs: Array<{ country: string; priv: boolean; i2: boolean; netblocks: number }> = [
    ...publicCountries.map((country, i) => ({ country, priv: false, i2: internet2.has(i), netblocks: rng.chance(0.6) ? rng.int(1, 7) : 0 })),
    ...privateCountries.map((country) => ({ country, priv: true, i2: false, netblocks: rng.int(2, 8) })),
  ];
  const drawn = hostSpecs.reduce((s, h) => s + h.netblocks, 0);
  // Rescale so the total lands on the target (private hosts keep at least one).
  const factor = netblockTarget / Math.max(1, drawn);
  let total = 0;
  for (const h of hostSpecs) {
    h.netblocks = Math.max(h.priv ? 1 : 0, Math.round(h.netblocks * factor));
    total += h.netblocks;
  }
  for (let i = 0; total < netblockTarget; i = (i + 1) % hostSpecs.length) {
    if (hostSpecs[i]!.netblocks > 0 || hostSpecs[i]!.priv) { hostSpecs[i]!.netblocks++; total++; }
  }
  for (let i = 0; total > netblockTarget; i = (i + 1) % hostSpecs.length) {
    if (hostSpecs[i]!.netblocks > 1) { hostSpecs[i]!.netblocks--; total--; }
  }

  // asn_clients: a mix of private (their own ASN) and big public ones.
  const asnClientIdx = new Set<number>();
  const order = rng.shuffle(hostSpecs.map((_, i) => i));
  for (const i of order) {
    if (asnClientIdx.size >= nAsnClients) break;
    if (geo.asns.get(hostSpecs[i]!.country)?.length) asnClientIdx.add(i);
  }

  const sites: RegistrySite[] = [];
  const usedNames = new Set<string>();
  const countsByCountry = new Map<string, number>();
  let ipv6Netblocks = 0;
  let countriesAllowedHosts = 0;
  const crawlHosts: HostState[] = [];
  for (let i = 0; i < hostSpecs.length; ) {
    const spec = hostSpecs[i]!;
    // Sites hold 1 host mostly, sometimes 2–4 hosts of the same kind and country.
    let size = rng.chance(0.82) ? 1 : rng.int(2, 4);
    size = Math.min(size, hostSpecs.length - i);
    let s = 1;
    while (s < size && hostSpecs[i + s]!.priv === spec.priv && hostSpecs[i + s]!.country === spec.country) s++;
    size = s;
    const cc = spec.country.toLowerCase();
    const n = (countsByCountry.get(spec.country) ?? 0) + 1;
    countsByCountry.set(spec.country, n);
    const kind = spec.priv ? rng.pick(['corp', 'lab', 'campus']) : spec.i2 ? 'univ' : rng.pick(['univ', 'isp', 'hosting', 'cdn', 'club', 'gov']);
    const siteName = `${kind}-${cc}-${String(n).padStart(3, '0')}`;
    const domain = `${siteName}.example.${spec.priv ? 'com' : 'net'}`;
    const site: RegistrySite = {
      site: siteName,
      org_url: `https://www.${domain}/`,
      private: spec.priv,
      admin_active: true,
      user_active: !rng.chance(0.01),
      admins: [`admin${rng.int(1, 9999)}`],
      comment: '',
      hosts: [],
    };
    for (let k = 0; k < size; k++, i++) {
      const h = hostSpecs[i]!;
      let name = size === 1 ? `mirror.${domain}` : `mirror${k + 1}.${domain}`;
      while (usedNames.has(name)) name = `x${name}`;
      usedNames.add(name);
      const blocks = makeNetblocks(rng, geo, h.country, h.netblocks);
      ipv6Netblocks += blocks.filter((b) => b.includes(':')).length;
      const asnList = geo.asns.get(h.country) ?? [];
      const asnEntry = asnClientIdx.has(i) || rng.chance(0.6) ? (asnList.length ? rng.pick(asnList) : undefined) : undefined;
      const allowed = !h.priv && rng.chance(0.04) ? [h.country, ...(rng.chance(0.5) ? [rng.pick(countries)] : [])].filter((c, j, a) => a.indexOf(c) === j).sort() : [];
      if (allowed.length) countriesAllowedHosts++;
      const offersRsync = h.priv ? false : rng.chance(0.62);
      const offersFtp = !h.priv && rng.chance(0.1);
      const httpsOnly = rng.chance(0.3);
      const categories: Record<string, HostCategoryEntry> = {};
      for (const c of master.categories) {
        const share = h.priv ? (c.name === CATEGORY_NAMES.linux ? 0.96 : c.name === CATEGORY_NAMES.epel ? 0.5 : 0.03) : CATEGORY_SHARE[c.name] ?? 0.1;
        if (!rng.chance(share)) continue;
        const base = `/pub/${c.topdir}/`;
        const urls = [`https://${name}${base}`];
        if (!httpsOnly) urls.push(`http://${name}${base}`);
        if (offersFtp) urls.push(`ftp://${name}${base}`);
        if (offersRsync) urls.push(`rsync://${name}/${RSYNC_MODULE[c.name] ?? c.topdir}/`);
        categories[c.name] = { always_up2date: !h.priv && rng.chance(0.02), urls, private_urls: h.priv ? [] : rng.chance(0.15) ? [`rsync://${name}/private-${RSYNC_MODULE[c.name]?.replace(/\//g, '-') ?? 'x'}/`] : [] };
      }
      if (Object.keys(categories).length === 0) {
        const c = master.categories[0]!;
        categories[c.name] = { always_up2date: false, urls: [`https://${name}/pub/${c.topdir}/`], private_urls: [] };
      }
      const bucket = BANDWIDTHS[rng.weightedIndex(BANDWIDTHS.map(([, w]) => w))]![0];
      const v4blocks = blocks.filter((b) => !b.includes(':'));
      const host: RegistryHost = {
        name,
        country: h.country,
        bandwidth_mbps: rng.pick(bucket),
        private: h.priv,
        internet2: h.i2,
        internet2_clients: h.i2 && rng.chance(0.7),
        ...(asnEntry ? { asn: asnEntry.asn } : {}),
        asn_clients: asnClientIdx.has(i) && asnEntry !== undefined,
        countries_allowed: allowed,
        netblocks: blocks,
        acl_ips: offersRsync ? [v4blocks.length ? v4blocks[0]!.split('/')[0]! : aclAddress(rng, geo, h.country)] : [],
        max_connections: rng.pick([1, 2, 4, 5, 8, 10]),
        admin_active: true,
        user_active: true,
        comment: '',
        categories,
      };
      site.hosts.push(host);
      crawlHosts.push(hostState(rng, host, offersRsync, offersFtp));
    }
    sites.push(site);
  }
  const hosts = sites.flatMap((s) => s.hosts);
  const researchPrefixes = makeResearchPrefixes(rng, geo, Math.max(4, Math.round(60 * Math.min(scale, 2))));
  return {
    sites,
    crawl: { hosts: crawlHosts, dirs: planCrawlRows(rng, master, hosts, crawlHosts) },
    researchPrefixes,
    counts: {
      hosts: hosts.length,
      publicHosts: hosts.filter((h) => !h.private).length,
      privateHosts: hosts.filter((h) => h.private).length,
      netblocks: hosts.reduce((s, h) => s + h.netblocks.length, 0),
      ipv6Netblocks,
      asnClientHosts: hosts.filter((h) => h.asn_clients).length,
      internet2Hosts: hosts.filter((h) => h.internet2).length,
      countries: new Set(hosts.map((h) => h.country)).size,
      countriesAllowedHosts,
    },
  };
}

function makeNetblocks(rng: Rng, geo: GeoTables, country: string, n: number): string[] {
  const out = new Set<string>();
  const r4 = geo.v4.get(country) ?? [];
  const r6 = geo.v6.get(country) ?? [];
  for (let tries = 0; out.size < n && tries < n * 10; tries++) {
    if (r6.length && rng.chance(0.3)) {
      const [s, e] = rng.pick(r6);
      out.add(v6BlockIn(s, e, rng.int(32, 48), rng.next()));
    } else if (r4.length) {
      const [s, e] = rng.pick(r4);
      out.add(v4BlockIn(s, e, rng.int(16, 24), rng.next()).cidr);
    }
  }
  return [...out].sort();
}

function aclAddress(rng: Rng, geo: GeoTables, country: string): string {
  const r4 = geo.v4.get(country) ?? [[0x0a000000, 0x0affffff]];
  const [s, e] = rng.pick(r4);
  return v4ToString(s + Math.floor(rng.next() * (e - s + 1)));
}

function makeResearchPrefixes(rng: Rng, geo: GeoTables, n: number): string[] {
  const us = geo.v4.get('US') ?? [];
  const out = new Set<string>();
  for (let t = 0; out.size < n && us.length && t < n * 10; t++) {
    const [s, e] = rng.pick(us);
    out.add(v4BlockIn(s, e, rng.int(14, 20), rng.next()).cidr);
  }
  return [...out].sort();
}

const HOUR = 3600;
const DAY = 86_400;

function hostState(rng: Rng, host: RegistryHost, rsync: boolean, ftp: boolean): HostState {
  const v6 = host.netblocks.some((b) => b.includes(':')) ? rng.chance(0.8) : rng.chance(0.4);
  if (host.private) {
    const fresh = rng.chance(0.85);
    return {
      host: host.name, freshness: fresh ? 'fresh' : 'behind-one', crawlFailures: 0, autoDisabled: false, disableReason: null,
      lastCrawledAgoS: null, lastCheckedInAgoS: fresh ? rng.int(60, 6 * HOUR) : rng.int(6 * HOUR, 2 * DAY), method: 'report', reachableIpv4: true, reachableIpv6: v6,
    };
  }
  const roll = rng.next();
  const freshness: Freshness = roll < 0.75 ? 'fresh' : roll < 0.87 ? 'behind-one' : roll < 0.93 ? 'behind-days' : 'dead';
  const method = rsync ? 'rsync' : ftp && rng.chance(0.3) ? 'ftp' : 'http';
  if (freshness === 'dead') {
    const failures = rng.int(1, 12);
    return {
      host: host.name, freshness, crawlFailures: failures, autoDisabled: failures >= 4,
      disableReason: failures >= 4 ? `auto-disabled after ${failures} failed crawls: ${rng.pick(['connect ECONNREFUSED', 'timeout after 20000 ms', 'getaddrinfo ENOTFOUND', 'rsync exit 10 (socket I/O)'])}` : null,
      lastCrawledAgoS: rng.int(2 * HOUR, 4 * HOUR), lastCheckedInAgoS: null, method, reachableIpv4: false, reachableIpv6: false,
    };
  }
  return {
    host: host.name, freshness, crawlFailures: 0, autoDisabled: false, disableReason: null,
    lastCrawledAgoS: rng.int(5 * 60, 4 * HOUR), lastCheckedInAgoS: null, method, reachableIpv4: rng.chance(0.995), reachableIpv6: v6,
  };
}

/** Repositories that change at every push (updates, testing, rawhide, EPEL) go stale first. */
function changesOften(r: RepoSpec): boolean {
  return r.kind.startsWith('updates') || r.kind.startsWith('testing') || r.kind.startsWith('rawhide');
}

function planCrawlRows(rng: Rng, master: MasterPlan, hosts: RegistryHost[], states: HostState[]): DirRow[] {
  const byCategory = new Map<string, RepoSpec[]>();
  const unreadable = new Map(master.categories.map((c: CategorySpec) => [c.name, c.unreadable]));
  for (const r of master.repos) {
    if ((unreadable.get(r.category) ?? []).some((u) => r.path === u || r.path.startsWith(`${u}/`))) continue;
    let list = byCategory.get(r.category);
    if (!list) byCategory.set(r.category, (list = []));
    list.push(r);
  }
  const rows: DirRow[] = [];
  hosts.forEach((h, i) => {
    const st = states[i]!;
    for (const [cat, entry] of Object.entries(h.categories)) {
      if (entry.always_up2date) continue;
      const checked = st.lastCrawledAgoS ?? st.lastCheckedInAgoS ?? DAY;
      for (const r of byCategory.get(cat) ?? []) {
        let up: 0 | 1 = 1;
        let reason: string | null = null;
        let ago = checked;
        if (st.freshness === 'dead') {
          up = 0;
          reason = 'host unreachable';
          ago = checked + rng.int(1, 10) * DAY;
        } else if (st.freshness === 'behind-one' && changesOften(r)) {
          up = 0;
          reason = 'repomd.xml is the previous version (alternate)';
        } else if (st.freshness === 'behind-days' && (changesOften(r) || cat === CATEGORY_NAMES.epel)) {
          up = 0;
          reason = 'repomd.xml older than every alternate';
        }
        rows.push([h.name, cat, r.path, up, ago, reason]);
      }
    }
  });
  return rows;
}
