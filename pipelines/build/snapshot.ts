// Everything the build needs, read from the database once (one transaction, so
// every emitter sees the same consistent picture). The rest of the build is pure
// over this value: same snapshot, same generation bytes.
import type { Queryable } from '../core/db.ts';

export interface SnapshotHost {
  id: number;
  name: string;
  siteId: number;
  siteName: string;
  /** ISO code in capitals, or null when the registry has none (then only netblock/ASN/global). */
  country: string | null;
  /** Mbit/s as registered (not clamped; weight.ts clamps). */
  bandwidth: number;
  /** host.private OR site.private: listed only to clients inside its netblocks/ASN. */
  private: boolean;
  internet2: boolean;
  internet2Clients: boolean;
  asn: number | null;
  asnClients: boolean;
  /** Empty: any client country. */
  countriesAllowed: string[];
  maxConnections: number;
  /** null = never measured: assume reachable. */
  reachableIpv4: boolean | null;
  reachableIpv6: boolean | null;
  netblocks: Array<{ netblock: string; kind: 'cidr' | 'dns' }>;
  lastCrawled: Date | null;
  lastCheckedIn: Date | null;
  crawlFailures: number;
  comment: string;
}

export interface SnapshotCategory {
  id: number;
  name: string;
  topdir: string;
}

export interface SnapshotHostCategory {
  id: number;
  hostId: number;
  categoryId: number;
  alwaysUp2date: boolean;
  /** Public URLs (host_category_url.private = false), sorted; what clients get. */
  urls: string[];
  /** URLs only for other mirrors (never in lists for clients). */
  privateUrls: string[];
}

export interface SnapshotDirectory {
  id: number;
  categoryId: number;
  /** Relative to the category top, e.g. `releases/41/Everything/x86_64/os`. */
  name: string;
}

export interface FileDetail {
  size: number | null;
  md5: string | null;
  sha1: string | null;
  sha256: string | null;
  sha512: string | null;
  timestamp: number | null;
  createdAt: Date;
}

export interface SnapshotRepository {
  id: number;
  prefix: string;
  arch: string;
  categoryId: number;
  directoryId: number;
  /** Directory name relative to the category top. */
  directory: string;
  disabled: boolean;
  /** repodata/repomd.xml history, newest first: [0] current, the rest alternates within retention. */
  repomd: FileDetail[];
}

export interface Snapshot {
  /** Active hosts only: site and host admin/user active, not auto-disabled, not probe-down. */
  hosts: SnapshotHost[];
  /** Hosts left out because inactive, for reports: name → reason. */
  inactiveHosts: Array<{ name: string; reason: string }>;
  categories: SnapshotCategory[];
  hostCategories: SnapshotHostCategory[];
  /** Readable directories only (0750 pre-bitflip directories are not public). */
  directories: SnapshotDirectory[];
  repositories: SnapshotRepository[];
  /** Alias → canonical repository prefix. */
  aliases: Array<{ from: string; to: string }>;
  /** `${hostCategoryId}:${directoryId}` for every directory the crawler found up to date. */
  upToDate: Set<string>;
  /** Country → continent overrides (e.g. IL → EU). */
  continentRedirects: Map<string, string>;
}

export interface LoadSnapshotOptions {
  /** file_detail rows older than this (relative to the newest) are not alternates. */
  retentionDays: number;
}

/** Reads the snapshot in one read-only transaction-equivalent pass. */
export async function loadSnapshot(q: Queryable, opts: LoadSnapshotOptions): Promise<Snapshot> {
  const hostRows = await q.query<{
    id: number; name: string; site_id: number; site_name: string; country: string | null; bandwidth_int: number;
    private: boolean; site_private: boolean; internet2: boolean; internet2_clients: boolean; asn: string | number | null;
    asn_clients: boolean; countries_allowed: string[]; max_connections: number; admin_active: boolean; user_active: boolean;
    site_admin_active: boolean; site_user_active: boolean; auto_disabled: boolean; probe_down: boolean; disable_reason: string | null;
    reachable_ipv4: boolean | null; reachable_ipv6: boolean | null; last_crawled: Date | null; last_checked_in: Date | null;
    crawl_failures: number; comment: string;
  }>(
    `SELECT h.id, h.name, h.site_id, s.name AS site_name, h.country, h.bandwidth_int, h.private, s.private AS site_private,
            h.internet2, h.internet2_clients, h.asn, h.asn_clients, h.countries_allowed, h.max_connections,
            h.admin_active, h.user_active, s.admin_active AS site_admin_active, s.user_active AS site_user_active,
            h.auto_disabled, h.probe_down, h.disable_reason, h.reachable_ipv4, h.reachable_ipv6,
            h.last_crawled, h.last_checked_in, h.crawl_failures, h.comment
       FROM host h JOIN site s ON s.id = h.site_id
      ORDER BY h.name`,
  );
  const netblockRows = await q.query<{ host_id: number; netblock: string; kind: 'cidr' | 'dns' }>(
    'SELECT host_id, netblock, kind FROM host_netblock ORDER BY host_id, netblock',
  );
  const netblocks = groupBy(netblockRows.rows, (r) => r.host_id);

  const hosts: SnapshotHost[] = [];
  const inactiveHosts: Snapshot['inactiveHosts'] = [];
  for (const r of hostRows.rows) {
    const reason = inactiveReason(r);
    if (reason) {
      inactiveHosts.push({ name: r.name, reason });
      continue;
    }
    hosts.push({
      id: r.id,
      name: r.name,
      siteId: r.site_id,
      siteName: r.site_name,
      country: r.country,
      bandwidth: r.bandwidth_int,
      private: r.private || r.site_private,
      internet2: r.internet2,
      internet2Clients: r.internet2_clients,
      asn: r.asn === null ? null : Number(r.asn),
      asnClients: r.asn_clients,
      countriesAllowed: [...(r.countries_allowed ?? [])].map((c) => c.toUpperCase()).sort(),
      maxConnections: r.max_connections,
      reachableIpv4: r.reachable_ipv4,
      reachableIpv6: r.reachable_ipv6,
      netblocks: (netblocks.get(r.id) ?? []).map((n) => ({ netblock: n.netblock, kind: n.kind })),
      lastCrawled: r.last_crawled,
      lastCheckedIn: r.last_checked_in,
      crawlFailures: r.crawl_failures,
      comment: r.comment,
    });
  }
  const active = new Set(hosts.map((h) => h.id));

  const categories = (await q.query<SnapshotCategory>('SELECT id, name, topdir FROM category ORDER BY name')).rows.map((c) => ({ id: c.id, name: c.name, topdir: c.topdir }));

  const hcRows = await q.query<{ id: number; host_id: number; category_id: number; always_up2date: boolean }>(
    'SELECT id, host_id, category_id, always_up2date FROM host_category ORDER BY id',
  );
  const urlRows = await q.query<{ host_category_id: number; url: string; private: boolean }>(
    'SELECT host_category_id, url, private FROM host_category_url ORDER BY host_category_id, url',
  );
  const urls = groupBy(urlRows.rows, (r) => r.host_category_id);
  const hostCategories: SnapshotHostCategory[] = hcRows.rows
    .filter((r) => active.has(r.host_id))
    .map((r) => ({
      id: r.id,
      hostId: r.host_id,
      categoryId: r.category_id,
      alwaysUp2date: r.always_up2date,
      urls: (urls.get(r.id) ?? []).filter((u) => !u.private).map((u) => u.url),
      privateUrls: (urls.get(r.id) ?? []).filter((u) => u.private).map((u) => u.url),
    }));

  const dirRows = await q.query<{ id: number; category_id: number; name: string }>(
    'SELECT id, category_id, name FROM directory WHERE readable ORDER BY category_id, name',
  );
  const directories = dirRows.rows.map((d) => ({ id: d.id, categoryId: d.category_id, name: d.name }));
  const dirById = new Map(directories.map((d) => [d.id, d]));

  // repomd.xml may be recorded against the repository directory (`repodata/repomd.xml`)
  // or against its repodata/ subdirectory (`repomd.xml`), as MirrorManager does.
  const fdRows = await q.query<{
    repository_id: number; size: string | number | null; md5: string | null; sha1: string | null; sha256: string | null; sha512: string | null;
    timestamp: string | number | null; created_at: Date;
  }>(
    // Two joins, not one ON … OR …, and the parent looked up by its name (an index
    // lookup) rather than every directory's name || '/repodata' computed: 8.8 s → ~0.1 s
    // on PGlite at Fedora scale. No row matches both.
    `SELECT r.id AS repository_id, f.size, f.md5, f.sha1, f.sha256, f.sha512, f."timestamp", f.created_at, f.id AS detail_id
       FROM repository r
       JOIN file_detail f ON f.directory_id = r.directory_id AND f.filename = 'repodata/repomd.xml'
     UNION ALL
     SELECT r.id, f.size, f.md5, f.sha1, f.sha256, f.sha512, f."timestamp", f.created_at, f.id
       FROM file_detail f
       JOIN directory sub ON sub.id = f.directory_id AND right(sub.name, 9) = '/repodata'
       JOIN directory d ON d.category_id = sub.category_id AND d.name = left(sub.name, -9)
       JOIN repository r ON r.directory_id = d.id
      WHERE f.filename = 'repomd.xml'
      ORDER BY repository_id, created_at DESC, detail_id DESC`,
  );
  const details = groupBy(fdRows.rows, (r) => r.repository_id);
  const retentionMs = opts.retentionDays * 86_400_000;

  const repoRows = await q.query<{ id: number; prefix: string; arch: string; category_id: number; directory_id: number; disabled: boolean }>(
    'SELECT id, prefix, arch, category_id, directory_id, disabled FROM repository ORDER BY prefix, arch',
  );
  const repositories: SnapshotRepository[] = [];
  for (const r of repoRows.rows) {
    const dir = dirById.get(r.directory_id);
    if (!dir) continue; // unreadable directory: not public yet
    const history = (details.get(r.id) ?? []).map(toFileDetail);
    const newest = history[0]?.createdAt.getTime() ?? 0;
    const seen = new Set<string>();
    const repomd = history.filter((d, i) => {
      // Same content recorded twice is one version; alternates only within retention.
      const key = `${d.sha256}|${d.sha512}|${d.md5}|${d.sha1}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return i === 0 || newest - d.createdAt.getTime() <= retentionMs;
    });
    repositories.push({ id: r.id, prefix: r.prefix, arch: r.arch, categoryId: r.category_id, directoryId: r.directory_id, directory: dir.name, disabled: r.disabled, repomd });
  }

  const aliases = (await q.query<{ from_repo: string; to_repo: string }>('SELECT from_repo, to_repo FROM repository_redirect ORDER BY from_repo')).rows.map((a) => ({
    from: a.from_repo,
    to: a.to_repo,
  }));

  const upRows = await q.query<{ host_category_id: number; directory_id: number }>(
    'SELECT host_category_id, directory_id FROM host_category_dir WHERE up2date ORDER BY host_category_id, directory_id',
  );
  const upToDate = new Set(upRows.rows.map((r) => `${r.host_category_id}:${r.directory_id}`));

  const ccr = await q.query<{ country: string; continent: string }>('SELECT country, continent FROM country_continent_redirect ORDER BY country');
  const continentRedirects = new Map(ccr.rows.map((r) => [r.country, r.continent]));

  return { hosts, inactiveHosts, categories, hostCategories, directories, repositories, aliases, upToDate, continentRedirects };
}

function inactiveReason(r: {
  admin_active: boolean; user_active: boolean; site_admin_active: boolean; site_user_active: boolean;
  auto_disabled: boolean; probe_down: boolean; disable_reason: string | null;
}): string | null {
  if (!r.site_admin_active) return 'site disabled by admin';
  if (!r.site_user_active) return 'site disabled by its owner';
  if (!r.admin_active) return 'host disabled by admin';
  if (!r.user_active) return 'host disabled by its owner';
  if (r.auto_disabled) return `auto-disabled${r.disable_reason ? `: ${r.disable_reason}` : ''}`;
  if (r.probe_down) return 'down at the last probe';
  return null;
}

function toFileDetail(r: {
  size: string | number | null; md5: string | null; sha1: string | null; sha256: string | null; sha512: string | null;
  timestamp: string | number | null; created_at: Date;
}): FileDetail {
  return {
    size: r.size === null ? null : Number(r.size),
    md5: r.md5,
    sha1: r.sha1,
    sha256: r.sha256,
    sha512: r.sha512,
    timestamp: r.timestamp === null ? null : Number(r.timestamp),
    createdAt: r.created_at instanceof Date ? r.created_at : new Date(r.created_at),
  };
}

function groupBy<T, K>(rows: readonly T[], key: (r: T) => K): Map<K, T[]> {
  const m = new Map<K, T[]>();
  for (const r of rows) {
    const k = key(r);
    const list = m.get(k);
    if (list) list.push(r);
    else m.set(k, [r]);
  }
  return m;
}

/** Whether host category `hcId` may be listed for `directoryId`. */
export function isUpToDate(snap: Pick<Snapshot, 'upToDate'>, hc: Pick<SnapshotHostCategory, 'id' | 'alwaysUp2date'>, directoryId: number): boolean {
  return hc.alwaysUp2date || snap.upToDate.has(`${hc.id}:${directoryId}`);
}

const loaded = new WeakMap<object, Promise<Snapshot>>();

/**
 * The snapshot of this build, loaded once per stage context and shared by every
 * emitter (lists, public pages…), so they all describe the same database state.
 */
export function snapshotFor(ctx: { db: Queryable & { transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> }; config: { fileDetailRetentionDays: number } }): Promise<Snapshot> {
  let p = loaded.get(ctx);
  if (!p) {
    // One transaction: a consistent picture even while an admin edits the registry.
    p = ctx.db.transaction((tx) => loadSnapshot(tx, { retentionDays: ctx.config.fileDetailRetentionDays }));
    loaded.set(ctx, p);
  }
  return p;
}
