// `registry apply`: diff the desired registry (files) against the database, print
// the plan by site/host/field, and write it in one transaction. Idempotent: a
// second apply has an empty plan and writes nothing. Crawl-derived host columns
// are never written here. Admin CLI changes (host.cli_overrides) are kept and the
// plan says so, until the file agrees with them.
import type { Queryable } from '../core/db.ts';
import { UsageError } from '../core/errors.ts';
import type { HostCategoryEntry, HostEntry, SiteFile } from './schema.ts';

/** One field changed through the admin CLI: {value, at, by, reason}. */
export interface CliOverride {
  value: unknown;
  at: string;
  by: string;
  reason?: string;
}
export type CliOverrides = Record<string, CliOverride>;

/** Host fields the admin CLI may change (and that apply therefore must not silently revert). */
export const OVERRIDABLE_HOST_FIELDS = ['admin_active', 'user_active', 'comment'] as const;
type OverridableField = (typeof OVERRIDABLE_HOST_FIELDS)[number];

export interface DbHost extends HostEntry {
  id: number;
  overrides: CliOverrides;
}
export interface DbSite extends Omit<SiteFile, 'hosts'> {
  id: number;
  hosts: DbHost[];
}

export type PlanKind = 'add' | 'change' | 'remove' | 'kept' | 'cleared';

export interface PlanItem {
  kind: PlanKind;
  site: string;
  host?: string;
  field?: string;
  text: string;
}

export interface Plan {
  items: PlanItem[];
  /** Site names whose row must be inserted or updated. */
  upsertSites: Set<string>;
  /** Host names whose row (and netblocks, ACLs, categories) must be written. */
  upsertHosts: Set<string>;
  removeSites: string[];
  removeHosts: string[];
  /** The cli_overrides each touched host ends up with. */
  overrides: Map<string, CliOverrides>;
  /** Desired state with kept CLI overrides applied: what the database will hold. */
  effective: SiteFile[];
}

export interface PlanCounts {
  add: number;
  change: number;
  remove: number;
  kept: number;
  cleared: number;
}

// ---------------------------------------------------------------- reading

interface HostRow {
  id: number;
  site: string;
  name: string;
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
  comment: string;
  cli_overrides: CliOverrides | string | null;
}

/**
 * The registry-owned part of the database, in the file shape (sites and hosts sorted
 * by name). `lock` (inside a transaction) takes the host rows FOR UPDATE, so an admin
 * CLI change waits for the apply instead of interleaving with it.
 */
export async function readRegistryState(q: Queryable, opts: { lock?: boolean } = {}): Promise<DbSite[]> {
  const sites = await q.query<{ id: number; name: string; org_url: string | null; private: boolean; admin_active: boolean; user_active: boolean; admins: string[]; comment: string }>(
    'SELECT id, name, org_url, private, admin_active, user_active, admins, comment FROM site ORDER BY name',
  );
  const hosts = await q.query<HostRow>(
    `SELECT h.id, s.name AS site, h.name, h.country, h.bandwidth_int, h.private, h.internet2, h.internet2_clients, h.asn,
            h.asn_clients, h.countries_allowed, h.max_connections, h.admin_active, h.user_active, h.comment, h.cli_overrides
       FROM host h JOIN site s ON s.id = h.site_id ORDER BY h.name${opts.lock ? ' FOR UPDATE OF h' : ''}`,
  );
  const netblocks = await q.query<{ host_id: number; netblock: string }>('SELECT host_id, netblock FROM host_netblock ORDER BY id');
  const acls = await q.query<{ host_id: number; ip: string }>('SELECT host_id, ip FROM host_acl_ip ORDER BY id');
  const cats = await q.query<{ id: number; host_id: number; name: string; always_up2date: boolean }>(
    'SELECT hc.id, hc.host_id, c.name, hc.always_up2date FROM host_category hc JOIN category c ON c.id = hc.category_id ORDER BY c.name',
  );
  const urls = await q.query<{ host_category_id: number; url: string; private: boolean }>('SELECT host_category_id, url, private FROM host_category_url ORDER BY id');

  const group = <T, K>(rows: T[], key: (r: T) => K) => {
    const m = new Map<K, T[]>();
    for (const r of rows) m.set(key(r), [...(m.get(key(r)) ?? []), r]);
    return m;
  };
  const nbByHost = group(netblocks.rows, (r) => r.host_id);
  const aclByHost = group(acls.rows, (r) => r.host_id);
  const catByHost = group(cats.rows, (r) => r.host_id);
  const urlByCat = group(urls.rows, (r) => r.host_category_id);
  const hostsBySite = group(hosts.rows, (r) => r.site);

  return sites.rows.map((s) => ({
    id: s.id,
    site: s.name,
    ...(s.org_url ? { org_url: s.org_url } : {}),
    private: s.private,
    admin_active: s.admin_active,
    user_active: s.user_active,
    admins: s.admins ?? [],
    comment: s.comment,
    hosts: (hostsBySite.get(s.name) ?? []).map((h): DbHost => {
      const categories: Record<string, HostCategoryEntry> = {};
      for (const c of catByHost.get(h.id) ?? []) {
        const u = urlByCat.get(c.id) ?? [];
        categories[c.name] = { always_up2date: c.always_up2date, urls: u.filter((x) => !x.private).map((x) => x.url), private_urls: u.filter((x) => x.private).map((x) => x.url) };
      }
      return {
        id: h.id,
        name: h.name,
        ...(h.country ? { country: h.country } : {}),
        bandwidth_mbps: h.bandwidth_int,
        private: h.private,
        internet2: h.internet2,
        internet2_clients: h.internet2_clients,
        ...(h.asn !== null && h.asn !== undefined ? { asn: Number(h.asn) } : {}),
        asn_clients: h.asn_clients,
        countries_allowed: h.countries_allowed ?? [],
        netblocks: (nbByHost.get(h.id) ?? []).map((r) => r.netblock),
        acl_ips: (aclByHost.get(h.id) ?? []).map((r) => r.ip),
        max_connections: h.max_connections,
        admin_active: h.admin_active,
        user_active: h.user_active,
        comment: h.comment,
        categories,
        overrides: parseOverrides(h.cli_overrides),
      };
    }),
  }));
}

export function parseOverrides(v: unknown): CliOverrides {
  const o = typeof v === 'string' ? (JSON.parse(v) as unknown) : v;
  return o && typeof o === 'object' && !Array.isArray(o) ? (o as CliOverrides) : {};
}

// ---------------------------------------------------------------- planning (pure)

const SITE_SCALARS = ['org_url', 'private', 'admin_active', 'user_active', 'comment'] as const;
const SITE_SETS = ['admins'] as const;
const HOST_SCALARS = ['country', 'bandwidth_mbps', 'private', 'internet2', 'internet2_clients', 'asn', 'asn_clients', 'max_connections', 'admin_active', 'user_active', 'comment'] as const;
const HOST_SETS = ['countries_allowed', 'netblocks', 'acl_ips'] as const;

const show = (v: unknown) => (v === undefined || v === null ? '(unset)' : typeof v === 'string' ? JSON.stringify(v) : String(v));
const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join('\0') === [...b].sort().join('\0');
const setDiff = (from: readonly string[], to: readonly string[]) => [...to.filter((x) => !from.includes(x)).map((x) => `+${x}`), ...from.filter((x) => !to.includes(x)).map((x) => `-${x}`)].join(' ');

/** What to tell the admin to do instead of editing the file, per overridden field and value. */
function overrideHint(field: OverridableField, value: unknown): string {
  if (field === 'admin_active') return value ? "run 'mirrorsmith host enable'" : "run 'mirrorsmith host disable'";
  if (field === 'comment') return "run 'mirrorsmith host comment'";
  return 'change it through the CLI again';
}

/**
 * Computes the plan from the desired sites (validated files) and the database state.
 * `now` is not needed: overrides carry their own timestamps.
 */
export function planRegistry(desired: readonly SiteFile[], current: readonly DbSite[]): Plan {
  const items: PlanItem[] = [];
  const upsertSites = new Set<string>();
  const upsertHosts = new Set<string>();
  const overrides = new Map<string, CliOverrides>();
  const curSites = new Map(current.map((s) => [s.site, s]));
  const curHosts = new Map(current.flatMap((s) => s.hosts.map((h) => [h.name, { site: s.site, host: h }] as const)));
  const wantedHosts = new Set(desired.flatMap((s) => s.hosts.map((h) => h.name)));
  const effective: SiteFile[] = [];

  for (const site of desired) {
    const cur = curSites.get(site.site);
    if (!cur) {
      upsertSites.add(site.site);
      items.push({ kind: 'add', site: site.site, text: `+ site ${site.site} (${site.hosts.length} host${site.hosts.length === 1 ? '' : 's'}${site.private ? ', private' : ''})` });
    } else {
      for (const f of SITE_SCALARS) {
        if ((site[f] ?? null) !== (cur[f] ?? null)) {
          upsertSites.add(site.site);
          items.push({ kind: 'change', site: site.site, field: f, text: `~ site ${site.site}: ${f} ${show(cur[f])} → ${show(site[f])}` });
        }
      }
      for (const f of SITE_SETS) {
        if (!sameSet(site[f], cur[f])) {
          upsertSites.add(site.site);
          items.push({ kind: 'change', site: site.site, field: f, text: `~ site ${site.site}: ${f} ${setDiff(cur[f], site[f])}` });
        }
      }
    }

    const hosts: HostEntry[] = [];
    for (const want of site.hosts) {
      const found = curHosts.get(want.name);
      if (!found) {
        upsertHosts.add(want.name);
        overrides.set(want.name, {});
        const cats = Object.keys(want.categories);
        const bits = [want.country ?? 'country by GeoIP', `${want.bandwidth_mbps} Mbit/s`, want.private ? 'private' : 'public', cats.length ? `categories: ${cats.join(', ')}` : 'no categories'];
        items.push({ kind: 'add', site: site.site, host: want.name, text: `+ host ${want.name} (site ${site.site}; ${bits.join('; ')})` });
        hosts.push(want);
        continue;
      }
      const { host: have, site: haveSite } = found;
      // Kept CLI overrides win over the file; an override the file now agrees with is cleared.
      const eff: HostEntry = { ...want };
      const nextOverrides: CliOverrides = { ...have.overrides };
      let overridesChanged = false;
      for (const [field, o] of Object.entries(have.overrides)) {
        if (!(OVERRIDABLE_HOST_FIELDS as readonly string[]).includes(field)) continue;
        const f = field as OverridableField;
        if (want[f] === o.value) {
          delete nextOverrides[f];
          overridesChanged = true;
          items.push({ kind: 'cleared', site: site.site, host: want.name, field: f, text: `= host ${want.name}: ${f} override from '${o.by}' cleared: the registry now agrees (${show(o.value)})` });
        } else {
          (eff as Record<string, unknown>)[f] = o.value;
          const why = o.reason ? `, reason ${JSON.stringify(o.reason)}` : '';
          items.push({
            kind: 'kept',
            site: site.site,
            host: want.name,
            field: f,
            text: `! host ${want.name}: ${f} kept ${show(o.value)} (set by '${o.by}' at ${o.at}${why}); registry says ${show(want[f])} — edit the file or ${overrideHint(f, want[f])}`,
          });
        }
      }
      if (overridesChanged) {
        upsertHosts.add(want.name);
        overrides.set(want.name, nextOverrides);
      }
      hosts.push(eff);

      const before = items.length;
      if (haveSite !== site.site) items.push({ kind: 'change', site: site.site, host: want.name, field: 'site', text: `~ host ${want.name}: site ${haveSite} → ${site.site}` });
      for (const f of HOST_SCALARS) {
        if ((eff[f] ?? null) !== (have[f] ?? null)) items.push({ kind: 'change', site: site.site, host: want.name, field: f, text: `~ host ${want.name}: ${f} ${show(have[f])} → ${show(eff[f])}` });
      }
      for (const f of HOST_SETS) {
        if (!sameSet(eff[f], have[f])) items.push({ kind: 'change', site: site.site, host: want.name, field: f, text: `~ host ${want.name}: ${f} ${setDiff(have[f], eff[f])}` });
      }
      items.push(...diffCategories(site.site, want.name, have.categories, eff.categories));
      if (items.length > before) {
        upsertHosts.add(want.name);
        if (!overrides.has(want.name)) overrides.set(want.name, nextOverrides);
      }
    }
    effective.push({ ...site, hosts });
  }

  const removeHosts: string[] = [];
  for (const [name, { site }] of curHosts) {
    if (!wantedHosts.has(name)) {
      removeHosts.push(name);
      items.push({ kind: 'remove', site, host: name, text: `- host ${name} (site ${site}; its crawl history goes with it)` });
    }
  }
  const desiredSites = new Set(desired.map((s) => s.site));
  const removeSites = current.filter((s) => !desiredSites.has(s.site)).map((s) => s.site);
  for (const s of removeSites) items.push({ kind: 'remove', site: s, text: `- site ${s}` });

  return { items, upsertSites, upsertHosts, removeSites, removeHosts, overrides, effective };
}

function diffCategories(site: string, host: string, have: Record<string, HostCategoryEntry>, want: Record<string, HostCategoryEntry>): PlanItem[] {
  const out: PlanItem[] = [];
  const item = (kind: PlanKind, field: string, text: string) => out.push({ kind, site, host, field, text });
  for (const [name, w] of Object.entries(want)) {
    const field = `categories[${JSON.stringify(name)}]`;
    const h = have[name];
    if (!h) {
      item('change', field, `~ host ${host}: ${field} added (${w.urls.length + w.private_urls.length} URL${w.urls.length + w.private_urls.length === 1 ? '' : 's'})`);
      continue;
    }
    if (w.always_up2date !== h.always_up2date) item('change', `${field}.always_up2date`, `~ host ${host}: ${field}.always_up2date ${h.always_up2date} → ${w.always_up2date}`);
    if (!sameSet(w.urls, h.urls)) item('change', `${field}.urls`, `~ host ${host}: ${field}.urls ${setDiff(h.urls, w.urls)}`);
    if (!sameSet(w.private_urls, h.private_urls)) item('change', `${field}.private_urls`, `~ host ${host}: ${field}.private_urls ${setDiff(h.private_urls, w.private_urls)}`);
  }
  for (const name of Object.keys(have)) {
    if (!want[name]) item('change', `categories[${JSON.stringify(name)}]`, `~ host ${host}: categories[${JSON.stringify(name)}] removed (its up-to-date state goes with it)`);
  }
  return out;
}

export function planCounts(plan: Plan): PlanCounts {
  const c: PlanCounts = { add: 0, change: 0, remove: 0, kept: 0, cleared: 0 };
  for (const i of plan.items) c[i.kind]++;
  return c;
}

/** Whether applying the plan writes anything. */
export function planIsEmpty(plan: Plan): boolean {
  return plan.upsertSites.size === 0 && plan.upsertHosts.size === 0 && plan.removeSites.length === 0 && plan.removeHosts.length === 0;
}

/** The plan as printed: one line per item, then a count line. */
export function formatPlan(plan: Plan): string {
  const c = planCounts(plan);
  const lines = plan.items.map((i) => i.text);
  const summary = `${c.add} to add, ${c.change} to change, ${c.remove} to remove${c.kept ? `, ${c.kept} CLI override${c.kept === 1 ? '' : 's'} kept` : ''}${c.cleared ? `, ${c.cleared} override${c.cleared === 1 ? '' : 's'} cleared` : ''}`;
  return [...(lines.length ? lines : ['no changes: the database matches the registry']), summary].join('\n');
}

// ---------------------------------------------------------------- writing

/**
 * Writes the plan inside the caller's transaction: a fixed number of set-based
 * statements (rows passed as one JSON document each), whatever the registry's size.
 * Only registry-owned columns are written; crawl-derived state is left alone, and a
 * host_category row (with its crawl verdicts) survives unless the file dropped it.
 */
export async function executePlan(tx: Queryable, plan: Plan): Promise<void> {
  const sites = plan.effective.filter((s) => plan.upsertSites.has(s.site));
  const hosts = plan.effective.flatMap((s) => s.hosts.filter((h) => plan.upsertHosts.has(h.name)).map((h) => ({ site: s.site, h })));
  const json = (rows: unknown[]) => JSON.stringify(rows);

  const wantedCats = new Set(hosts.flatMap(({ h }) => Object.keys(h.categories)));
  if (wantedCats.size) {
    const known = new Set((await tx.query<{ name: string }>('SELECT name FROM category WHERE name = ANY($1::text[])', [[...wantedCats]])).rows.map((r) => r.name));
    const missing = [...wantedCats].filter((c) => !known.has(c));
    if (missing.length) throw new Error(`categories ${missing.map((c) => `"${c}"`).join(', ')} are not in the database (are they in the config's categories?)`);
  }

  if (sites.length) {
    await tx.query(
      `INSERT INTO site (name, org_url, private, admin_active, user_active, admins, comment)
       SELECT x.name, x.org_url, x.private, x.admin_active, x.user_active, x.admins, x.comment
         FROM jsonb_to_recordset($1::jsonb) AS x(name text, org_url text, private boolean, admin_active boolean, user_active boolean, admins text[], comment text)
       ON CONFLICT (name) DO UPDATE SET org_url = EXCLUDED.org_url, private = EXCLUDED.private, admin_active = EXCLUDED.admin_active,
         user_active = EXCLUDED.user_active, admins = EXCLUDED.admins, comment = EXCLUDED.comment`,
      [json(sites.map((s) => ({ name: s.site, org_url: s.org_url ?? null, private: s.private, admin_active: s.admin_active, user_active: s.user_active, admins: s.admins, comment: s.comment })))],
    );
  }

  if (hosts.length) {
    const ids = await tx.query<{ id: number }>(
      `INSERT INTO host (site_id, name, country, bandwidth_int, private, internet2, internet2_clients, asn, asn_clients,
                         countries_allowed, max_connections, admin_active, user_active, comment, cli_overrides)
       SELECT s.id, x.name, x.country, x.bandwidth_int, x.private, x.internet2, x.internet2_clients, x.asn, x.asn_clients,
              x.countries_allowed, x.max_connections, x.admin_active, x.user_active, x.comment, x.cli_overrides
         FROM jsonb_to_recordset($1::jsonb) AS x(site text, name text, country text, bandwidth_int integer, private boolean, internet2 boolean,
              internet2_clients boolean, asn bigint, asn_clients boolean, countries_allowed text[], max_connections integer, admin_active boolean,
              user_active boolean, comment text, cli_overrides jsonb)
         JOIN site s ON s.name = x.site
       ON CONFLICT (name) DO UPDATE SET site_id = EXCLUDED.site_id, country = EXCLUDED.country, bandwidth_int = EXCLUDED.bandwidth_int,
         private = EXCLUDED.private, internet2 = EXCLUDED.internet2, internet2_clients = EXCLUDED.internet2_clients, asn = EXCLUDED.asn,
         asn_clients = EXCLUDED.asn_clients, countries_allowed = EXCLUDED.countries_allowed, max_connections = EXCLUDED.max_connections,
         admin_active = EXCLUDED.admin_active, user_active = EXCLUDED.user_active, comment = EXCLUDED.comment, cli_overrides = EXCLUDED.cli_overrides
       RETURNING id`,
      [
        json(
          hosts.map(({ site, h }) => ({
            site, name: h.name, country: h.country ?? null, bandwidth_int: h.bandwidth_mbps, private: h.private, internet2: h.internet2,
            internet2_clients: h.internet2_clients, asn: h.asn ?? null, asn_clients: h.asn_clients, countries_allowed: h.countries_allowed,
            max_connections: h.max_connections, admin_active: h.admin_active, user_active: h.user_active, comment: h.comment,
            cli_overrides: plan.overrides.get(h.name) ?? {},
          })),
        ),
      ],
    );
    const hostIds = ids.rows.map((r) => r.id);
    if (hostIds.length !== hosts.length) throw new Error(`registry apply wrote ${hostIds.length} of ${hosts.length} hosts (a site row is missing)`);

    // `ord` keeps the file's order in the ids, which is the order export writes back.
    const netblocks = json(hosts.flatMap(({ h }) => h.netblocks.map((nb) => ({ host: h.name, netblock: nb, kind: nb.includes('/') ? 'cidr' : 'dns' }))).map((r, ord) => ({ ...r, ord })));
    await tx.query(
      `DELETE FROM host_netblock n WHERE n.host_id = ANY($1::int[]) AND NOT EXISTS (
         SELECT 1 FROM jsonb_to_recordset($2::jsonb) AS x(host text, netblock text) JOIN host h ON h.name = x.host
          WHERE h.id = n.host_id AND x.netblock = n.netblock)`,
      [hostIds, netblocks],
    );
    await tx.query(
      `INSERT INTO host_netblock (host_id, netblock, kind)
       SELECT h.id, x.netblock, x.kind FROM jsonb_to_recordset($1::jsonb) AS x(host text, netblock text, kind text, ord integer) JOIN host h ON h.name = x.host
       ORDER BY x.ord
       ON CONFLICT (host_id, netblock) DO NOTHING`,
      [netblocks],
    );

    const acls = json(hosts.flatMap(({ h }) => h.acl_ips.map((ip) => ({ host: h.name, ip }))).map((r, ord) => ({ ...r, ord })));
    await tx.query(
      `DELETE FROM host_acl_ip a WHERE a.host_id = ANY($1::int[]) AND NOT EXISTS (
         SELECT 1 FROM jsonb_to_recordset($2::jsonb) AS x(host text, ip text) JOIN host h ON h.name = x.host WHERE h.id = a.host_id AND x.ip = a.ip)`,
      [hostIds, acls],
    );
    await tx.query(
      `INSERT INTO host_acl_ip (host_id, ip)
       SELECT h.id, x.ip FROM jsonb_to_recordset($1::jsonb) AS x(host text, ip text, ord integer) JOIN host h ON h.name = x.host
       ORDER BY x.ord
       ON CONFLICT (host_id, ip) DO NOTHING`,
      [acls],
    );

    const cats = json(hosts.flatMap(({ h }) => Object.entries(h.categories).map(([category, c]) => ({ host: h.name, category, always_up2date: c.always_up2date }))));
    // Deleting a host_category drops its crawl verdicts by cascade: only for categories the file removed.
    await tx.query(
      `DELETE FROM host_category hc WHERE hc.host_id = ANY($1::int[]) AND NOT EXISTS (
         SELECT 1 FROM jsonb_to_recordset($2::jsonb) AS x(host text, category text)
           JOIN host h ON h.name = x.host JOIN category c ON c.name = x.category
          WHERE h.id = hc.host_id AND c.id = hc.category_id)`,
      [hostIds, cats],
    );
    await tx.query(
      `INSERT INTO host_category (host_id, category_id, always_up2date)
       SELECT h.id, c.id, x.always_up2date FROM jsonb_to_recordset($1::jsonb) AS x(host text, category text, always_up2date boolean)
         JOIN host h ON h.name = x.host JOIN category c ON c.name = x.category
       ON CONFLICT (host_id, category_id) DO UPDATE SET always_up2date = EXCLUDED.always_up2date
         WHERE host_category.always_up2date IS DISTINCT FROM EXCLUDED.always_up2date`,
      [cats],
    );

    const urls = json(
      hosts.flatMap(({ h }) =>
        Object.entries(h.categories).flatMap(([category, c]) => [
          ...c.urls.map((url) => ({ host: h.name, category, url, private: false })),
          ...c.private_urls.map((url) => ({ host: h.name, category, url, private: true })),
        ]),
      ).map((r, ord) => ({ ...r, ord })),
    );
    await tx.query(
      `DELETE FROM host_category_url u USING host_category hc
        WHERE u.host_category_id = hc.id AND hc.host_id = ANY($1::int[]) AND NOT EXISTS (
          SELECT 1 FROM jsonb_to_recordset($2::jsonb) AS x(host text, category text, url text)
            JOIN host h ON h.name = x.host JOIN category c ON c.name = x.category
           WHERE h.id = hc.host_id AND c.id = hc.category_id AND x.url = u.url)`,
      [hostIds, urls],
    );
    await tx.query(
      `INSERT INTO host_category_url (host_category_id, url, private)
       SELECT hc.id, x.url, x.private FROM jsonb_to_recordset($1::jsonb) AS x(host text, category text, url text, private boolean, ord integer)
         JOIN host h ON h.name = x.host JOIN category c ON c.name = x.category
         JOIN host_category hc ON hc.host_id = h.id AND hc.category_id = c.id
       ORDER BY x.ord
       ON CONFLICT (host_category_id, url) DO UPDATE SET private = EXCLUDED.private
         WHERE host_category_url.private IS DISTINCT FROM EXCLUDED.private`,
      [urls],
    );
  }

  if (plan.removeHosts.length) await tx.query('DELETE FROM host WHERE name = ANY($1::text[])', [plan.removeHosts]);
  if (plan.removeSites.length) await tx.query('DELETE FROM site WHERE name = ANY($1::text[])', [plan.removeSites]);
}

export interface ApplyResult {
  plan: Plan;
  counts: PlanCounts;
  applied: boolean;
  /** Set on a dry run whose real run would be refused without --force. */
  warning?: string;
}

/** Serialises concurrent applies (a timer run and an admin's `registry apply`). */
export const REGISTRY_LOCK_KEY = 0x72656769; // 'regi'

/** Share of the existing hosts an apply may remove without --force. */
export const MAX_REMOVED_SHARE = 0.5;

/**
 * Why the plan needs --force, or undefined: removing more than half of the hosts
 * (an emptied or half-checked-out registry directory) is far more often an accident
 * than an intent, and would empty the mirrorlists at the next build.
 */
export function shrinkProblem(plan: Plan, currentHosts: number): string | undefined {
  const removed = plan.removeHosts.length;
  if (removed < 2 || removed <= currentHosts * MAX_REMOVED_SHARE) return undefined;
  return `the registry would remove ${removed} of ${currentHosts} hosts (more than ${MAX_REMOVED_SHARE * 100}%); check the registry directory, or pass --force if that is intended`;
}

/** Plans and (unless dryRun) applies the registry in ONE transaction. */
export async function applyRegistry(
  db: { transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> },
  sites: readonly SiteFile[],
  opts: { dryRun?: boolean; force?: boolean } = {},
): Promise<ApplyResult> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [REGISTRY_LOCK_KEY]);
    const current = await readRegistryState(tx, { lock: !opts.dryRun });
    const plan = planRegistry(sites, current);
    const problem = opts.force ? undefined : shrinkProblem(plan, current.reduce((n, s) => n + s.hosts.length, 0));
    if (problem && !opts.dryRun) throw new UsageError(`registry apply refused: ${problem}\n${formatPlan(plan)}`);
    const write = !opts.dryRun && !planIsEmpty(plan);
    if (write) await executePlan(tx, plan);
    return { plan, counts: planCounts(plan), applied: write, ...(problem ? { warning: problem } : {}) };
  });
}
