// The admin CLI, MirrorBrain-style: `site list|show`, `host list|show|enable|disable|comment`,
// `export --format json|csv`. Human tables by default, `--json` for scripts.
// Changes to registry-owned fields are recorded in host.cli_overrides so that the
// next `registry apply` keeps them and says so instead of silently reverting them.
import type { Command } from 'commander';
import type { CliEnv } from '../cli.ts';
import { withApp, type AppContext } from '../core/context.ts';
import { CONTINENT_NAMES, continentOf, isCountryCode } from '../core/countries.ts';
import type { Queryable } from '../core/db.ts';
import { UsageError } from '../core/errors.ts';
import { formatTable } from '../core/table.ts';
import { parseOverrides, readRegistryState, type CliOverride, type CliOverrides } from '../registry/apply.ts';

type Out = (text: string) => void;

export interface HostListFilter {
  country?: string;
  continent?: string;
  disabled?: boolean;
  private?: boolean;
  category?: string;
}

/** One host with its registry fields and the crawl-derived state, as `host list/show` and `export` print it. */
export interface HostInfo {
  name: string;
  site: string;
  country: string | null;
  continent: string | null;
  bandwidth_mbps: number;
  private: boolean;
  internet2: boolean;
  internet2_clients: boolean;
  asn: number | null;
  asn_clients: boolean;
  countries_allowed: string[];
  max_connections: number;
  admin_active: boolean;
  user_active: boolean;
  site_admin_active: boolean;
  site_user_active: boolean;
  site_private: boolean;
  comment: string;
  netblocks: string[];
  acl_ips: string[];
  categories: Array<{ name: string; always_up2date: boolean; urls: string[]; private_urls: string[]; dirs_up2date: number; dirs_stale: number; last_checked: string | null }>;
  /** Whether clients are given this host at all (all flags on, not auto-disabled, not probed down). */
  serving: boolean;
  state: {
    auto_disabled: boolean;
    disable_reason: string | null;
    crawl_failures: number;
    last_crawled: string | null;
    last_crawl_duration_ms: number | null;
    last_crawl_method: string | null;
    last_checked_in: string | null;
    reachable_ipv4: boolean | null;
    reachable_ipv6: boolean | null;
    probe_down: boolean;
    last_probed: string | null;
  };
  cli_overrides: CliOverrides;
  /** Newest crawl_log rows (host show only). */
  recent_crawls?: CrawlLogEntry[];
}

export interface CrawlLogEntry {
  started_at: string;
  duration_ms: number;
  method: string;
  ok: boolean;
  counted: boolean;
  error_kind: string | null;
  summary: string;
  dirs_up2date: number;
  dirs_stale: number;
  lines: string[];
}

/** The crawler's log for one host, newest first (sql/003_crawl_log.sql). */
export async function recentCrawls(q: Queryable, host: string, limit = 5): Promise<CrawlLogEntry[]> {
  const r = await q.query<Omit<CrawlLogEntry, 'started_at' | 'lines'> & { started_at: Date; lines: unknown }>(
    `SELECT l.started_at, l.duration_ms, l.method, l.ok, l.counted, l.error_kind, l.summary, l.dirs_up2date, l.dirs_stale, l.lines
       FROM crawl_log l JOIN host h ON h.id = l.host_id WHERE h.name = $1 ORDER BY l.started_at DESC, l.id DESC LIMIT $2`,
    [host, limit],
  );
  return r.rows.map((c) => ({ ...c, started_at: iso(c.started_at)!, lines: Array.isArray(c.lines) ? c.lines.map(String) : [] }));
}

interface HostRow {
  name: string;
  site: string;
  country: string | null;
  bandwidth_int: number;
  private: boolean;
  internet2: boolean;
  internet2_clients: boolean;
  asn: number | null;
  asn_clients: boolean;
  countries_allowed: string[];
  max_connections: number;
  admin_active: boolean;
  user_active: boolean;
  site_admin_active: boolean;
  site_user_active: boolean;
  site_private: boolean;
  comment: string;
  cli_overrides: unknown;
  auto_disabled: boolean;
  disable_reason: string | null;
  crawl_failures: number;
  last_crawled: Date | null;
  last_crawl_duration_ms: number | null;
  last_crawl_method: string | null;
  last_checked_in: Date | null;
  reachable_ipv4: boolean | null;
  reachable_ipv6: boolean | null;
  probe_down: boolean;
  last_probed: Date | null;
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

/** Every host with registry fields, crawl state and per-category up-to-date counts, sorted by name. */
export async function readHosts(q: Queryable): Promise<HostInfo[]> {
  const hosts = await q.query<HostRow & { id: number }>(
    `SELECT h.id, h.name, s.name AS site, h.country, h.bandwidth_int, h.private, h.internet2, h.internet2_clients, h.asn, h.asn_clients,
            h.countries_allowed, h.max_connections, h.admin_active, h.user_active, s.admin_active AS site_admin_active,
            s.user_active AS site_user_active, s.private AS site_private, h.comment, h.cli_overrides, h.auto_disabled, h.disable_reason,
            h.crawl_failures, h.last_crawled, h.last_crawl_duration_ms, h.last_crawl_method, h.last_checked_in, h.reachable_ipv4,
            h.reachable_ipv6, h.probe_down, h.last_probed
       FROM host h JOIN site s ON s.id = h.site_id ORDER BY h.name`,
  );
  const redirects = new Map((await q.query<{ country: string; continent: string }>('SELECT country, continent FROM country_continent_redirect')).rows.map((r) => [r.country, r.continent]));
  const nb = await q.query<{ host_id: number; netblock: string }>('SELECT host_id, netblock FROM host_netblock ORDER BY id');
  const acl = await q.query<{ host_id: number; ip: string }>('SELECT host_id, ip FROM host_acl_ip ORDER BY id');
  const cats = await q.query<{ id: number; host_id: number; name: string; always_up2date: boolean; up: number; stale: number; last_checked: Date | null }>(
    `SELECT hc.id, hc.host_id, c.name, hc.always_up2date,
            count(d.id) FILTER (WHERE d.up2date)::int AS up, count(d.id) FILTER (WHERE NOT d.up2date)::int AS stale, max(d.checked_at) AS last_checked
       FROM host_category hc JOIN category c ON c.id = hc.category_id
       LEFT JOIN host_category_dir d ON d.host_category_id = hc.id
      GROUP BY hc.id, hc.host_id, c.name, hc.always_up2date ORDER BY c.name`,
  );
  const urls = await q.query<{ host_category_id: number; url: string; private: boolean }>('SELECT host_category_id, url, private FROM host_category_url ORDER BY id');
  const by = <T extends { host_id: number }>(rows: T[]) => {
    const m = new Map<number, T[]>();
    for (const r of rows) m.set(r.host_id, [...(m.get(r.host_id) ?? []), r]);
    return m;
  };
  const nbBy = by(nb.rows);
  const aclBy = by(acl.rows);
  const catBy = by(cats.rows);
  const urlBy = new Map<number, Array<{ url: string; private: boolean }>>();
  for (const u of urls.rows) urlBy.set(u.host_category_id, [...(urlBy.get(u.host_category_id) ?? []), u]);

  return hosts.rows.map((h) => {
    const categories = (catBy.get(h.id) ?? []).map((c) => {
      const u = urlBy.get(c.id) ?? [];
      return {
        name: c.name,
        always_up2date: c.always_up2date,
        urls: u.filter((x) => !x.private).map((x) => x.url),
        private_urls: u.filter((x) => x.private).map((x) => x.url),
        dirs_up2date: Number(c.up),
        dirs_stale: Number(c.stale),
        last_checked: iso(c.last_checked),
      };
    });
    return {
      name: h.name,
      site: h.site,
      country: h.country,
      continent: h.country ? (redirects.get(h.country) ?? continentOf(h.country) ?? null) : null,
      bandwidth_mbps: h.bandwidth_int,
      private: h.private,
      internet2: h.internet2,
      internet2_clients: h.internet2_clients,
      asn: h.asn === null ? null : Number(h.asn),
      asn_clients: h.asn_clients,
      countries_allowed: h.countries_allowed ?? [],
      max_connections: h.max_connections,
      admin_active: h.admin_active,
      user_active: h.user_active,
      site_admin_active: h.site_admin_active,
      site_user_active: h.site_user_active,
      site_private: h.site_private,
      comment: h.comment,
      netblocks: (nbBy.get(h.id) ?? []).map((r) => r.netblock),
      acl_ips: (aclBy.get(h.id) ?? []).map((r) => r.ip),
      categories,
      serving: h.admin_active && h.user_active && h.site_admin_active && h.site_user_active && !h.auto_disabled && !h.probe_down,
      state: {
        auto_disabled: h.auto_disabled,
        disable_reason: h.disable_reason,
        crawl_failures: h.crawl_failures,
        last_crawled: iso(h.last_crawled),
        last_crawl_duration_ms: h.last_crawl_duration_ms,
        last_crawl_method: h.last_crawl_method,
        last_checked_in: iso(h.last_checked_in),
        reachable_ipv4: h.reachable_ipv4,
        reachable_ipv6: h.reachable_ipv6,
        probe_down: h.probe_down,
        last_probed: iso(h.last_probed),
      },
      cli_overrides: parseOverrides(h.cli_overrides),
    };
  });
}

/** Pure: the filters of `host list`. */
export function filterHosts(hosts: HostInfo[], f: HostListFilter): HostInfo[] {
  return hosts.filter(
    (h) =>
      (!f.country || h.country === f.country) &&
      (!f.continent || h.continent === f.continent) &&
      (!f.disabled || !h.serving) &&
      (!f.private || h.private || h.site_private) &&
      (!f.category || h.categories.some((c) => c.name === f.category)),
  );
}

export function checkFilter(f: HostListFilter, categories: readonly string[]): HostListFilter {
  const out = { ...f };
  if (out.country !== undefined) {
    out.country = out.country.toUpperCase();
    if (!isCountryCode(out.country)) throw new UsageError(`--country: "${f.country}" is not an ISO 3166-1 alpha-2 country code`);
  }
  if (out.continent !== undefined) {
    out.continent = out.continent.toUpperCase();
    if (!(out.continent in CONTINENT_NAMES)) throw new UsageError(`--continent: "${f.continent}" is not one of ${Object.keys(CONTINENT_NAMES).join(', ')}`);
  }
  if (out.category !== undefined && !categories.includes(out.category)) throw new UsageError(`--category: no category named "${f.category}" (known: ${categories.join(', ') || 'none'})`);
  return out;
}

const yesNo = (b: boolean | null) => (b === null ? '?' : b ? 'yes' : 'no');
const when = (s: string | null) => (s ? s.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : 'never');

/** Why a host is not given to clients, in a few words; '' when it is. */
export function hostStatus(h: HostInfo): string {
  const why: string[] = [];
  if (!h.site_admin_active || !h.site_user_active) why.push('site disabled');
  if (!h.admin_active) why.push('admin-disabled');
  if (!h.user_active) why.push('user-disabled');
  if (h.state.auto_disabled) why.push('auto-disabled');
  if (h.state.probe_down) why.push('probe down');
  return why.length ? why.join(', ') : 'active';
}

export async function hostList(app: AppContext, filter: HostListFilter, opts: { json?: boolean }, out: Out): Promise<HostInfo[]> {
  const f = checkFilter(filter, app.config.categories.map((c) => c.name));
  const hosts = filterHosts(await app.db.withClient(readHosts), f);
  if (opts.json) {
    out(JSON.stringify(hosts, null, 2));
    return hosts;
  }
  out(
    formatTable(
      ['host', 'site', 'cc', 'cont', 'Mbit/s', 'private', 'status', 'categories', 'last crawl', 'fails'],
      hosts.map((h) => [h.name, h.site, h.country ?? '-', h.continent ?? '-', String(h.bandwidth_mbps), yesNo(h.private || h.site_private), hostStatus(h), h.categories.map((c) => c.name).join(', ') || '-', when(h.state.last_crawled), String(h.state.crawl_failures)]),
    ),
  );
  out(`${hosts.length} host(s)`);
  return hosts;
}

async function findHost(app: AppContext, name: string): Promise<HostInfo> {
  const hosts = await app.db.withClient(readHosts);
  const h = hosts.find((x) => x.name === name.toLowerCase());
  if (!h) throw new UsageError(`no host named "${name}" (see 'mirrorsmith host list')`);
  return h;
}

export async function hostShow(app: AppContext, name: string, opts: { json?: boolean }, out: Out): Promise<HostInfo> {
  const h = { ...(await findHost(app, name)) };
  h.recent_crawls = await app.db.withClient((c) => recentCrawls(c, h.name));
  if (opts.json) {
    out(JSON.stringify(h, null, 2));
    return h;
  }
  const rows: Array<[string, string]> = [
    ['host', h.name],
    ['site', h.site],
    ['status', hostStatus(h)],
    ['country', h.country ? `${h.country} (${h.continent})` : '- (GeoIP)'],
    ['bandwidth', `${h.bandwidth_mbps} Mbit/s`],
    ['private', yesNo(h.private || h.site_private)],
    ['internet2', `${yesNo(h.internet2)} (serves I2 clients: ${yesNo(h.internet2_clients)})`],
    ['asn', h.asn === null ? '-' : `${h.asn} (serves the whole ASN: ${yesNo(h.asn_clients)})`],
    ['countries allowed', h.countries_allowed.join(' ') || 'all'],
    ['netblocks', h.netblocks.join(' ') || '-'],
    ['rsync ACL', h.acl_ips.join(' ') || '-'],
    ['max connections', String(h.max_connections)],
    ['admin/user active', `${yesNo(h.admin_active)}/${yesNo(h.user_active)} (site ${yesNo(h.site_admin_active)}/${yesNo(h.site_user_active)})`],
    ['comment', h.comment || '-'],
    ['last crawl', `${when(h.state.last_crawled)}${h.state.last_crawl_method ? ` via ${h.state.last_crawl_method}` : ''}${h.state.last_crawl_duration_ms !== null ? ` in ${h.state.last_crawl_duration_ms} ms` : ''}`],
    ['crawl failures', `${h.state.crawl_failures}${h.state.auto_disabled ? ` (auto-disabled: ${h.state.disable_reason ?? 'no reason recorded'})` : h.state.disable_reason ? ` (last reason: ${h.state.disable_reason})` : ''}`],
    ['reachable v4/v6', `${yesNo(h.state.reachable_ipv4)}/${yesNo(h.state.reachable_ipv6)}`],
    ['probe', `${h.state.probe_down ? 'down' : 'up'} (last probed ${when(h.state.last_probed)})`],
    ['last check-in', when(h.state.last_checked_in)],
  ];
  for (const [field, o] of Object.entries(h.cli_overrides)) rows.push([`CLI override`, describeOverride(field, o)]);
  out(rows.map(([k, v]) => `${k.padEnd(18)} ${v}`).join('\n'));
  if (h.categories.length) {
    out('');
    out(
      formatTable(
        ['category', 'always up2date', 'dirs up to date', 'dirs stale', 'last checked', 'urls'],
        h.categories.map((c) => [c.name, yesNo(c.always_up2date), String(c.dirs_up2date), String(c.dirs_stale), when(c.last_checked), [...c.urls, ...c.private_urls.map((u) => `${u} (private)`)].join(' ')]),
      ),
    );
  }
  const crawls = h.recent_crawls;
  if (crawls.length) {
    out('');
    out(
      formatTable(
        ['crawled', 'method', 'result', 'ms', 'up to date', 'stale', 'summary'],
        crawls.map((c) => [when(c.started_at), c.method, c.ok ? 'ok' : `failed${c.error_kind ? ` (${c.error_kind})` : ''}${c.counted ? '' : ', not counted'}`, String(c.duration_ms), String(c.dirs_up2date), String(c.dirs_stale), c.summary]),
      ),
    );
    // The newest crawl's own account: why the host is (not) listed.
    for (const line of crawls[0]!.lines.slice(0, 20)) out(`  ${line}`);
    if (crawls[0]!.lines.length > 20) out(`  … ${crawls[0]!.lines.length - 20} more line(s) (--json shows all)`);
  }
  return h;
}

function describeOverride(field: string, o: CliOverride): string {
  return `${field} = ${JSON.stringify(o.value)} (by '${o.by}' at ${o.at}${o.reason ? `, reason ${JSON.stringify(o.reason)}` : ''})`;
}

/**
 * Sets one registry-owned host field and records it as a CLI override, so the next
 * `registry apply` keeps it (and says so) until the file agrees.
 */
export async function setHostField(app: AppContext, name: string, field: 'admin_active' | 'comment', value: boolean | string, by: string, reason: string | undefined, now = new Date()): Promise<{ changed: boolean }> {
  return app.db.transaction(async (tx) => {
    const r = await tx.query<{ id: number; admin_active: boolean; comment: string; cli_overrides: unknown }>('SELECT id, admin_active, comment, cli_overrides FROM host WHERE name = $1 FOR UPDATE', [name.toLowerCase()]);
    const row = r.rows[0];
    if (!row) throw new UsageError(`no host named "${name}" (see 'mirrorsmith host list')`);
    const overrides = parseOverrides(row.cli_overrides);
    const o: CliOverride = { value, at: now.toISOString(), by, ...(reason ? { reason } : {}) };
    overrides[field] = o;
    await tx.query(`UPDATE host SET ${field === 'admin_active' ? 'admin_active' : 'comment'} = $2, cli_overrides = $3::jsonb WHERE id = $1`, [row.id, value, JSON.stringify(overrides)]);
    return { changed: row[field] !== value };
  });
}

export async function siteList(app: AppContext, opts: { json?: boolean }, out: Out): Promise<void> {
  const sites = await app.db.withClient(readRegistryState);
  if (opts.json) {
    out(JSON.stringify(sites.map(({ id: _id, hosts, ...s }) => ({ ...s, hosts: hosts.map((h) => h.name) })), null, 2));
    return;
  }
  out(
    formatTable(
      ['site', 'private', 'admin/user active', 'hosts', 'admins', 'org url'],
      sites.map((s) => [s.site, yesNo(s.private), `${yesNo(s.admin_active)}/${yesNo(s.user_active)}`, String(s.hosts.length), s.admins.join(' ') || '-', s.org_url ?? '-']),
    ),
  );
  out(`${sites.length} site(s)`);
}

export async function siteShow(app: AppContext, name: string, opts: { json?: boolean }, out: Out): Promise<void> {
  const sites = await app.db.withClient(readRegistryState);
  const s = sites.find((x) => x.site === name);
  if (!s) throw new UsageError(`no site named "${name}" (see 'mirrorsmith site list')`);
  const hosts = (await app.db.withClient(readHosts)).filter((h) => h.site === s.site);
  if (opts.json) {
    const { id: _id, hosts: _h, ...site } = s;
    out(JSON.stringify({ ...site, hosts }, null, 2));
    return;
  }
  out(
    [
      ['site', s.site],
      ['org url', s.org_url ?? '-'],
      ['private', yesNo(s.private)],
      ['admin/user active', `${yesNo(s.admin_active)}/${yesNo(s.user_active)}`],
      ['admins', s.admins.join(' ') || '-'],
      ['comment', s.comment || '-'],
    ]
      .map(([k, v]) => `${k!.padEnd(18)} ${v}`)
      .join('\n'),
  );
  out('');
  out(formatTable(['host', 'cc', 'Mbit/s', 'private', 'status', 'categories'], hosts.map((h) => [h.name, h.country ?? '-', String(h.bandwidth_mbps), yesNo(h.private || h.site_private), hostStatus(h), h.categories.map((c) => c.name).join(', ') || '-'])));
}

const CSV_COLUMNS = ['site', 'host', 'country', 'continent', 'bandwidth_mbps', 'private', 'internet2', 'internet2_clients', 'asn', 'asn_clients', 'countries_allowed', 'netblocks', 'acl_ips', 'max_connections', 'admin_active', 'user_active', 'site_admin_active', 'site_user_active', 'serving', 'status', 'categories', 'urls', 'crawl_failures', 'last_crawled', 'comment'];

/** Pure: one CSV row per host (RFC 4180 quoting; lists space-separated). */
export function hostsToCsv(hosts: HostInfo[]): string {
  const cell = (v: unknown) => {
    const s = v === null || v === undefined ? '' : String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const rows = hosts.map((h) => [
    h.site, h.name, h.country, h.continent, h.bandwidth_mbps, h.private || h.site_private, h.internet2, h.internet2_clients, h.asn, h.asn_clients,
    h.countries_allowed.join(' '), h.netblocks.join(' '), h.acl_ips.join(' '), h.max_connections, h.admin_active, h.user_active,
    h.site_admin_active, h.site_user_active, h.serving, hostStatus(h), h.categories.map((c) => c.name).join(';'),
    h.categories.flatMap((c) => c.urls).join(' '), h.state.crawl_failures, h.state.last_crawled, h.comment,
  ]);
  return [CSV_COLUMNS, ...rows].map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}

export async function exportAll(app: AppContext, format: string, out: Out): Promise<void> {
  if (format !== 'json' && format !== 'csv') throw new UsageError(`--format: "${format}" is not one of json, csv`);
  const hosts = await app.db.withClient(readHosts);
  if (format === 'csv') return out(hostsToCsv(hosts));
  const sites = await app.db.withClient(readRegistryState);
  out(JSON.stringify({ sites: sites.map(({ id: _id, hosts: _h, ...s }) => ({ ...s, hosts: hosts.filter((h) => h.site === s.site) })) }, null, 2));
}

export function registerAdminCommands(env: CliEnv): void {
  const app = <T>(holder: string, fn: (a: AppContext) => Promise<T>) => withApp({ ...env.globals(), holder }, async (a) => void (await fn(a)));
  const json = (c: Command) => c.option('--json', 'machine-readable output');

  const site = env.program.command('site').description('sites (organisations running one or more mirror hosts)');
  json(site.command('list').description('list all sites')).action(env.action((o: { json?: boolean }) => app('site list', (a) => siteList(a, o, env.out))));
  json(site.command('show').description('a site, its fields and its hosts').argument('<name>', 'site name')).action(
    env.action((name: string, o: { json?: boolean }) => app('site show', (a) => siteShow(a, name, o, env.out))),
  );

  const host = env.program.command('host').description('mirror hosts: list, inspect, enable/disable, comment');
  json(
    host
      .command('list')
      .description('list hosts with their status, filtered')
      .option('--country <cc>', 'only hosts in this country (ISO 3166-1 alpha-2)')
      .option('--continent <code>', `only hosts on this continent (${Object.keys(CONTINENT_NAMES).join(', ')}; country-continent redirects applied)`)
      .option('--disabled', 'only hosts not given to clients (admin/user/site disabled, auto-disabled or probe down)')
      .option('--private', 'only private hosts')
      .option('--category <name>', 'only hosts carrying this category'),
  ).action(env.action((o: HostListFilter & { json?: boolean }) => app('host list', (a) => hostList(a, o, o, env.out))));
  json(host.command('show').description('registry fields and crawl-derived state of one host (last crawl, failures, reachability, probe, check-in, up-to-date directories)').argument('<name>', 'host name')).action(
    env.action((name: string, o: { json?: boolean }) => app('host show', (a) => hostShow(a, name, o, env.out))),
  );
  for (const [verb, value] of [['enable', true], ['disable', false]] as const) {
    host
      .command(verb)
      .description(`${verb} a host (admin_active=${value}); recorded as a CLI override that 'registry apply' keeps until the registry file agrees`)
      .argument('<name>', 'host name')
      .option('--reason <text>', 'why (shown by host show and by registry apply)')
      .action(
        env.action((name: string, o: { reason?: string }) =>
          app(`host ${verb}`, async (a) => {
            const { changed } = await setHostField(a, name, 'admin_active', value, `host ${verb}`, o.reason);
            env.out(`host ${name}: ${changed ? `${verb}d` : `already ${verb}d`} (admin_active=${value})${o.reason ? `, reason: ${o.reason}` : ''}`);
            const h = await findHost(a, name);
            if (value && h.state.auto_disabled) env.out(`note: the crawler auto-disabled this host (${h.state.disable_reason ?? 'no reason recorded'}); the next successful crawl re-enables it`);
          }),
        ),
      );
  }
  host
    .command('comment')
    .description("set a host's comment; recorded as a CLI override like enable/disable")
    .argument('<name>', 'host name')
    .argument('<text>', 'comment text')
    .action(
      env.action((name: string, text: string) =>
        app('host comment', async (a) => {
          if (text.length > 4000 || text.includes('\0')) throw new UsageError('comment: at most 4000 characters, no NUL');
          await setHostField(a, name, 'comment', text, 'host comment', undefined);
          env.out(`host ${name}: comment set`);
        }),
      ),
    );

  env.program
    .command('export')
    .description('all sites and hosts with their state, for scripts and spreadsheets')
    .option('--format <format>', 'json or csv', 'json')
    .action(env.action((o: { format: string }) => app('export', (a) => exportAll(a, o.format, env.out))));
}

