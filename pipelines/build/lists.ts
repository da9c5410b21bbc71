// The list plan: from a snapshot and the GeoIP inputs to every byte the lists
// emitter writes — host-ordering blobs, nginx geo/map/split_clients values and the
// class index. Pure (no I/O); deterministic (content-derived ids and seeds).
//
// Representation (see docs/serving.md): a request resolves, through nginx maps,
// (client class, repository's host-set signature, protocol set) → a list, its blob and
// a split_clients block; the file lists/o/<blob>.{ml,mt} holds the list's host URLs
// from its lead group on, with placeholders that sub_filter fills with the
// repository's path, header and repomd.xml facts, the hosts before the lead group,
// and the variant's first host, which a second (mapped) sub_filter pattern deletes
// from its place. Identical blobs are stored once.
import { createHash } from 'node:crypto';
import { COUNTRIES } from '../core/countries.ts';
import { continentFor, type GeoData } from './geoip.ts';
import { parseCidr, parseIpv6, rangeToCidrs, formatIp, type Family } from './ip.ts';
import { classKeyString, partition, type ClassKey, type NetblockRange } from './partition.ts';
import { select, type Group, type Selection, type SelectHost, type SelectWorld, type ClientQuery } from './select.ts';
import { isUpToDate, type Snapshot, type SnapshotRepository } from './snapshot.ts';
import { httpDate, metalinkBlob, metalinkFacts, metalinkFirstHost, metalinkPreferences, metalinkUnit, mirrorlistBlob, mirrorlistDeletion, mirrorlistFirstHost, mirrorlistLastHost, mirrorlistUnit, schemeOf, hostUrls, type FormatHost, PROTOCOL_ORDER } from './formats.ts';
import { clampBandwidth, planVariants, seededRandom, weightedShuffle, UNITS } from './weight.ts';

/**
 * Protocol sets a client may ask for with protocol=: every non-empty subset of
 * https, http, ftp, rsync (MirrorManager takes any comma list), plus `a` (no
 * protocol=). `protocols` is the canonical spelling (alphabetical, as MirrorManager
 * sorts them; the header echoes it); `spellings` every order of the names, joined
 * by `,` (nginx turns each into `,` and `%2C` forms). Repeated or unknown names: 400.
 */
export interface ProtoSet {
  token: string;
  protocols: string[] | null;
  spellings: string[];
}
const PROTO_LETTER: Record<string, string> = { https: 's', http: 'h', ftp: 'f', rsync: 'r' };
export const PROTOSETS: ReadonlyArray<ProtoSet> = [
  { token: 'a', protocols: null, spellings: [''] },
  ...Array.from({ length: 15 }, (_, i) => PROTOCOL_ORDER.filter((_, b) => (i + 1) & (1 << b)))
    .sort((x, y) => x.length - y.length || (x.map((p) => PROTO_LETTER[p]).join('') < y.map((p) => PROTO_LETTER[p]).join('') ? -1 : 1))
    .map((set) => ({ token: set.map((p) => PROTO_LETTER[p]).join(''), protocols: [...set].sort(), spellings: permutations(set).map((p) => p.join(',')) })),
];

/**
 * The protocol sets a build stores lists for by default: no protocol=, each protocol
 * alone, and http+https (what clients ask for). Every further stored set costs about
 * as much as `s` again (see docs/serving.md, Differences).
 */
export const COMMON_PROTOSETS: readonly string[] = ['a', 's', 'h', 'f', 'r', 'sh'];

/**
 * A set not stored is answered with its stored subset (unless it lists the same URLs as
 * a stored set anyway): its https/http part, else ftp, else rsync — never a URL of a
 * protocol not asked for.
 */
export function protocolFallback(p: ProtoSet): string {
  const web = (p.protocols ?? []).filter((x) => x === 'https' || x === 'http');
  if (web.length) return web.length === 2 ? 'sh' : PROTO_LETTER[web[0]];
  return p.protocols!.includes('ftp') ? 'f' : 'r';
}

function permutations<T>(xs: readonly T[]): T[][] {
  if (xs.length <= 1) return [[...xs]];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
}

// Everything that reaches nginx config or a file path is re-checked here, whatever the registry validated.
export const SAFE = {
  repo: /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
  arch: /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
  path: /^[A-Za-z0-9._+-]+(\/[A-Za-z0-9._+-]+)*$/,
  // The host: a DNS name, or a bracketed IPv6 literal of hex digits, colons and dots only
  // (no zone id: `%` is not allowed there); isSafeUrl also parses the literal.
  url: /^(https?|ftp|rsync):\/\/([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(:\d{1,5})?(\/[A-Za-z0-9._~%+,=@:-]*)*$/,
  hex: /^[0-9a-fA-F]{8,256}$/,
};

/** A host URL that may go into nginx config, blobs and XML: SAFE.url, and an IPv6 literal host must parse as one. */
export function isSafeUrl(url: string): boolean {
  if (!SAFE.url.test(url)) return false;
  const host = url.slice(url.indexOf('://') + 3);
  if (!host.startsWith('[')) return true;
  return parseIpv6(host.slice(1, host.indexOf(']'))) !== null;
}

/** nginx cannot read a config token longer than its 4 KiB buffer: split alternates across variables. */
export const ALT_VARS = 4;
const ALT_VAR_BYTES = 3500;

export interface PlanOptions {
  minimum: number;
  maxVariants: number;
  /** Which protocol= sets get lists of their own: COMMON_PROTOSETS (default) or all 15 (`all`). */
  protocolSets?: 'common' | 'all';
  /** country= lists answered exactly (selection.countrySets), each in every order. */
  countrySets?: ReadonlyArray<readonly string[]>;
}

export interface ListRepo {
  token: string;
  prefix: string;
  arch: string;
  path: string;
  sig: string;
  disabled: boolean;
  pubdate: string;
  /** metalink facts: current details and alternates split into ALT_VARS chunks; null without repomd.xml details. */
  facts: { current: string; alt: string[] } | null;
}

export interface ListPlan {
  repos: ListRepo[];
  aliases: Array<{ from: string; to: string; arch: string; token: string }>;
  /** geo values: IPv4 ranges (written as from-to) and IPv6 ranges (written as their CIDRs) → effective class id. */
  geo4: GeoTable;
  geo6: GeoTable;
  geo6Default: string;
  /** class id → class id with netblock/ASN ignored (netblock=0), only where different. */
  noNetblock: Array<{ from: string; to: string }>;
  /** `country=` pseudo classes: `${CC}${family}` → class id. */
  countryClasses: Array<{ key: string; cls: string }>;
  /** The country= lists (two codes or more, each order) with classes of their own: their codes and token. */
  countryLists: Array<{ codes: string[]; token: string }>;
  /** `${sig}|${proto}` → the protocol set that lists the same URLs for every host of the signature (only where different). */
  protoCanon: Array<{ key: string; token: string }>;
  /** protocol sets without lists of their own → the stored subset that answers them (where protoCanon has no row). */
  protoFallback: Array<{ token: string; served: string }>;
  /** `${cls}|${sig}|${proto}` (proto canonical for sig) → its list L, the blob L's text lives in, and the blob's split_clients variable. */
  blobs: Array<{ key: string; list: string; blob: string; split: string }>;
  splits: Array<{ name: string; buckets: Array<{ percent: string; value: string }> }>;
  /**
   * redirect=1 (the first http(s) base URL of the variant): a list's prefix (`before`),
   * else the moved host's (hostRefs url), else its blob's (`after`, keyed by blob id).
   */
  firsts: Array<{ list: string; before: string; after: string }>;
  /** `${blob}/${variant}` → the host nginx moves to PH.first (its text ref) and the preference its lines carry in the blob. */
  variants: Array<{ key: string; ref: string; preference: number }>;
  /** List → its blob, the prefix nginx inserts at PH.first before the moved host, and its mirrorlist header words (without `protocol = …`). */
  listRows: Array<{ list: string; blob: string; prefix: string; header: string }>;
  /** The hosts before a list's lead group (in order, preference 100 down) in one category and protocol set. */
  prefixes: Array<{ key: string; hosts: FormatHost[]; protocols: string[] | null }>;
  /** List → the preference its moved host takes at PH.first (metalink). */
  leadPreferences: Array<{ list: string; preference: number }>;
  /** A host in one category and protocol set, whose lines (formats.ts *Unit) a variant moves; url: its first http(s) URL or ''. */
  hostRefs: Array<{ ref: string; host: FormatHost; protocols: string[] | null; mlFirst: boolean; mlLast: boolean; mtFirst: boolean; url: string }>;
  /** Relative file path → content (empty when a `write` sink was given: files went there). */
  files: Map<string, string>;
  /** Class id → its key(s) and the lists, for tests, debugging and the public pages. */
  index: { classes: Record<string, { keys: string[] }>; lists: Record<string, { variants: number; groups: Array<{ kind: string; hosts: string[] }> }> };
  /** Pre-escaped literal strings for the error bodies. */
  failurePubdate: string;
  counts: Record<string, number>;
  notes: string[];
}

/**
 * Address ranges → class id in address order, held compactly (hundreds of thousands
 * of rows at Fedora scale; the emitter formats each row as it writes it): range i
 * spans `words` 64-bit words from bounds[2·i·words] (start) and the next (end),
 * IPv6 high word first.
 */
export interface GeoTable {
  family: Family;
  count: number;
  bounds: BigUint64Array;
  cls: string[];
}

const WORD = (1n << 64n) - 1n;

/** Appends ranges, merging one into the last when contiguous with the same class. */
class GeoTableBuilder implements GeoTable {
  count = 0;
  bounds: BigUint64Array;
  cls: string[] = [];
  private readonly words: number;
  private lastEnd = -1n;
  constructor(readonly family: Family) {
    this.words = family === 4 ? 1 : 2;
    this.bounds = new BigUint64Array(1024 * this.words);
  }
  push(start: bigint, end: bigint, cls: string): void {
    const last = this.count - 1;
    if (last >= 0 && this.cls[last] === cls && this.lastEnd + 1n === start) return this.setEnd(last, end);
    if ((this.count + 1) * 2 * this.words > this.bounds.length) {
      const grown = new BigUint64Array(this.bounds.length * 2);
      grown.set(this.bounds);
      this.bounds = grown;
    }
    this.cls.push(cls);
    this.count++;
    this.put(2 * last + 2, start);
    this.put(2 * last + 3, end);
    this.lastEnd = end;
  }
  /** Only the last range's end changes (merging, or trimming the top of the IPv4 space). */
  setEnd(i: number, end: bigint): void {
    this.put(2 * i + 1, end);
    this.lastEnd = end;
  }
  pop(): void {
    this.count--;
    this.cls.pop();
    this.lastEnd = this.count ? geoEnd(this, this.count - 1) : -1n;
  }
  /** The used part only: a table is kept for the whole emit. */
  done(): GeoTable {
    return { family: this.family, count: this.count, bounds: this.bounds.slice(0, this.count * 2 * this.words), cls: this.cls };
  }
  private put(slot: number, v: bigint): void {
    if (this.words === 1) this.bounds[slot] = v;
    else {
      this.bounds[2 * slot] = v >> 64n;
      this.bounds[2 * slot + 1] = v & WORD;
    }
  }
}

function geoWord(t: GeoTable, slot: number): bigint {
  return t.family === 4 ? t.bounds[slot] : (t.bounds[2 * slot] << 64n) | t.bounds[2 * slot + 1];
}
export const geoStart = (t: GeoTable, i: number): bigint => geoWord(t, 2 * i);
export const geoEnd = (t: GeoTable, i: number): bigint => geoWord(t, 2 * i + 1);

interface HostInfo {
  select: SelectHost;
  name: string;
  /** categoryId → validated public URLs in protocol preference order */
  urls: Map<number, string[]>;
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** Netblocks of active hosts as ranges; DNS names come in already resolved (`resolved`). */
export function netblockRanges(snapshot: Snapshot, resolved: ReadonlyMap<string, string[]>, notes: string[]): NetblockRange[] {
  const out: NetblockRange[] = [];
  let id = 0;
  for (const h of snapshot.hosts) {
    for (const nb of h.netblocks) {
      const cidrs = nb.kind === 'dns' ? (resolved.get(nb.netblock) ?? []) : [nb.netblock];
      if (nb.kind === 'dns' && cidrs.length === 0) notes.push(`${h.name}: netblock ${nb.netblock} did not resolve; ignored this run`);
      for (const c of cidrs) {
        const r = parseCidr(c);
        if (!r) {
          notes.push(`${h.name}: netblock ${JSON.stringify(c).slice(0, 60)} is not a CIDR; ignored`);
          continue;
        }
        out.push({ id: ++id, hostId: h.id, family: r.family, start: r.start, end: r.end, prefix: r.prefix });
      }
    }
  }
  return out;
}

/** Both families' client partitions (partition.ts), from the GeoIP inputs and the netblocks. */
export interface ClientPartition {
  /** segments: the partition's segments in address order as a GeoTable whose class is the class key. */
  parts: Array<{ family: Family; segments: GeoTable; classes: Map<string, ClassKey> }>;
}

/**
 * Partitions before planning, so a caller that passes only this to planLists lets the
 * GeoIP tables (≈ 75 MB at Fedora scale) go before selection starts.
 */
export function partitionClients(geo: GeoData, netblocks: readonly NetblockRange[]): ClientPartition {
  return {
    parts: ([4, 6] as Family[]).map((f) => {
      const { segments, classes } = partition({ countries: geo.countries, netblocks, asns: geo.asns, research: geo.research }, f);
      // Compact at once: ~700k segment objects at Fedora scale would live through selection.
      const table = new GeoTableBuilder(f);
      for (const s of segments) table.push(s.start, s.end, s.key);
      return { family: f, segments: table.done(), classes };
    }),
  };
}

/**
 * @param clients the GeoIP inputs, or their partition (partitionClients) with the same netblocks
 * @param write where list files go as they are made (the generation writer), so a
 *   Fedora-scale build does not hold hundreds of MB of strings; default: plan.files.
 */
export function planLists(snapshot: Snapshot, clients: GeoData | ClientPartition, netblocks: readonly NetblockRange[], opts: PlanOptions, write?: (rel: string, content: string) => void): ListPlan {
  const notes: string[] = [];
  const files = new Map<string, string>();
  const put = write ?? ((rel: string, content: string) => void files.set(rel, content));

  // Hosts and their validated URLs.
  const hosts = new Map<number, HostInfo>();
  for (const h of snapshot.hosts) {
    hosts.set(h.id, {
      name: h.name,
      urls: new Map(),
      select: {
        id: h.id,
        country: h.country,
        weight: clampBandwidth(h.bandwidth),
        private: h.private,
        asn: h.asn,
        asnClients: h.asnClients,
        internet2Clients: h.internet2Clients,
        countriesAllowed: h.countriesAllowed,
        reachable4: h.reachableIpv4 !== false,
        reachable6: h.reachableIpv6 !== false,
      },
    });
  }
  for (const hc of snapshot.hostCategories) {
    const info = hosts.get(hc.hostId);
    if (!info) continue;
    const good: string[] = [];
    for (const raw of hc.urls) {
      const u = raw.replace(/\/+$/, '');
      if (!isSafeUrl(u)) {
        notes.push(`${info.name}: URL ${JSON.stringify(raw).slice(0, 80)} has characters unsafe for nginx/XML; not listed`);
        continue;
      }
      good.push(u);
    }
    good.sort((a, b) => PROTOCOL_ORDER.indexOf(schemeOf(a) as never) - PROTOCOL_ORDER.indexOf(schemeOf(b) as never) || (a < b ? -1 : a > b ? 1 : 0));
    if (good.length) info.urls.set(hc.categoryId, good);
  }

  // Repositories, their eligible host sets (signatures) and facts.
  const hcByCategory = new Map<number, typeof snapshot.hostCategories>();
  for (const hc of snapshot.hostCategories) {
    const list = hcByCategory.get(hc.categoryId) ?? [];
    list.push(hc);
    hcByCategory.set(hc.categoryId, list);
  }
  const sigs = new Map<string, { id: string; categoryId: number; hosts: number[] }>();
  const repos: ListRepo[] = [];
  const validRepos = snapshot.repositories.filter((r) => {
    const ok = SAFE.repo.test(r.prefix) && SAFE.arch.test(r.arch) && SAFE.path.test(r.directory) && !r.prefix.includes('+');
    if (!ok) notes.push(`repository ${JSON.stringify(`${r.prefix}/${r.arch}`).slice(0, 80)} (${JSON.stringify(r.directory).slice(0, 80)}) has unsafe characters; not served`);
    return ok;
  });
  const newest = validRepos.reduce((t, r) => Math.max(t, r.repomd[0]?.createdAt.getTime() ?? 0), 0);
  const failurePubdate = httpDate(new Date(newest));
  for (const [i, r] of validRepos.entries()) {
    const eligible = (hcByCategory.get(r.categoryId) ?? [])
      .filter((hc) => isUpToDate(snapshot, hc, r.directoryId) && hosts.get(hc.hostId)?.urls.has(r.categoryId))
      .map((hc) => hc.hostId)
      .sort((a, b) => a - b);
    const sigKey = `${r.categoryId}:${eligible.join(',')}`;
    let sig = sigs.get(sigKey);
    if (!sig) sigs.set(sigKey, (sig = { id: `s${sigs.size}`, categoryId: r.categoryId, hosts: eligible }));
    repos.push({
      token: `r${i}`,
      prefix: r.prefix,
      arch: r.arch,
      path: r.directory,
      sig: sig.id,
      disabled: r.disabled,
      pubdate: httpDate(r.repomd[0]?.createdAt ?? new Date(newest)),
      facts: factsOf(r, notes),
    });
  }
  const repoByName = new Map(repos.map((r) => [`${r.prefix}|${r.arch}`, r]));
  const aliases: ListPlan['aliases'] = [];
  for (const a of snapshot.aliases) {
    if (!SAFE.repo.test(a.from)) {
      notes.push(`repository alias ${JSON.stringify(a.from).slice(0, 60)} has unsafe characters; ignored`);
      continue;
    }
    for (const r of repos) if (r.prefix === a.to && !repoByName.has(`${a.from}|${r.arch}`)) aliases.push({ from: a.from, to: a.to, arch: r.arch, token: r.token });
  }

  // The selection world.
  const continentOfCc = (cc: string) => continentFor(cc, snapshot.continentRedirects);
  const byContinent = new Map<string, string[]>();
  for (const cc of [...COUNTRIES.keys()].sort()) {
    const c = continentOfCc(cc);
    if (!c) continue;
    byContinent.set(c, [...(byContinent.get(c) ?? []), cc]);
  }
  const world: SelectWorld = {
    hosts: new Map([...hosts].map(([id, h]) => [id, h.select])),
    netblocks: new Map(netblocks.map((n) => [n.id, n])),
    continentOf: continentOfCc,
    countriesOf: (c) => byContinent.get(c) ?? [],
    minimum: opts.minimum,
  };

  // Eligible sets per (signature, protocol set). The stored sets (`protocolSets`) get
  // lists; any other set that gives every host of a signature the same URLs as a stored
  // one is that one (exact, nginx maps it with $ms_pc), else it falls back to its
  // stored subset (PROTOCOL_FALLBACK). A stored set equal to an earlier one shares it too.
  const urlsUnder = (urls: readonly string[], protocols: readonly string[] | null) => (protocols ? hostUrls({ country: null, private: false, urls }, protocols, 'metalink') : urls);
  const stored = (p: ProtoSet) => (opts.protocolSets ?? 'common') === 'all' || COMMON_PROTOSETS.includes(p.token);
  const protoOrder = [...PROTOSETS.filter(stored), ...PROTOSETS.filter((p) => !stored(p))];
  const sigProto: Array<{ sig: string; categoryId: number; proto: ProtoSet; eligible: Set<number> }> = [];
  const protoCanon: ListPlan['protoCanon'] = [];
  const protoFallback: ListPlan['protoFallback'] = PROTOSETS.filter((p) => !stored(p)).map((p) => ({ token: p.token, served: protocolFallback(p) }));
  const eligibleSets = new Map<string, Set<number>>();
  for (const sig of sigs.values()) {
    const seen = new Map<string, string>();
    for (const proto of protoOrder) {
      const per = sig.hosts.map((id) => urlsUnder(hosts.get(id)!.urls.get(sig.categoryId) ?? [], proto.protocols));
      const vector = proto.protocols ? JSON.stringify(per) : 'a';
      const canon = seen.get(vector);
      if (canon) {
        protoCanon.push({ key: `${sig.id}|${proto.token}`, token: canon });
        continue;
      }
      if (!stored(proto)) continue;
      seen.set(vector, proto.token);
      const ids = sig.hosts.filter((_, i) => per[i].length > 0);
      // One Set object per distinct eligible set: select() indexes each once.
      const ek = `${sig.categoryId}:${ids.join(',')}`;
      let eligible = eligibleSets.get(ek);
      if (!eligible) eligibleSets.set(ek, (eligible = new Set(ids)));
      sigProto.push({ sig: sig.id, categoryId: sig.categoryId, proto, eligible });
    }
  }
  // A host's text in a blob or prefix depends only on its URLs under the protocol set:
  // one small id per distinct (host, URLs) so that equal texts of different sets share.
  const urlSetIds = new Map<string, number>();
  // Memo by the protocol set's array (one object per ProtoSet), category and host: called per host of every list.
  const urlSetMemo = new Map<readonly string[] | null, Map<number, Map<number, number>>>();
  const urlSetOf = (id: number, categoryId: number, protocols: readonly string[] | null) => {
    let byCat = urlSetMemo.get(protocols);
    if (!byCat) urlSetMemo.set(protocols, (byCat = new Map()));
    let byHost = byCat.get(categoryId);
    if (!byHost) byCat.set(categoryId, (byHost = new Map()));
    let n = byHost.get(id);
    if (n !== undefined) return n;
    // The host id too: its country and privacy are in the metalink text.
    const k = protocols ? `${id}|${JSON.stringify(urlsUnder(hosts.get(id)!.urls.get(categoryId) ?? [], protocols))}` : `*|${id}|${categoryId}`;
    n = urlSetIds.get(k);
    if (n === undefined) urlSetIds.set(k, (n = urlSetIds.size));
    byHost.set(id, n);
    return n;
  };

  // The partition, and the nominal classes (country= requests, netblock=0).
  const { parts } = 'parts' in clients ? clients : partitionClients(clients, netblocks);
  const queries = new Map<string, ClientQuery>();
  for (const p of parts) {
    for (const [key, k] of p.classes) {
      queries.set(key, toQuery(k));
      const bare = { ...k, netblocks: [], asn: null };
      queries.set(classKeyString(bare), toQuery(bare));
    }
  }
  const countryKeys: Array<{ key: string; q: string }> = [];
  const countryLists: ListPlan['countryLists'] = [];
  // One nominal class per requested country (or list, in request order: its header
  // names the countries in that order) and family; nginx's key is the token + family.
  const requests = [...COUNTRIES.keys(), 'GLOBAL'].sort().map((cc) => [cc]);
  for (const set of opts.countrySets ?? []) requests.push(...permutations([...set]));
  for (const ccs of requests) {
    for (const family of [4, 6] as Family[]) {
      const requested = ccs.join(',');
      const qk = `req|${family}|${requested}`;
      if (queries.has(qk)) continue;
      queries.set(qk, { family, country: ccs[0] === 'GLOBAL' ? null : ccs[0]!, netblocks: [], asn: null, research: false, requested });
      countryKeys.push({ key: `${countryToken(ccs)}${family}`, q: qk });
      if (family === 4 && ccs.length > 1) countryLists.push({ codes: ccs, token: countryToken(ccs) });
    }
  }

  // Select every (class, signature, protocol set); identical answers share one list.
  const lists = new Map<string, { sel: Selection; categoryId: number; protocols: string[] | null }>();
  const classSig = new Map<string, string>();
  const classLists = new Map<string, string[]>();
  // Many partition classes ask the same question (different netblock entries of the
  // same host, ASNs nobody serves…): answer each distinct question once.
  const asnServed = new Set([...hosts.values()].filter((h) => h.select.asnClients && h.select.asn !== null).map((h) => h.select.asn!));
  const question = (q: ClientQuery) => {
    const best = new Map<number, number>();
    for (const id of q.netblocks) {
      const n = world.netblocks.get(id);
      if (n) best.set(n.hostId, Math.max(best.get(n.hostId) ?? -1, n.prefix));
    }
    const nb = [...best].sort((a, b) => a[0] - b[0]).map(([h, p]) => `${h}/${p}`).join(',');
    return `${q.family}|${q.country ?? '-'}|${nb}|${q.asn !== null && asnServed.has(q.asn) ? q.asn : '-'}|${q.research ? 1 : 0}|${q.requested ?? ''}`;
  };
  const answered = new Map<string, string[]>();
  for (const [qk, q] of queries) {
    const qq = question(q);
    const known = answered.get(qq);
    if (known) {
      classLists.set(qk, known);
      classSig.set(qk, known.join(','));
      continue;
    }
    const ids: string[] = [];
    answered.set(qq, ids);
    const selected = new Map<Set<number>, Selection>();
    for (const sp of sigProto) {
      let sel = selected.get(sp.eligible);
      if (!sel) selected.set(sp.eligible, (sel = select(world, sp.eligible, q)));
      if (!sel.groups.length) {
        ids.push('');
        continue;
      }
      // The header's protocol word is not part of a list (nginx adds it from $ms_pw): the blob key below merges equal texts.
      const content = JSON.stringify([sp.categoryId, sp.proto.token, sel.header, sel.groups.map((g) => [g.kind, g.weighted, g.hosts])]);
      const L = sha(content).slice(0, 16);
      if (!lists.has(L)) lists.set(L, { sel, categoryId: sp.categoryId, protocols: sp.proto.protocols });
      ids.push(L);
    }
    classLists.set(qk, ids);
    classSig.set(qk, ids.join(','));
  }
  // Effective classes: query keys with the same answers everywhere are one class.
  const clsOfSig = new Map<string, string>();
  const clsOf = new Map<string, string>();
  const index: ListPlan['index'] = { classes: {}, lists: {} };
  const orderedKeys = [...queries.keys()].sort();
  for (const qk of orderedKeys) {
    const s = classSig.get(qk)!;
    let cls = clsOfSig.get(s);
    if (!cls) {
      cls = `c${clsOfSig.size.toString(36)}`;
      clsOfSig.set(s, cls);
      index.classes[cls] = { keys: [] };
    }
    clsOf.set(qk, cls);
    index.classes[cls].keys.push(qk);
  }

  // Each list (one distinct answer) = its hosts before the lead group (single-host
  // groups: netblock, ASN, a one-mirror country…), which nginx inserts from a map, and a
  // shared blob from the lead group on, whose variant's first host nginx moves to
  // PH.first (deleting its lines in place with a mapped sub_filter pattern). Blobs are
  // content-addressed: every list whose lead group and what follows are the same
  // (category, protocols, groups) uses one blob, whatever came before or the header said.
  const splitsByProfile = new Map<string, string>();
  const splits: ListPlan['splits'] = [];
  const listSplit = new Map<string, string>();
  const listId = new Map<string, string>();
  const firsts: ListPlan['firsts'] = [];
  const variants: ListPlan['variants'] = [];
  // Lists sharing a blob share its lead group, so its variants (same weights, same plan).
  const variantKeys = new Set<string>();
  const leadPreferences: ListPlan['leadPreferences'] = [];
  const hostRefs: ListPlan['hostRefs'] = [];
  const refOf = new Map<string, string>();
  const prefixes: ListPlan['prefixes'] = [];
  const prefixOf = new Map<string, string>();
  const listRows: ListPlan['listRows'] = [];
  const blobOfList = new Map<string, string>();
  const fhostOf = (categoryId: number) => (id: number): FormatHost => {
    const h = hosts.get(id)!;
    return { country: h.select.country, private: h.select.private, urls: h.urls.get(categoryId) ?? [] };
  };
  interface Blob { id: string; key: string; seed: string; groups: Group[]; categoryId: number; protocols: string[] | null; moving: boolean; maxPrefix: number; first: number[]; order?: number[]; ambiguous?: Set<number>; prefs?: number[]; mlFirst?: number; mlLast?: number; mtFirst?: number }
  const blobsByKey = new Map<string, Blob>();
  const logical: Array<{ id: string; L: string; blob: Blob; pre: number[]; lead: number; first: number[] }> = [];
  for (const L of [...lists.keys()].sort()) {
    const id = listId.size.toString(36);
    listId.set(L, id);
    const { sel, categoryId, protocols } = lists.get(L)!;
    const leadAt = sel.groups.findIndex((g) => g.hosts.length > 1);
    const plan = leadAt < 0 ? { first: [0], units: [UNITS] } : planVariants(sel.groups[leadAt].hosts.map((id) => (sel.groups[leadAt].weighted ? world.hosts.get(id)!.weight : 1)), opts.maxVariants);
    const profile = plan.units.join(',');
    let split = splitsByProfile.get(profile);
    if (!split) {
      split = `ms_v${splitsByProfile.size}`;
      splitsByProfile.set(profile, split);
      splits.push({ name: split, buckets: buckets(plan.units) });
    }
    listSplit.set(L, split);
    index.lists[id] = { variants: plan.first.length, groups: sel.groups.map((g) => ({ kind: g.kind, hosts: g.hosts.map((id) => hosts.get(id)!.name) })) };
    const lead = Math.max(leadAt, 0);
    const moving = plan.first.length > 1;
    const pre = sel.groups.slice(0, lead).flatMap((g) => g.hosts);
    const groups = sel.groups.slice(lead);
    // A blob without variants starts at 100 with its own prefix count (its first host is not inserted).
    // Keyed by what its text depends on (each host's URLs under the protocol set, not the
    // set's name), so protocol sets that list the same URLs share it; the shuffle seed
    // leaves the protocols out, so every protocol set orders the same hosts alike.
    const shape = [categoryId, moving, moving ? 0 : pre.length, groups.map((g) => [g.kind, g.weighted, g.hosts])];
    const key = sha(JSON.stringify([...shape, protocols ? 'p' : 'a', groups.map((g) => g.hosts.map((h) => urlSetOf(h, categoryId, protocols)))]));
    let blob = blobsByKey.get(key);
    if (!blob) blobsByKey.set(key, (blob = { id: '', key, seed: sha(JSON.stringify([categoryId, groups.map((g) => [g.kind, g.weighted, g.hosts])])), groups, categoryId, protocols, moving, maxPrefix: 0, first: plan.first }));
    blob.maxPrefix = Math.max(blob.maxPrefix, pre.length);
    logical.push({ id, L, blob, pre, lead: leadAt, first: plan.first });
  }
  // The blobs: one weighted shuffle per group, seeded by the content. Its preferences
  // start below every prefix that uses it (a variant's first host takes 100 − prefix).
  let blobFiles = 0;
  const unique = (text: string, lowerBlob: string) => !text || lowerBlob.split(text.toLowerCase()).length === 2;
  for (const blob of [...blobsByKey.values()].sort((a, b) => (a.key < b.key ? -1 : 1))) {
    blob.id = `b${blobFiles.toString(36)}`;
    blobFiles++;
    const fixed = blob.groups.map((g, gi) => weightedShuffle(g.hosts, (id) => (g.weighted ? world.hosts.get(id)!.weight : 1), seededRandom(`${blob.seed}|${gi}`)));
    blob.order = fixed.flat();
    const fhosts = blob.order.map(fhostOf(blob.categoryId));
    const slot = blob.moving ? { start: 0, size: fixed[0].length } : undefined;
    const top = Math.max(100 - blob.maxPrefix, 1);
    const ml = mirrorlistBlob(null, fhosts, blob.protocols, { start: 0, size: slot?.size ?? 0 });
    const mt = metalinkBlob(fhosts, blob.protocols, slot ?? { start: 0, size: 0 }, blob.moving ? top : top + 1);
    blob.prefs = metalinkPreferences(fhosts, blob.protocols, slot ?? { start: 0, size: 0 }, blob.moving ? top : top + 1).hosts;
    blob.mlFirst = mirrorlistFirstHost(fhosts, blob.protocols);
    blob.mlLast = mirrorlistLastHost(fhosts, blob.protocols);
    blob.mtFirst = metalinkFirstHost(fhosts, blob.protocols);
    // sub_filter deletes every case-insensitive occurrence: a moved host's text must be
    // unique in its blob. Checked here, for every host a variant moves (the same for
    // every list of the blob), so the texts need not be kept until the lists are done.
    if (blob.moving) {
      const [mlLower, mtLower] = [ml.toLowerCase(), mt.toLowerCase()];
      blob.ambiguous = new Set();
      for (const head of new Set(blob.first.map((i) => blob.groups[0].hosts[i]))) {
        const at = blob.order.indexOf(head);
        const fh = fhosts[at];
        if (!unique(mirrorlistDeletion(fh, blob.protocols, at === blob.mlFirst, at === blob.mlLast), mlLower) || !unique(metalinkUnit(fh, blob.protocols, blob.prefs[at], at === blob.mtFirst ? 'first' : 'other'), mtLower)) blob.ambiguous.add(head);
      }
    }
    put(`lists/o/${blob.id}.ml`, ml);
    put(`lists/o/${blob.id}.mt`, mt);
    const after = firstHttpUrl(fhosts, blob.protocols) ?? '';
    if (after) firsts.push({ list: blob.id, before: '', after });
  }
  for (const { id, L, blob, pre, lead, first } of logical) {
    const { sel, categoryId, protocols } = lists.get(L)!;
    const fhost = fhostOf(categoryId);
    let prefix = '';
    if (pre.length) {
      const pk = `${pre.map((h) => urlSetOf(h, categoryId, protocols)).join(',')}|${categoryId}|${protocols ? 'p' : 'a'}`;
      prefix = prefixOf.get(pk) ?? '';
      if (!prefix) {
        prefix = `p${prefixOf.size.toString(36)}`;
        prefixOf.set(pk, prefix);
        prefixes.push({ key: prefix, hosts: pre.map(fhost), protocols });
      }
    }
    // Without the protocol word: nginx appends the requested set's ($ms_pw).
    listRows.push({ list: id, blob: blob.id, prefix, header: sel.header });
    blobOfList.set(L, blob.id);
    const before = firstHttpUrl(pre.map(fhost), protocols) ?? '';
    if (before) firsts.push({ list: id, before, after: '' });
    if (!blob.moving) continue;
    leadPreferences.push({ list: id, preference: Math.max(100 - pre.length, 1) });
    for (const [j, firstIdx] of first.entries()) {
      const key = `${blob.id}/${j}`;
      if (variantKeys.has(key)) continue;
      variantKeys.add(key);
      const head = sel.groups[lead].hosts[firstIdx];
      const at = blob.order!.indexOf(head);
      // The blob's first host is deleted together with PH.first (formats.ts metalinkUnit).
      const mlFirst = at === blob.mlFirst;
      const mlLast = at === blob.mlLast;
      const mtFirst = at === blob.mtFirst;
      const refKey = `${urlSetOf(head, categoryId, protocols)}|${protocols ? 'p' : 'a'}|${mlFirst}|${mlLast}|${mtFirst}`;
      let ref = refOf.get(refKey);
      const fh = fhost(head);
      if (!ref) {
        ref = `k${refOf.size.toString(36)}`;
        refOf.set(refKey, ref);
        hostRefs.push({ ref, host: fh, protocols, mlFirst, mlLast, mtFirst, url: firstHttpUrl([fh], protocols) ?? '' });
      }
      const fp = blob.prefs![at];
      if (blob.ambiguous!.has(head)) {
        notes.push(`list ${id}: ${hosts.get(head)!.name} shares its URL text with another host; its weighted variant keeps the list order`);
        continue;
      }
      variants.push({ key, ref, preference: fp });
    }
  }

  // nginx map rows.
  const blobs: ListPlan['blobs'] = [];
  const seenCls = new Set<string>();
  for (const qk of orderedKeys) {
    const cls = clsOf.get(qk)!;
    if (seenCls.has(cls)) continue;
    seenCls.add(cls);
    const ids = classLists.get(qk)!;
    sigProto.forEach((sp, i) => {
      if (ids[i]) blobs.push({ key: `${cls}|${sp.sig}|${sp.proto.token}`, list: listId.get(ids[i])!, blob: blobOfList.get(ids[i])!, split: listSplit.get(ids[i])! });
    });
  }
  const geo4 = geoRanges(parts.find((p) => p.family === 4)!.segments, clsOf);
  const { entries: geo6, fallback: geo6Default, cidrs: geo6Cidrs } = geoCidrs(parts.find((p) => p.family === 6)!.segments, clsOf);
  const noNetblock: ListPlan['noNetblock'] = [];
  const nbSeen = new Set<string>();
  for (const p of parts) {
    for (const [key, k] of p.classes) {
      const from = clsOf.get(key)!;
      const to = clsOf.get(classKeyString({ ...k, netblocks: [], asn: null }))!;
      if (from !== to && !nbSeen.has(from)) {
        nbSeen.add(from);
        noNetblock.push({ from, to });
      }
    }
  }
  const countryClasses = countryKeys.map((c) => ({ key: c.key, cls: clsOf.get(c.q)! }));

  // On disk only the shape (host names would make it tens of MB at scale); the plan keeps the names.
  const compact = {
    classes: index.classes,
    lists: Object.fromEntries(Object.entries(index.lists).map(([L, v]) => [L, { variants: v.variants, groups: v.groups.map((g) => [g.kind, g.hosts.length]) }])),
  };
  put('lists/index.json', JSON.stringify(compact) + '\n');
  const counts = {
    hosts: snapshot.hosts.length,
    repositories: repos.filter((r) => !r.disabled).length,
    signatures: sigs.size,
    classes: seenCls.size,
    partitionRanges: parts.reduce((n, p) => n + p.segments.count, 0),
    geo4Ranges: geo4.count,
    geo6Cidrs,
    lists: lists.size,
    blobs: blobFiles,
    listFiles: blobFiles * 2,
    splitProfiles: splits.length,
    blobMapEntries: blobs.length,
  };
  return { repos, aliases, geo4, geo6, geo6Default, noNetblock, countryClasses, countryLists, protoCanon, protoFallback, blobs, splits, firsts, variants, leadPreferences, hostRefs, listRows, prefixes, files, index, failurePubdate, counts, notes };
}

/** redirect=1: the first host's https URL, else its http URL (MirrorManager skips ftp/rsync). */
function firstHttpUrl(hosts: readonly FormatHost[], protocols: readonly string[] | null): string | undefined {
  for (const h of hosts) {
    const urls = h.urls.filter((u) => !protocols || protocols.includes(schemeOf(u)));
    const u = urls.find((x) => schemeOf(x) === 'https') ?? urls.find((x) => schemeOf(x) === 'http');
    if (u) return u;
  }
  return undefined;
}

function toQuery(k: ClassKey): ClientQuery {
  return { family: k.family, country: k.country, netblocks: k.netblocks, asn: k.asn, research: k.research };
}

function factsOf(r: SnapshotRepository, notes: string[]): ListRepo['facts'] {
  const history = r.repomd.filter((d) => [d.md5, d.sha1, d.sha256, d.sha512].every((h) => h === null || SAFE.hex.test(h)));
  if (history.length !== r.repomd.length) notes.push(`${r.prefix}/${r.arch}: repomd.xml history has non-hex hashes; those versions left out`);
  if (!history.length) return null;
  const { current, alternates } = metalinkFacts(history);
  // Pack alternates into at most ALT_VARS nginx values under the config token limit.
  const alt: string[] = [];
  let chunk: string[] = [];
  let size = 0;
  const all = alternates;
  for (const a of all) {
    if (size + a.length > ALT_VAR_BYTES && chunk.length) {
      alt.push(chunk.join(''));
      chunk = [];
      size = 0;
    }
    if (alt.length === ALT_VARS) break;
    chunk.push(a);
    size += a.length;
  }
  if (chunk.length && alt.length < ALT_VARS) alt.push(chunk.join(''));
  const kept = alt.join('').split('<mm0:alternate>').length - 1;
  if (kept < all.length) notes.push(`${r.prefix}/${r.arch}: ${all.length - kept} old repomd.xml versions beyond the alternates cap left out`);
  // Opening and closing tags go around the whole set.
  if (alt.length) {
    alt[0] = '   <mm0:alternates>\n' + alt[0];
    alt[alt.length - 1] += '   </mm0:alternates>\n';
  }
  return { current, alt };
}

/** The nginx token of a country= request: `DE`, or `DE_AT` for the list DE,AT. */
export function countryToken(ccs: readonly string[]): string {
  return ccs.join('_');
}

function buckets(units: readonly number[]): Array<{ percent: string; value: string }> {
  return units.map((u, i) => ({ percent: i === units.length - 1 ? '*' : `${(u / 100).toFixed(2)}%`, value: String(i) }));
}

function geoRanges(segments: GeoTable, clsOf: ReadonlyMap<string, string>): GeoTable {
  const out = new GeoTableBuilder(4);
  for (let i = 0; i < segments.count; i++) out.push(geoStart(segments, i), geoEnd(segments, i), clsOf.get(segments.cls[i])!);
  // nginx looks IPv6 addresses up in a `ranges` geo as 255.255.255.255: keep that address
  // out of every class so the IPv6 lookup takes over (no IPv4 client has that address).
  const top = (1n << 32n) - 1n;
  const last = out.count - 1;
  if (geoStart(out, last) === top) out.pop();
  else out.setEnd(last, top - 1n);
  return out.done();
}

function geoCidrs(segments: GeoTable, clsOf: ReadonlyMap<string, string>): { entries: GeoTable; fallback: string; cidrs: number } {
  const merged = new GeoTableBuilder(6);
  for (let i = 0; i < segments.count; i++) merged.push(geoStart(segments, i), geoEnd(segments, i), clsOf.get(segments.cls[i])!);
  // The class covering most ranges becomes the geo default; the rest are listed.
  const weight = new Map<string, number>();
  for (let i = 0; i < merged.count; i++) weight.set(merged.cls[i], (weight.get(merged.cls[i]) ?? 0) + rangeToCidrs(geoStart(merged, i), geoEnd(merged, i), 6).length);
  let fallback = merged.cls[0];
  for (const [cls, n] of [...weight].sort((a, b) => (a[0] < b[0] ? -1 : 1))) if (n > (weight.get(fallback) ?? 0)) fallback = cls;
  // Adjacent ranges of one class are merged already, so listed ranges never merge again.
  const entries = new GeoTableBuilder(6);
  for (let i = 0; i < merged.count; i++) if (merged.cls[i] !== fallback) entries.push(geoStart(merged, i), geoEnd(merged, i), merged.cls[i]);
  let cidrs = 0;
  for (const [cls, n] of weight) if (cls !== fallback) cidrs += n;
  return { entries: entries.done(), fallback, cidrs };
}
