// Example list URLs for the demo, worked out from the published generation itself:
// the same geo ranges and maps nginx loads (nginx/http.d/10-lists.conf), the list
// index and the blob files. For a client address it answers what nginx would: the
// client class, the list and its blob, and its host groups in order. Candidate addresses come
// from the demo's real inputs (host netblocks, the ASN and GeoIP tables of the
// config), never from a table of known answers.
import fs from 'node:fs';
import path from 'node:path';
import { resolvePath, type Config } from '../core/config.ts';
import type { Queryable } from '../core/db.ts';
import { loadAsns, loadCountries } from '../build/geoip.ts';
import { compose, moveFirst } from '../build/formats.ts';
import { formatIp, parseCidr, parseIpv4 } from '../build/ip.ts';

export interface ListAnswer {
  cls: string;
  /** The list id (`$ms_lid`) and its blob (`$ms_list`). */
  list: string;
  blob: string;
  /** Host groups in order, each with the host names of the mirrorlist nginx composes for the first variant. */
  groups: Array<{ kind: string; hosts: string[] }>;
}

export interface GenerationLists {
  /** Client class of an IPv4 address, as nginx's `geo $ms_ip $ms_c4` gives it. */
  classOf(ip: string): string | null;
  /** Every enabled repo|arch the maps accept (aliases excluded). */
  repos: Array<{ repo: string; arch: string }>;
  answer(ip: string, repo: string, arch: string): ListAnswer | null;
}

/** `KEY VALUE;` rows (indented or not) of the block that starts with `header` (up to the closing `}`). */
function block(conf: string, header: string): Array<[string, string]> {
  const start = conf.indexOf(`\n${header}`);
  if (start < 0) throw new Error(`the generation's lists fragment has no "${header}" block`);
  const end = conf.indexOf('\n}', start + 1);
  const out: Array<[string, string]> = [];
  for (const line of conf.slice(start + header.length + 1, end).split('\n')) {
    const m = /^\s*("(?:[^"\\]|\\.)*"|\S+)\s+("(?:[^"\\]|\\.)*"|\S+);$/.exec(line);
    if (m) out.push([unquote(m[1]!), unquote(m[2]!)]);
  }
  return out;
}

/** An nginx config string as nginx reads it (`\n`, `\t`, `\r` and escaped characters). */
const unquote = (s: string) => (s.startsWith('"') ? s.slice(1, -1).replace(/\\(.)/g, (_, c: string) => ({ n: '\n', t: '\t', r: '\r' })[c] ?? c) : s);

/** A map's rows as a lookup (its `default` row included). */
const mapOf = (conf: string, header: string) => new Map(block(conf, header));

/** A mapped value with our variables (`${ms_x}` / `$ms_x`) filled in; an unknown variable is an error. */
function expand(value: string, vars: Readonly<Record<string, string>>): string {
  return value.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a?: string, b?: string) => {
    const name = (a ?? b)!;
    const v = vars[name];
    if (v === undefined) throw new Error(`the generation's lists fragment uses $${name} where the demo examples do not expect it`);
    return v;
  });
}

/**
 * Reads a generation directory's lists the way its nginx config does: geo → class;
 * "class|signature|protocol set" → list → blob; the blob's split_clients variable, whose
 * first bucket is variant 0; the list's header words and prefix hosts, the variant's
 * moved host (its lines deleted in the blob, inserted at @@F@@); then the blob file
 * with sub_filter's replacements. `hostOfUrl` names the mirror behind a list URL (the
 * lists carry URLs, not host names).
 */
export function readGenerationLists(genDir: string, hostOfUrl: (url: string) => string): GenerationLists {
  const conf = fs.readFileSync(path.join(genDir, 'nginx/http.d/10-lists.conf'), 'utf8');
  const index = JSON.parse(fs.readFileSync(path.join(genDir, 'lists/index.json'), 'utf8')) as { lists: Record<string, { groups: Array<[string, number]> }> };
  const ranges = block(conf, 'geo $ms_ip $ms_c4 {')
    .filter(([k]) => k.includes('-'))
    .map(([k, cls]) => {
      const [a, b] = k.split('-');
      return { from: parseIpv4(a!)!, to: parseIpv4(b!)!, cls };
    })
    .sort((x, y) => (x.from < y.from ? -1 : 1));
  const repoToken = mapOf(conf, 'map "$arg_repo|$ms_arch_in" $ms_repo_any {');
  const sigOf = mapOf(conf, 'map $ms_repo $ms_sig {');
  const pathOf = mapOf(conf, 'map $ms_repo $ms_path {');
  const rheadOf = mapOf(conf, 'map $ms_repo $ms_rhead {');
  const defaultProto = block(conf, 'map $arg_protocol $ms_proto {').find(([k]) => k === '')?.[1];
  // Without protocol= the set is its own ($ms_pc = $ms_proto) and the header has no protocol word ($ms_pw "").
  const listOf = mapOf(conf, 'map "$ms_cls|$ms_sig|$ms_pc" $ms_lid {');
  const blobOf = mapOf(conf, 'map $ms_lid $ms_list {');
  const splitOf = mapOf(conf, 'map $ms_list $ms_vsel {');
  const headerOf = mapOf(conf, 'map $ms_lid $ms_hid {');
  const wordsOf = mapOf(conf, 'map $ms_hid $ms_hw {');
  const prefixOf = mapOf(conf, 'map $ms_lid $ms_pk {');
  const prefixText = mapOf(conf, 'map $ms_pk $ms_mlpre {');
  const movedOf = mapOf(conf, 'map "$ms_list/$ms_vsel" $ms_fh {');
  const movedDel = mapOf(conf, 'map $ms_fh $ms_mld {');
  const movedDelWith = mapOf(conf, 'map $ms_fh $ms_mldw {');
  const movedIns = mapOf(conf, 'map $ms_fh $ms_mli {');
  // split_clients blocks: variable → the value of its first bucket (variant 0).
  const firstVariant = new Map<string, string>();
  for (const m of conf.matchAll(/^split_clients "\$\{msec\}\$\{connection\}\$\{connection_requests\}" \$(\w+) \{\n\s*\S+ (\S+);$/gm)) firstVariant.set(m[1]!, m[2]!);
  const repos = [...new Set(block(conf, 'map $ms_repo $ms_rhead {').map(([token]) => token))].flatMap((token) => {
    const key = [...repoToken].find(([, t]) => t === token)?.[0];
    return key ? [{ repo: key.split('|')[0]!, arch: key.split('|')[1]! }] : [];
  });

  const classOf = (ip: string): string | null => {
    const v = parseIpv4(ip);
    if (v === null) return null;
    let lo = 0;
    let hi = ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = ranges[mid]!;
      if (v < r.from) hi = mid - 1;
      else if (v > r.to) lo = mid + 1;
      else return r.cls || null;
    }
    return null;
  };
  const blobText = new Map<string, string>();
  const blobFile = (blob: string) => {
    let text = blobText.get(blob);
    if (text === undefined) blobText.set(blob, (text = fs.readFileSync(path.join(genDir, 'lists/o', `${blob}.ml`), 'utf8')));
    return text;
  };
  /** The mirrorlist nginx sends for a list in its first variant (server.d/10-lists.conf's sub_filters). */
  const mirrorlist = (token: string, list: string, blob: string): string => {
    const split = splitOf.get(blob) ?? '';
    const vsel = split.startsWith('$') ? (firstVariant.get(split.slice(1)) ?? '') : split;
    const fh = movedOf.get(`${blob}/${vsel}`) ?? '';
    const vars: Record<string, string> = { ms_path: pathOf.get(token) ?? '' };
    vars.ms_mlpre = expand(prefixText.get(prefixOf.get(list) ?? '') ?? '', vars);
    vars.ms_mli = expand(movedIns.get(fh) ?? '', vars);
    const moved = fh ? moveFirst(blobFile(blob), movedDel.get(fh) ?? '', expand(movedDelWith.get(fh) ?? '', vars), vars.ms_mlpre + vars.ms_mli) : moveFirst(blobFile(blob), '', '', vars.ms_mlpre);
    return compose(moved, { repo: `${rheadOf.get(token) ?? ''} ${expand(wordsOf.get(headerOf.get(list) ?? '') ?? '', { ms_pw: '' })}`, path: vars.ms_path });
  };
  return {
    classOf,
    repos,
    answer(ip, repo, arch) {
      const cls = classOf(ip);
      const token = repoToken.get(`${repo}|${arch}`);
      if (!cls || !token || token === '!' || !defaultProto) return null;
      const list = listOf.get(`${cls}|${sigOf.get(token)}|${defaultProto}`);
      const blob = list ? blobOf.get(list) : undefined;
      const shape = list ? index.lists[list] : undefined;
      if (!list || !blob || !shape) return null;
      const urls = mirrorlist(token, list, blob)
        .split('\n')
        .filter((l) => l && !l.startsWith('#'));
      let at = 0;
      const groups = shape.groups.map(([kind, n]) => {
        const hosts = urls.slice(at, at + n).map(hostOfUrl);
        at += n;
        return { kind, hosts };
      });
      return { cls, list, blob, groups };
    },
  };
}

export interface ListExample {
  /** What the example shows, e.g. "netblock". */
  kind: 'netblock' | 'private netblock' | 'asn' | 'country' | 'continent redirect' | 'global fallback';
  ip: string;
  /** Why this address lands where it does, in words. */
  why: string;
  answer: ListAnswer;
}

export interface ExampleInputs {
  config: Config;
  /** Active hosts' netblocks (CIDRs; DNS names are skipped), with the host's privacy. */
  netblocks: Array<{ host: string; private: boolean; cidr: string }>;
  /** ASNs served by an `asn_clients` host. */
  asns: Array<{ host: string; asn: number }>;
}

export async function loadExampleInputs(db: Queryable, config: Config): Promise<ExampleInputs> {
  const nb = await db.query<{ host: string; private: boolean; cidr: string }>(
    `SELECT h.name AS host, h.private, n.netblock AS cidr FROM host_netblock n JOIN host h ON h.id = n.host_id
      WHERE n.kind = 'cidr' AND h.admin_active AND h.user_active ORDER BY h.name, n.netblock`,
  );
  const asn = await db.query<{ host: string; asn: number }>(`SELECT name AS host, asn FROM host WHERE asn_clients AND asn IS NOT NULL ORDER BY name`);
  return { config, netblocks: nb.rows, asns: asn.rows };
}

/** The address one above the start of a range (not the network address itself) when the range allows. */
function inside(start: bigint, end: bigint): string {
  return formatIp(end > start ? start + 1n : start, 4);
}

// Special-purpose IPv4 space: fine for a class lookup, odd in an example.
const SPECIAL = ['0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16', '224.0.0.0/3'].map((c) => parseCidr(c)!);
const special = (v: bigint) => SPECIAL.some((s) => v >= s.start && v <= s.end);

/** The examples are IPv4: skip tables whose first line is IPv6 (parsing those is most of the load time). */
function ipv4Tables(config: Config, files: readonly string[]): string[] {
  return files
    .map((f) => resolvePath(config, f))
    .filter((f) => {
      const fd = fs.openSync(f, 'r');
      try {
        const head = Buffer.alloc(256);
        const n = fs.readSync(fd, head, 0, head.length, 0);
        return !head.subarray(0, n).toString('latin1').split('\n')[0]!.split(',')[0]!.includes(':');
      } finally {
        fs.closeSync(fd);
      }
    });
}

/**
 * One address per kind of client class, each checked against the generation: an
 * example is kept only when the list it gets really starts with that kind of group
 * (a continent redirect: its continent group holds the redirect target's mirrors).
 */
export function pickExamples(gen: GenerationLists, inputs: ExampleInputs, repo: { repo: string; arch: string }): ListExample[] {
  const { config } = inputs;
  const out: ListExample[] = [];
  const first = (a: ListAnswer | null) => a?.groups[0]?.kind;
  const ask = (ip: string) => gen.answer(ip, repo.repo, repo.arch);

  for (const wantPrivate of [false, true]) {
    for (const nb of inputs.netblocks.filter((n) => n.private === wantPrivate)) {
      const r = parseCidr(nb.cidr);
      if (!r || r.family !== 4) continue;
      const ip = inside(r.start, r.end);
      const a = ask(ip);
      if (first(a) === 'netblock' && a!.groups[0]!.hosts.includes(nb.host)) {
        out.push({ kind: wantPrivate ? 'private netblock' : 'netblock', ip, why: `inside ${nb.cidr}, a netblock of ${wantPrivate ? 'the private mirror ' : ''}${nb.host}`, answer: a! });
        break;
      }
    }
  }

  const wanted = new Set(inputs.asns.map((a) => a.asn));
  if (wanted.size) {
    const asnRanges = loadAsns(ipv4Tables(config, config.geoip.asn), wanted).filter((r) => r.family === 4);
    for (const r of asnRanges) {
      const ip = inside(r.start, r.end);
      const a = ask(ip);
      if (first(a) === 'asn') {
        out.push({ kind: 'asn', ip, why: `announced by AS${r.asn}, served by ${inputs.asns.find((x) => x.asn === r.asn)!.host} (asn_clients)`, answer: a! });
        break;
      }
    }
  }

  const countries = new Map<string, Array<{ start: bigint; end: bigint }>>();
  for (const r of loadCountries(ipv4Tables(config, config.geoip.country), {
    locations: config.geoip.countryLocations ? resolvePath(config, config.geoip.countryLocations) : undefined,
  })) {
    if (r.family !== 4 || special(r.start)) continue;
    const list = countries.get(r.country) ?? [];
    if (list.length < 20) list.push(r); // a few ranges per country are plenty to find one outside every netblock
    countries.set(r.country, list);
  }
  const redirects = config.countryContinentRedirects as Record<string, string>;
  const firstRangeOf = (cc: string, accept: (a: ListAnswer) => boolean): { ip: string; a: ListAnswer } | null => {
    for (const r of countries.get(cc) ?? []) {
      const ip = inside(r.start, r.end);
      const a = ask(ip);
      if (a && accept(a)) return { ip, a };
    }
    return null;
  };
  // The country with the most mirrors of its own for this repository (ties: alphabetical).
  const byCountry = [...countries.keys()].sort().filter((cc) => !(cc in redirects));
  let best: { cc: string; ip: string; a: ListAnswer } | null = null;
  for (const cc of byCountry) {
    const hit = firstRangeOf(cc, (a) => first(a) === 'country');
    if (hit && (!best || hit.a.groups[0]!.hosts.length > best.a.groups[0]!.hosts.length)) best = { cc, ...hit };
  }
  if (best) out.push({ kind: 'country', ip: best.ip, why: `GeoIP country ${best.cc}, outside every netblock`, answer: best.a });

  for (const [cc, continent] of Object.entries(redirects).sort()) {
    const hit = firstRangeOf(cc, (a) => a.groups.some((g) => g.kind === 'continent') && first(a) !== 'netblock' && first(a) !== 'asn');
    if (hit) {
      out.push({ kind: 'continent redirect', ip: hit.ip, why: `GeoIP country ${cc}, whose continent is redirected to ${continent} (countryContinentRedirects)`, answer: hit.a });
      break;
    }
  }

  // An address GeoIP places nowhere (or on a continent without enough mirrors): the global list.
  for (const probe of ['192.0.2.1', '198.51.100.1', '203.0.113.1']) {
    const a = ask(probe);
    if (first(a) === 'global') {
      out.push({ kind: 'global fallback', ip: probe, why: 'a documentation address no GeoIP country holds: only the global group', answer: a! });
      break;
    }
  }
  return out;
}

/** The repository most hosts carry in the global list (ties: alphabetical), to run the examples on. */
export function exampleRepository(gen: GenerationLists, globalIp = '192.0.2.1'): { repo: string; arch: string } | null {
  let best: { repo: string; arch: string; n: number } | null = null;
  for (const r of [...gen.repos].sort((a, b) => (`${a.repo}|${a.arch}` < `${b.repo}|${b.arch}` ? -1 : 1))) {
    const n = gen.answer(globalIp, r.repo, r.arch)?.groups.reduce((s, g) => s + g.hosts.length, 0) ?? 0;
    if (!best || n > best.n) best = { ...r, n };
  }
  return best && best.n > 0 ? { repo: best.repo, arch: best.arch } : null;
}

function groupText(g: { kind: string; hosts: string[] }): string {
  const shown = g.hosts.slice(0, 3).join(', ');
  return `${g.kind} (${g.hosts.length}): ${shown}${g.hosts.length > 3 ? ', …' : ''}`;
}

export function examplesText(examples: readonly ListExample[], repo: { repo: string; arch: string }, base = 'http://127.0.0.1:8080'): string {
  const lines = [`\nExample lists for ${repo.repo} ${repo.arch} (ip= stands in for the client address; computed from the published generation):`];
  for (const e of examples) {
    lines.push(`  ${e.kind}: ip=${e.ip} — ${e.why}`);
    lines.push(`    curl '${base}/metalink?repo=${repo.repo}&arch=${repo.arch}&ip=${e.ip}'`);
    lines.push(`    → ${e.answer.groups.map(groupText).join(' → ')}`);
  }
  lines.push(`  (also /mirrorlist?…, &country=DE, &country=DE,GB, &netblock=0, &protocol=https, &redirect=1)`);
  return lines.join('\n');
}

/** Names the mirror behind a list URL by the longest registered URL it starts with. */
export async function hostOfUrlFrom(db: Queryable): Promise<(url: string) => string> {
  const { rows } = await db.query<{ url: string; host: string }>(
    'SELECT u.url, h.name AS host FROM host_category_url u JOIN host_category hc ON hc.id = u.host_category_id JOIN host h ON h.id = hc.host_id',
  );
  const byLength = [...rows].sort((a, b) => b.url.length - a.url.length);
  return (url) => byLength.find((r) => url.startsWith(r.url))?.host ?? url;
}
