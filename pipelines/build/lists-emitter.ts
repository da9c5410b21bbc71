// The lists emitter (I/O edge): reads the GeoIP inputs, resolves DNS netblocks,
// plans the lists (pure, lists.ts) and writes the blobs plus the two nginx
// fragments rendered from templates/nginx/lists-*.conf.hbs.
import dns from 'node:dns/promises';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { mapLimited } from '../core/concurrency.ts';
import { resolvePath } from '../core/config.ts';
import type { Emitter, GenerationWriter } from '../core/generation.ts';
import type { StageContext } from '../core/types.ts';
import { COUNTRIES } from '../core/countries.ts';
import { loadAsns, loadCountries, loadPrefixList, type GeoData } from './geoip.ts';
import { formatIp, parseCidr, rangeToCidrs } from './ip.ts';
import { ALT_VARS, geoEnd, geoStart, netblockRanges, partitionClients, planLists, PROTOSETS, SAFE, type GeoTable, type ListPlan } from './lists.ts';
import { invalidRepoText, metalinkFailure, metalinkJoin, metalinkUnit, metalinkUrlTail, mirrorlistDeletion, mirrorlistUnit, PH } from './formats.ts';
import { snapshotFor, type Snapshot } from './snapshot.ts';

const TEMPLATES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../templates/nginx');

function compile(name: string): Handlebars.TemplateDelegate {
  // noEscape: nginx config, not HTML; every value is validated or quoted by ngxString first.
  return Handlebars.compile(fs.readFileSync(path.join(TEMPLATES, name), 'utf8'), { strict: true, noEscape: true });
}

export const listsEmitter: Emitter = {
  name: 'lists',
  async emit(ctx, gen) {
    const httpTpl = compile('lists-http.conf.hbs');
    const serverTpl = compile('lists-server.conf.hbs');
    const composeTpl = compile('lists-compose.conf.hbs');
    const snapshot = await snapshotFor(ctx);
    const notes: string[] = [];
    const resolved = await resolveDnsNetblocks(ctx, snapshot);
    const netblocks = netblockRanges(snapshot, resolved, notes);
    // Only the partition is kept: the GeoIP tables are garbage before selection starts.
    const clients = partitionClients(loadGeo(ctx, snapshot), netblocks);
    const plan = planLists(snapshot, clients, netblocks, { minimum: ctx.config.selection.minimum, maxVariants: ctx.config.selection.variants, protocolSets: ctx.config.selection.protocolSets, countrySets: ctx.config.selection.countrySets }, (rel, content) => gen.write(rel, content));
    writePlan(gen, plan, ctx.config.build.trustedProxies, httpTpl, serverTpl, composeTpl);
    ctx.log.info(
      `lists: ${plan.counts.classes} classes, ${plan.counts.lists} orderings, ${plan.counts.listFiles} list files, ${plan.counts.geo4Ranges} IPv4 ranges, ${plan.counts.geo6Cidrs} IPv6 CIDRs`,
    );
    return { counts: { ...plan.counts, ...listedCounts(plan) }, notes: [...notes, ...plan.notes] };
  },
};

/**
 * What publish's shrink guard compares: hosts in at least one list, enabled
 * repositories with at least one mirror for some client (a blob of their host-set
 * signature). plan.counts.hosts/repositories count the snapshot, stale hosts included.
 */
export function listedCounts(plan: ListPlan): { listedHosts: number; servedRepositories: number } {
  const hosts = new Set<string>();
  for (const l of Object.values(plan.index.lists)) for (const g of l.groups) for (const h of g.hosts) hosts.add(h);
  const servedSigs = new Set(plan.blobs.map((b) => b.key.split('|')[1]));
  return { listedHosts: hosts.size, servedRepositories: plan.repos.filter((r) => !r.disabled && servedSigs.has(r.sig)).length };
}

function loadGeo(ctx: StageContext, snapshot: Snapshot): GeoData {
  const g = ctx.config.geoip;
  const wanted = new Set(snapshot.hosts.filter((h) => h.asnClients && h.asn !== null).map((h) => h.asn!));
  return {
    countries: loadCountries(
      g.country.map((f) => resolvePath(ctx.config, f)),
      { locations: g.countryLocations ? resolvePath(ctx.config, g.countryLocations) : undefined },
    ),
    asns: loadAsns(g.asn.map((f) => resolvePath(ctx.config, f)), wanted),
    research: loadPrefixList(g.researchPrefixes ? resolvePath(ctx.config, g.researchPrefixes) : undefined),
  };
}

/** Netblocks registered as DNS names (e.g. a NAT gateway) → their addresses now; failures are notes. */
async function resolveDnsNetblocks(ctx: StageContext, snapshot: Snapshot): Promise<Map<string, string[]>> {
  const names = [...new Set(snapshot.hosts.flatMap((h) => h.netblocks.filter((n) => n.kind === 'dns').map((n) => n.netblock)))].sort();
  const out = new Map<string, string[]>();
  const settled = await mapLimited(names, { concurrency: 16, signal: ctx.signal }, async (name) => {
    const lookup = dns.lookup(name, { all: true, verbatim: true });
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 5000).unref());
    const addrs = await Promise.race([lookup, timeout]);
    return addrs.map((a) => a.address).filter((a) => parseCidr(a)).sort();
  });
  settled.forEach((s, i) => {
    if (s.ok) out.set(names[i], s.value);
    else ctx.log.warn(`netblock ${names[i]} did not resolve: ${s.error.message}`);
  });
  return out;
}

/** A double-quoted nginx string; `$` (variables) and control characters other than newline are refused. */
export function ngxString(s: string): string {
  if (/[$\0-\x09\x0b-\x1f\x7f]/.test(s)) throw new Error(`refusing to put ${JSON.stringify(s.slice(0, 40))} into nginx config`);
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** ngxString of `text` with each marker turned into an nginx variable of ours (`${name}`), after escaping. */
function ngxWithVars(text: string, vars: Record<string, string>): string {
  let out = ngxString(text);
  for (const [marker, name] of Object.entries(vars)) out = out.split(marker).join(ngxVar(name));
  return out;
}
const ngxVar = (name: string) => `\${${checked(/^ms_[a-z0-9_]+$/, 'variable', name)}}`;
const PREF_MARK = '@@Q@@';
const PW_MARK = '@@W@@';

/** A comma list as nginx may see it in $arg_protocol (not URL-decoded): each `,` also as `%2C`. */
function separatorForms(spelling: string): string[] {
  return spelling.split(',').reduce<string[]>((acc, part, i) => (i === 0 ? [part] : acc.flatMap((a) => [`${a},${part}`, `${a}%2C${part}`])), []);
}

function checked(re: RegExp, what: string, v: string): string {
  if (!re.test(v)) throw new Error(`refusing unsafe ${what} ${JSON.stringify(v.slice(0, 60))} in nginx config`);
  return v;
}

// Markers the http template prints where the geo rows go: NUL never survives ngxString
// or the class/address formats, so no rendered value can contain one.
const GEO_ROWS = { geo4: '\0geo4-rows\0', geo6: '\0geo6-rows\0' } as const;

/**
 * The rendered http fragment with each GEO_ROWS marker line replaced by its rows,
 * formatted here row by row (`from-to cls;` for IPv4 ranges, `cidr cls;` for each CIDR
 * of an IPv6 range) in chunks, so the geo blocks never exist as one string.
 */
function* withGeoRows(rendered: string, tables: Record<keyof typeof GEO_ROWS, GeoTable>, cls: RegExp): Generator<string> {
  const plain = (text: string) => {
    if (text.includes('\0')) throw new Error('lists-http.conf.hbs: a geo rows marker is not on a line of its own');
    return text;
  };
  let at = 0;
  for (;;) {
    const hits = (Object.keys(GEO_ROWS) as Array<keyof typeof GEO_ROWS>).map((k) => ({ k, i: rendered.indexOf(`${GEO_ROWS[k]}\n`, at) })).filter((h) => h.i >= 0);
    if (!hits.length) break;
    const { k, i } = hits.reduce((a, b) => (b.i < a.i ? b : a));
    yield plain(rendered.slice(at, i));
    at = i + GEO_ROWS[k].length + 1;
    const t = tables[k];
    let rows: string[] = [];
    for (let r = 0; r < t.count; r++) {
      const c = checked(cls, 'class', t.cls[r]);
      if (t.family === 4) rows.push(`${formatIp(geoStart(t, r), 4)}-${formatIp(geoEnd(t, r), 4)} ${c};\n`);
      else for (const cidr of rangeToCidrs(geoStart(t, r), geoEnd(t, r), 6)) rows.push(`${cidr} ${c};\n`);
      if (rows.length >= 4096) {
        yield rows.join('');
        rows = [];
      }
    }
    yield rows.join('');
  }
  yield plain(rendered.slice(at));
}

export function writePlan(gen: GenerationWriter, plan: ListPlan, trustedProxies: readonly string[], httpTpl: Handlebars.TemplateDelegate, serverTpl: Handlebars.TemplateDelegate, composeTpl: Handlebars.TemplateDelegate): void {
  for (const [rel, content] of [...plan.files].sort((a, b) => (a[0] < b[0] ? -1 : 1))) gen.write(rel, content);
  const pairs = plan.repos.filter((r) => !r.disabled).map((r) => [r.prefix, r.arch] as const);
  gen.write('lists/invalid.ml', invalidRepoText(pairs));
  gen.write('lists/invalid.mt', metalinkFailure(plan.failurePubdate, invalidRepoText(pairs).replace(/\n$/, '')));

  const cls = /^c[0-9a-z]+$/;
  const variantKey = /^b[0-9a-z]+\/\d+$/;
  const listId = /^[0-9a-z]+$/;
  const blobId = /^b[0-9a-z]+$/;
  // Many lists share their header words (thousands of lists, hundreds of headers).
  const headerIds = new Map<string, string>();
  const splitOfBlob = new Map<string, string>();
  for (const b of plan.blobs) {
    if ((splitOfBlob.get(b.blob) ?? b.split) !== b.split) throw new Error(`blob ${b.blob}: lists with different weighted variants`);
    splitOfBlob.set(b.blob, b.split);
  }
  const headerId = (words: string) => {
    let id = headerIds.get(words);
    if (!id) headerIds.set(words, (id = `h${headerIds.size.toString(36)}`));
    return id;
  };
  const repoKeys = [
    ...plan.repos.map((r) => ({ key: `${checked(SAFE.repo, 'repo', r.prefix)}|${checked(SAFE.arch, 'arch', r.arch)}`, token: r.disabled ? '!' : r.token })),
    ...plan.aliases.map((a) => ({ key: `${checked(SAFE.repo, 'repo', a.from)}|${a.arch}`, token: plan.repos.find((r) => r.token === a.token)!.disabled ? '!' : a.token })),
  ];
  const echoRepos = [
    ...new Map([...plan.repos.map((r) => [r.prefix, r.prefix] as const), ...plan.aliases.map((a) => [a.from, a.to] as const)]).entries(),
  ]
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([from, to]) => ({ from, to }));
  const echoArches = [...new Set(plan.repos.map((r) => r.arch))].sort();
  const factRepos = plan.repos.filter((r) => r.facts).map((r) => ({ token: r.token, current: ngxString(r.facts!.current) }));
  const altVars = Array.from({ length: ALT_VARS }, (_, i) => ({
    index: i,
    rows: plan.repos.filter((r) => r.facts && r.facts.alt[i]).map((r) => ({ token: r.token, value: ngxString(r.facts!.alt[i]) })),
  }));
  const countries = [...COUNTRIES.keys(), 'GLOBAL'].sort().map((c) => checked(/^[A-Z]+$/, 'country', c));
  const view = {
    mapHashMaxSize: Math.max(4096, 2 ** Math.ceil(Math.log2(Math.max(repoKeys.length, plan.blobs.length, plan.firsts.length, plan.variants.length, 1) * 2))),
    trustedProxies: trustedProxies.map((p) => checked(/^[0-9A-Fa-f.:]+(\/\d{1,3})?$/, 'proxy', p)),
    // The geo blocks (tens of MB) are streamed into the file in place of these markers.
    geo4: GEO_ROWS.geo4,
    geo6: GEO_ROWS.geo6,
    geo6Default: checked(cls, 'class', plan.geo6Default),
    noNetblock: plan.noNetblock,
    countries,
    countryClasses: plan.countryClasses.map((c) => ({ key: checked(/^[A-Z_]+[46]$/, 'country class key', c.key), cls: checked(cls, 'class', c.cls) })),
    // country= lists with classes of their own (selection.countrySets, every order): each
    // spelling (`,` or %2C between codes; case does not matter to map) → the list's token.
    countryLists: plan.countryLists.flatMap((l) =>
      separatorForms(l.codes.join(',')).map((spelling) => ({ spelling: checked(/^[A-Z,%2C]+$/, 'country list', spelling), token: checked(/^[A-Z_]+$/, 'country list', l.token) })),
    ),
    // Any other list of known codes is answered as its first country alone.
    countryCodeAlternation: countries.join('|'),
    protocols: PROTOSETS.flatMap((p) => p.spellings.flatMap(separatorForms).map((spelling) => ({ spelling: checked(/^[a-z,%2C]*$/, 'protocol', spelling), token: checked(/^[a-z]+$/, 'protocol', p.token) }))),
    protocolWords: PROTOSETS.filter((p) => p.protocols).map((p) => ({ token: p.token, words: ngxString(`protocol = ${p.protocols!.join(',')}`) })),
    protoCanon: plan.protoCanon.map((c) => ({ key: checked(/^s\d+\|[a-z]+$/, 'signature', c.key), token: checked(/^[a-z]+$/, 'protocol', c.token) })),
    protoFallback: plan.protoFallback.map((f) => ({ token: checked(/^[a-z]+$/, 'protocol', f.token), served: checked(/^[a-z]+$/, 'protocol', f.served) })),
    // An unstored set mapped exactly (same URLs as a stored one) keeps its own header word; a fallback says what it lists.
    protoExact: plan.protoCanon.filter((c) => plan.protoFallback.some((f) => c.key.endsWith(`|${f.token}`))).map((c) => ({ key: c.key, token: c.key.split('|')[1] })),
    repoKeys,
    echoRepos,
    echoArches,
    repos: plan.repos.map((r) => ({ token: r.token, path: checked(SAFE.path, 'path', r.path), prefix: r.prefix, arch: r.arch, sig: r.sig, pubdate: checked(/^[A-Za-z0-9 ,:]+$/, 'date', r.pubdate) })),
    failurePubdate: plan.failurePubdate,
    factRepos,
    altVars,
    blobs: plan.blobs.map((b) => ({ key: b.key, list: checked(listId, 'list', b.list) })),
    // A blob's lists share its lead group, so one split_clients block (checked here).
    blobSplits: [...splitOfBlob].map(([blob, split]) => ({ blob: checked(blobId, 'blob', blob), split: checked(/^ms_v\d+$/, 'split', split) })),
    splits: plan.splits,
    firstsBefore: plan.firsts.filter((f) => f.before).map((f) => ({ list: checked(listId, 'list', f.list), url: checked(SAFE.url, 'url', f.before) })),
    firstsAfter: plan.firsts.filter((f) => f.after).map((f) => ({ blob: checked(blobId, 'blob', f.list), url: checked(SAFE.url, 'url', f.after) })),
    listRows: plan.listRows.map((l) => ({ list: checked(listId, 'list', l.list), blob: checked(blobId, 'blob', l.blob), prefix: l.prefix ? checked(/^p[0-9a-z]+$/, 'prefix', l.prefix) : '', header: headerId(l.header) })),
    // The requested protocol set's header word ($ms_pw, canonical spelling) follows a list's own words.
    headers: [...headerIds].map(([words, id]) => ({ id, words: ngxWithVars(`${words}${PW_MARK}`, { [PW_MARK]: 'ms_pw' }) })),
    // The hosts before a list's lead group, inserted at PH.first (preference 100 down).
    prefixes: plan.prefixes.map((x) => ({
      key: x.key,
      ml: ngxWithVars(x.hosts.map((h) => mirrorlistUnit(h, x.protocols)).join(''), { [PH.path]: 'ms_path' }),
      mt: ngxWithVars(x.hosts.map((h, i) => metalinkUnit(h, x.protocols, Math.max(100 - i, 1), 'insert')).join(''), {}).split(PH.join).join(ngxWithVars(metalinkJoin(PH.path), { [PH.path]: 'ms_path' }).slice(1, -1)),
    })),
    variants: plan.variants.map((v) => ({ key: checked(variantKey, 'variant', v.key), ref: checked(/^k[0-9a-z]+$/, 'ref', v.ref), preference: v.preference })),
    leadPreferences: plan.leadPreferences.map((l) => ({ list: checked(listId, 'list', l.list), preference: l.preference })),
    // A moved host's lines: as the blob holds them (the sub_filter pattern that deletes
    // them) and as inserted at PH.first (path and first preference filled in).
    hostRefs: plan.hostRefs.map((r) => ({
      ref: r.ref,
      url: r.url ? checked(SAFE.url, 'url', r.url) : '',
      mlDel: ngxString(mirrorlistDeletion(r.host, r.protocols, r.mlFirst, r.mlLast)),
      mlDelWith: r.mlFirst ? `"${ngxVar('ms_mlpre')}${ngxVar('ms_mli')}"` : ngxWithVars(`${PH.path}/`, { [PH.path]: 'ms_path' }),
      mtDelWith: r.mtFirst ? `"${ngxVar('ms_mtpre')}${ngxVar('ms_mti')}"` : '""',
      mlIns: ngxWithVars(mirrorlistUnit(r.host, r.protocols), { [PH.path]: 'ms_path' }),
      mtDel: ngxWithVars(metalinkUnit(r.host, r.protocols, PREF_MARK, r.mtFirst ? 'first' : 'other'), { [PREF_MARK]: 'ms_fp' }),
      mtIns: ngxWithVars(metalinkUnit(r.host, r.protocols, PREF_MARK, 'insert'), { [PREF_MARK]: 'ms_p0' }).split(PH.join).join(ngxWithVars(metalinkJoin(PH.path), { [PH.path]: 'ms_path' }).slice(1, -1)),
    })),
  };
  gen.writeChunks('nginx/http.d/10-lists.conf', withGeoRows(httpTpl(view), { geo4: plan.geo4, geo6: plan.geo6 }, cls));

  const errors = (metalink: boolean) => {
    const wrap = (msg: string) => ngxString(metalink ? metalinkFailure(plan.failurePubdate, msg) : `${msg}\n`);
    return {
      bad: wrap('# error: oversized query string or a parameter given more than once'),
      missing: wrap('# either path=, or repo= and arch= must be specified'),
      ip: wrap('Cannot parse client IP address. Aborting.'),
      netblock: wrap('# error: netblock= must be 0 or 1'),
      country: wrap('# error: country= must be one ISO 3166 country code or global'),
      protocol: wrap('# error: protocol= must be a comma list of distinct https, http, ftp, rsync'),
      disabled: ngxString(metalink ? metalinkFailure(plan.failurePubdate, 'repo disabled') : 'repo disabled'),
      nomirrors: wrap('# error: no mirror currently carries this repository for these parameters'),
      // $ms_path is a mapped, validated directory name: the only variable in a body.
      nometalink: metalink ? ngxString(metalinkFailure(plan.failurePubdate, '@@')).replace('@@', '$ms_path/repodata/repomd.xml not found or has not metalink') : '""',
    };
  };
  const formats = {
    formats: [
      { uri: '/mirrorlist', kind: 'ml', ext: '.ml', type: 'text/plain', metalink: false, err: errors(false), altVars: altVars.map((a) => ({ index: a.index })) },
      { uri: '/metalink', kind: 'mt', ext: '.mt', type: 'application/metalink+xml', metalink: true, err: errors(true), altVars: altVars.map((a) => ({ index: a.index })), urlTail: ngxWithVars(metalinkUrlTail(PH.path), { [PH.path]: 'ms_path' }), join: ngxWithVars(metalinkJoin(PH.path), { [PH.path]: 'ms_path' }) },
    ],
  };
  gen.write('nginx/server.d/10-lists.conf', serverTpl(formats));
  gen.write('nginx/compose.d/10-lists.conf', composeTpl(formats));
}
