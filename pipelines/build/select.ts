// Which hosts a client class gets for one repository, in which groups, following
// MirrorManager's mirrorlist server: netblock hosts (most specific first), ASN
// hosts, research-network hosts of the client's country, the country, the rest of
// its continent, and the world only while fewer than `minimum` were found. Pure:
// the random order inside each group is applied later (weight.ts) per variant.
import type { Family } from './ip.ts';
import type { NetblockRange } from './partition.ts';

export interface SelectHost {
  id: number;
  country: string | null;
  /** Clamped bandwidth weight 1–10000. */
  weight: number;
  private: boolean;
  asn: number | null;
  asnClients: boolean;
  internet2Clients: boolean;
  countriesAllowed: readonly string[];
  /** false only when the crawl measured it unreachable over that family. */
  reachable4: boolean;
  reachable6: boolean;
}

export interface SelectWorld {
  hosts: ReadonlyMap<number, SelectHost>;
  netblocks: ReadonlyMap<number, NetblockRange>;
  /** Continent of a country after redirects. */
  continentOf(country: string): string | undefined;
  /** Every known country code per continent (after redirects), sorted. */
  countriesOf(continent: string): readonly string[];
  minimum: number;
}

/** The client side of a question: its class, or a `country=` request. */
export interface ClientQuery {
  family: Family;
  /** GeoIP country of the client (null when unknown); for `country=` the requested one. */
  country: string | null;
  netblocks: readonly number[];
  asn: number | null;
  research: boolean;
  /** `country=XX`, `country=XX,YY…` (in request order) or `country=global`: skip netblock/ASN and GeoIP. */
  requested?: string;
}

export type GroupKind = 'netblock' | 'asn' | 'research' | 'country' | 'continent' | 'global';

export interface Group {
  kind: GroupKind;
  /** Host ids, in a canonical order (weight desc, id asc); shuffled per variant later. */
  hosts: number[];
  /** Bandwidth-weighted (country, continent, global) or uniform (netblock, ASN, R&E) shuffle. */
  weighted: boolean;
}

export interface Selection {
  /** Non-empty groups, de-duplicated: a host appears in its first group only. */
  groups: Group[];
  /** MirrorManager's header words after `# repo = R arch = A `, e.g. `country = US country = global `. */
  header: string;
}

/**
 * @param eligible hosts carrying the content (category, up to date, a URL in the
 *   requested protocols); address family and privacy are checked here.
 */
export function select(world: SelectWorld, eligible: ReadonlySet<number>, q: ClientQuery): Selection {
  const idx = indexFor(world, eligible, q.family);
  const ok = (id: number) => idx.ok.has(id);
  const allowed = (id: number, clientCountry: string | null) => {
    const ca = world.hosts.get(id)!.countriesAllowed;
    return clientCountry === null || ca.length === 0 || ca.includes(clientCountry);
  };
  const byCountry = (cc: string) => idx.publicByCountry.get(cc) ?? [];
  // countries_allowed against the client's country; for country=CC,CC… any of those.
  const asked = q.requested !== undefined && q.requested !== 'GLOBAL' ? requestedCountries(q.requested) : null;
  const clientAllowed = (id: number) => (asked ? asked.some((cc) => allowed(id, cc)) : allowed(id, q.country));

  const raw: Group[] = [];
  let header = '';
  const push = (kind: GroupKind, ids: number[], weighted: boolean) => raw.push({ kind, hosts: ids, weighted });

  if (q.requested === undefined) {
    // 1. netblocks, most specific first; a host with several matching netblocks ranks by its most specific.
    const nbs = q.netblocks
      .map((id) => world.netblocks.get(id))
      .filter((n): n is NetblockRange => !!n && ok(n.hostId))
      .sort((a, b) => b.prefix - a.prefix);
    if (nbs.length) header += 'Using preferred netblock ';
    const prefixes = [...new Set(nbs.map((n) => n.prefix))];
    for (const p of prefixes) push('netblock', [...new Set(nbs.filter((n) => n.prefix === p).map((n) => n.hostId))], false);
    // 2. hosts serving the client's ASN.
    if (q.asn !== null) {
      const asnHosts = [...idx.ok].filter((id) => world.hosts.get(id)!.asnClients && world.hosts.get(id)!.asn === q.asn);
      if (asnHosts.length) {
        header += `Using ASN ${q.asn} `;
        push('asn', asnHosts, false);
      }
    }
    // 3. research networks: hosts serving R&E clients in the client's country.
    if (q.research && q.country) {
      const re = byCountry(q.country).filter((id) => world.hosts.get(id)!.internet2Clients && allowed(id, q.country));
      if (re.length) {
        header += 'Using Internet2 ';
        push('research', re, false);
      }
    }
    // 4. the client's country; 5. the rest of its continent.
    if (q.country) {
      const own = byCountry(q.country);
      if (own.length) header += `country = ${q.country} `;
      push('country', own.filter((id) => allowed(id, q.country)), true);
      const continent = world.continentOf(q.country);
      if (continent) {
        const rest: number[] = [];
        for (const cc of world.countriesOf(continent)) {
          if (cc === q.country) continue;
          const hosts = byCountry(cc);
          if (!hosts.length) continue;
          header += `country = ${cc} `;
          rest.push(...hosts.filter((id) => allowed(id, q.country)));
        }
        push('continent', rest, true);
      }
    }
  } else if (q.requested === 'GLOBAL') {
    header += 'country = global ';
    push('global', idx.publicAll.filter((id) => allowed(id, q.country)), true);
  } else {
    // country=CC or a list CC,CC…: the requested countries' hosts as one group; none
    // at all → the rest of their continents (MirrorManager's do_country/do_continent).
    const ccs = asked!;
    let any = false;
    const own: number[] = [];
    for (const cc of ccs) {
      const hosts = byCountry(cc);
      if (!hosts.length) continue;
      any = true;
      header += `country = ${cc} `;
      own.push(...hosts.filter((id) => allowed(id, cc)));
    }
    if (any) push('country', own, true);
    else {
      const rest: number[] = [];
      const listed = new Set(ccs);
      for (const continent of new Set(ccs.map((cc) => world.continentOf(cc)))) {
        for (const other of continent ? world.countriesOf(continent) : []) {
          if (listed.has(other)) continue;
          listed.add(other);
          const hosts = byCountry(other);
          if (!hosts.length) continue;
          header += `country = ${other} `;
          rest.push(...hosts.filter((id) => clientAllowed(id)));
        }
      }
      push('continent', rest, true);
    }
  }

  const groups = dedupe(raw, world);
  const found = groups.reduce((n, g) => n + g.hosts.length, 0);
  // 6. the world, only while too few were found (MirrorManager: `minimum`, default 5).
  // A country= request that found nothing also falls back to the world rather than an empty list.
  const explicit = q.requested !== undefined;
  if ((!explicit && found < world.minimum) || (explicit && found === 0 && q.requested !== 'GLOBAL')) {
    header += 'country = global ';
    const seen = new Set(groups.flatMap((g) => g.hosts));
    const global = idx.publicAll.filter((id) => clientAllowed(id) && !seen.has(id));
    if (global.length) groups.push({ kind: 'global', hosts: canonical(global, world), weighted: true });
  }
  return { groups, header };
}

/** The codes of a `requested` country list, in request order. */
export function requestedCountries(requested: string): string[] {
  return requested.split(',');
}

interface EligibleIndex {
  /** Eligible and reachable over the client's family (private included). */
  ok: Set<number>;
  /** …and public, by host country / all. */
  publicByCountry: Map<string, number[]>;
  publicAll: number[];
}

// The build asks thousands of classes about the same eligible sets: index each once.
const indexes = new WeakMap<ReadonlySet<number>, Map<Family, EligibleIndex>>();

function indexFor(world: SelectWorld, eligible: ReadonlySet<number>, family: Family): EligibleIndex {
  let byFamily = indexes.get(eligible);
  if (!byFamily) indexes.set(eligible, (byFamily = new Map()));
  let idx = byFamily.get(family);
  if (idx) return idx;
  idx = { ok: new Set(), publicByCountry: new Map(), publicAll: [] };
  for (const id of [...eligible].sort((a, b) => a - b)) {
    const h = world.hosts.get(id);
    if (!h || !(family === 4 ? h.reachable4 : h.reachable6)) continue;
    idx.ok.add(id);
    if (h.private) continue;
    idx.publicAll.push(id);
    if (h.country) {
      const list = idx.publicByCountry.get(h.country);
      if (list) list.push(id);
      else idx.publicByCountry.set(h.country, [id]);
    }
  }
  byFamily.set(family, idx);
  return idx;
}

function dedupe(raw: readonly Group[], world: SelectWorld): Group[] {
  const seen = new Set<number>();
  const out: Group[] = [];
  for (const g of raw) {
    const hosts = g.hosts.filter((id) => !seen.has(id));
    for (const id of hosts) seen.add(id);
    if (hosts.length) out.push({ kind: g.kind, hosts: canonical(hosts, world), weighted: g.weighted });
  }
  return out;
}

function canonical(ids: readonly number[], world: SelectWorld): number[] {
  return [...new Set(ids)].sort((a, b) => world.hosts.get(b)!.weight - world.hosts.get(a)!.weight || a - b);
}
