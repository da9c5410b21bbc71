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

/** Writes the plan inside the caller's transaction. */
export async function executePlan(tx: Queryable, plan: Plan): Promise<void> {
  const catIds = new Map((await tx.query<{ id: number; name: string }>('SELECT id, name FROM category')).rows.map((r) => [r.name, r.id]));
  const siteIds = new Map<string, number>();
  for (const site of plan.effective) {
    if (plan.upsertSites.has(site.site) || site.hosts.some((h) => plan.upsertHosts.has(h.name))) {
      siteIds.set(site.site, await upsertSite(tx, site, plan.upsertSites.has(site.site)));
    }
  }
  for (const site of plan.effective) {
    for (const host of site.hosts) {
      if (plan.upsertHosts.has(host.name)) await upsertHost(tx, siteIds.get(site.site)!, host, plan.overrides.get(host.name) ?? {}, catIds);
    }
  }
  if (plan.removeHosts.length) await tx.query('DELETE FROM host WHERE name = ANY($1::text[])', [plan.removeHosts]);
  if (plan.removeSites.length) await tx.query('DELETE FROM site WHERE name = ANY($1::text[])', [plan.removeSites]);
}

async function upsertSite(tx: Queryable, s: SiteFile, write: boolean): Promise<number> {
  if (!write) {
    const r = await tx.query<{ id: number }>('SELECT id FROM site WHERE name = $1', [s.site]);
    if (r.rows[0]) return r.rows[0].id;
  }
  const r = await tx.query<{ id: number }>(
    `INSERT INTO site (name, org_url, private, admin_active, user_active, admins, comment)
     VALUES ($1, $2, $3, $4, $5, $6::text[], $7)
     ON CONFLICT (name) DO UPDATE SET org_url = EXCLUDED.org_url, private = EXCLUDED.private, admin_active = EXCLUDED.admin_active,
       user_active = EXCLUDED.user_active, admins = EXCLUDED.admins, comment = EXCLUDED.comment
     RETURNING id`,
    [s.site, s.org_url ?? null, s.private, s.admin_active, s.user_active, s.admins, s.comment],
  );
  return r.rows[0]!.id;
}

async function upsertHost(tx: Queryable, siteId: number, h: HostEntry, overrides: CliOverrides, catIds: Map<string, number>): Promise<void> {
  // Only registry-owned columns: crawl-derived state (failures, last crawl, reachability…) is left alone.
  const r = await tx.query<{ id: number }>(
    `INSERT INTO host (site_id, name, country, bandwidth_int, private, internet2, internet2_clients, asn, asn_clients,
                       countries_allowed, max_connections, admin_active, user_active, comment, cli_overrides)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text[], $11, $12, $13, $14, $15::jsonb)
     ON CONFLICT (name) DO UPDATE SET site_id = EXCLUDED.site_id, country = EXCLUDED.country, bandwidth_int = EXCLUDED.bandwidth_int,
       private = EXCLUDED.private, internet2 = EXCLUDED.internet2, internet2_clients = EXCLUDED.internet2_clients, asn = EXCLUDED.asn,
       asn_clients = EXCLUDED.asn_clients, countries_allowed = EXCLUDED.countries_allowed, max_connections = EXCLUDED.max_connections,
       admin_active = EXCLUDED.admin_active, user_active = EXCLUDED.user_active, comment = EXCLUDED.comment, cli_overrides = EXCLUDED.cli_overrides
     RETURNING id`,
    [siteId, h.name, h.country ?? null, h.bandwidth_mbps, h.private, h.internet2, h.internet2_clients, h.asn ?? null, h.asn_clients, h.countries_allowed, h.max_connections, h.admin_active, h.user_active, h.comment, JSON.stringify(overrides)],
  );
  const hostId = r.rows[0]!.id;

  await tx.query('DELETE FROM host_netblock WHERE host_id = $1 AND NOT (netblock = ANY($2::text[]))', [hostId, h.netblocks]);
  for (const nb of h.netblocks) {
    await tx.query('INSERT INTO host_netblock (host_id, netblock, kind) VALUES ($1, $2, $3) ON CONFLICT (host_id, netblock) DO NOTHING', [hostId, nb, nb.includes('/') ? 'cidr' : 'dns']);
  }
  await tx.query('DELETE FROM host_acl_ip WHERE host_id = $1 AND NOT (ip = ANY($2::text[]))', [hostId, h.acl_ips]);
  for (const ip of h.acl_ips) await tx.query('INSERT INTO host_acl_ip (host_id, ip) VALUES ($1, $2) ON CONFLICT (host_id, ip) DO NOTHING', [hostId, ip]);

  const wanted: number[] = [];
  for (const name of Object.keys(h.categories)) {
    const id = catIds.get(name);
    if (id === undefined) throw new Error(`host ${h.name}: category "${name}" is not in the database (is it in the config's categories?)`);
    wanted.push(id);
  }
  // Deleting a host_category drops its crawl verdicts (host_category_dir) by cascade: only for categories the file removed.
  await tx.query('DELETE FROM host_category WHERE host_id = $1 AND NOT (category_id = ANY($2::int[]))', [hostId, wanted]);
  for (const [name, c] of Object.entries(h.categories)) {
    const hc = await tx.query<{ id: number }>(
      `INSERT INTO host_category (host_id, category_id, always_up2date) VALUES ($1, $2, $3)
       ON CONFLICT (host_id, category_id) DO UPDATE SET always_up2date = EXCLUDED.always_up2date RETURNING id`,
      [hostId, catIds.get(name)!, c.always_up2date],
    );
    const hcId = hc.rows[0]!.id;
    const all = [...c.urls.map((url) => ({ url, priv: false })), ...c.private_urls.map((url) => ({ url, priv: true }))];
    await tx.query('DELETE FROM host_category_url WHERE host_category_id = $1 AND NOT (url = ANY($2::text[]))', [hcId, all.map((u) => u.url)]);
    for (const u of all) {
      await tx.query(
        `INSERT INTO host_category_url (host_category_id, url, private) VALUES ($1, $2, $3)
         ON CONFLICT (host_category_id, url) DO UPDATE SET private = EXCLUDED.private`,
        [hcId, u.url, u.priv],
      );
    }
  }
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
