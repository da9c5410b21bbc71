// What the public pages, the ACL, the status pages and the metrics read from the
// database: one typed snapshot, loaded in a handful of queries (same SQL on PGlite
// and Postgres). Everything downstream of this is pure.
import type { Queryable } from '../core/db.ts';

export interface PublicSite {
  id: number;
  name: string;
  orgUrl: string | null;
  private: boolean;
  adminActive: boolean;
  userActive: boolean;
  comment: string;
}

export interface DirVerdict {
  up2date: boolean;
  checkedAt: Date;
  reason: string | null;
}

export interface PublicHostCategory {
  id: number;
  categoryId: number;
  alwaysUp2date: boolean;
  /** URLs clients may be given. */
  urls: string[];
  /** URLs listed to other mirrors only: never shown publicly. */
  privateUrls: string[];
  /** The crawler's verdict per directory id. */
  dirs: Map<number, DirVerdict>;
}

export interface PublicHost {
  id: number;
  siteId: number;
  name: string;
  country: string | null;
  bandwidthMbps: number;
  private: boolean;
  internet2: boolean;
  internet2Clients: boolean;
  asn: number | null;
  asnClients: boolean;
  adminActive: boolean;
  userActive: boolean;
  comment: string;
  crawlFailures: number;
  autoDisabled: boolean;
  disableReason: string | null;
  lastCrawled: Date | null;
  lastCrawlDurationMs: number | null;
  lastCrawlMethod: string | null;
  lastCheckedIn: Date | null;
  reachableIpv4: boolean | null;
  reachableIpv6: boolean | null;
  probeDown: boolean;
  lastProbed: Date | null;
  aclIps: string[];
  categories: PublicHostCategory[];
}

export interface PublicCategory {
  id: number;
  name: string;
  topdir: string;
}

export interface PublicRepository {
  id: number;
  prefix: string;
  arch: string;
  categoryId: number;
  directoryId: number;
  directoryName: string;
  /** The directory is world-readable on the master (not pre-bitflip). */
  readable: boolean;
  disabled: boolean;
}

export interface PropagationSample {
  hostId: number;
  repositoryId: number;
  sampledAt: Date;
  /** 0 current, 1, 2, 3 = older; null = unreachable. */
  versionsBehind: number | null;
}

export interface RunStageRecord {
  stage: string;
  status: string;
  durationMs: number;
  counts?: { ok: number; failed: number; skipped: number };
  stats?: Record<string, unknown>;
}

export interface PipelineRunRow {
  id: number;
  startedAt: Date;
  finishedAt: Date | null;
  status: string;
  stages: RunStageRecord[];
  generation: string | null;
}

export interface CrawlLogEntry {
  startedAt: Date;
  durationMs: number;
  method: string;
  ok: boolean;
  /** false when the outage guard kept the failure from counting. */
  counted: boolean;
  errorKind: string | null;
  summary: string;
  requests: number;
  budget: number;
  dirsUp2date: number;
  dirsStale: number;
  lines: string[];
}

export interface PublicData {
  sites: PublicSite[];
  hosts: PublicHost[];
  categories: PublicCategory[];
  repositories: PublicRepository[];
  propagation: PropagationSample[];
  /** Finished runs, newest first (the running one is not included). */
  runs: PipelineRunRow[];
  /** Reports the ingest stage accepted (ok) and rejected (failed), summed over every finished run. */
  ingestTotals: { ok: number; failed: number };
  /** Per-host crawl history, newest first. */
  crawlLogs: Map<number, CrawlLogEntry[]>;
}

export interface LoadOptions {
  /** Propagation samples older than this are not loaded. */
  propagationSince?: Date;
  /** Number of finished runs to load. */
  runs?: number;
  /** Crawl log entries kept per host. */
  crawlLogsPerHost?: number;
}

export async function loadPublicData(db: Queryable, opts: LoadOptions = {}): Promise<PublicData> {
  const sites = (
    await db.query<{ id: number; name: string; org_url: string | null; private: boolean; admin_active: boolean; user_active: boolean; comment: string }>(
      'SELECT id, name, org_url, private, admin_active, user_active, comment FROM site ORDER BY name',
    )
  ).rows.map((r) => ({ id: r.id, name: r.name, orgUrl: r.org_url, private: r.private, adminActive: r.admin_active, userActive: r.user_active, comment: r.comment }));

  const hostRows = (
    await db.query<{
      id: number; site_id: number; name: string; country: string | null; bandwidth_int: number; private: boolean;
      internet2: boolean; internet2_clients: boolean; asn: number | null; asn_clients: boolean; admin_active: boolean;
      user_active: boolean; comment: string; crawl_failures: number; auto_disabled: boolean; disable_reason: string | null;
      last_crawled: Date | null; last_crawl_duration_ms: number | null; last_crawl_method: string | null; last_checked_in: Date | null;
      reachable_ipv4: boolean | null; reachable_ipv6: boolean | null; probe_down: boolean; last_probed: Date | null;
    }>(
      `SELECT id, site_id, name, country, bandwidth_int, private, internet2, internet2_clients, asn, asn_clients,
              admin_active, user_active, comment, crawl_failures, auto_disabled, disable_reason, last_crawled,
              last_crawl_duration_ms, last_crawl_method, last_checked_in, reachable_ipv4, reachable_ipv6, probe_down, last_probed
         FROM host ORDER BY name`,
    )
  ).rows;

  const acl = (await db.query<{ host_id: number; ip: string }>('SELECT host_id, ip FROM host_acl_ip ORDER BY host_id, ip')).rows;
  const hcs = (
    await db.query<{ id: number; host_id: number; category_id: number; always_up2date: boolean }>(
      'SELECT id, host_id, category_id, always_up2date FROM host_category ORDER BY host_id, category_id',
    )
  ).rows;
  const urls = (
    await db.query<{ host_category_id: number; url: string; private: boolean }>(
      'SELECT host_category_id, url, private FROM host_category_url ORDER BY host_category_id, url',
    )
  ).rows;
  const verdicts = (
    await db.query<{ host_category_id: number; directory_id: number; up2date: boolean; checked_at: Date; reason: string | null }>(
      'SELECT host_category_id, directory_id, up2date, checked_at, reason FROM host_category_dir ORDER BY host_category_id, directory_id',
    )
  ).rows;

  const categories = (await db.query<PublicCategory>('SELECT id, name, topdir FROM category ORDER BY name')).rows.map((r) => ({ id: r.id, name: r.name, topdir: r.topdir }));
  const repositories = (
    await db.query<{ id: number; prefix: string; arch: string; category_id: number; directory_id: number; dir_name: string; readable: boolean; disabled: boolean }>(
      `SELECT r.id, r.prefix, r.arch, r.category_id, r.directory_id, d.name AS dir_name, d.readable, r.disabled
         FROM repository r JOIN directory d ON d.id = r.directory_id
        ORDER BY r.prefix, r.arch`,
    )
  ).rows.map((r) => ({
    id: r.id, prefix: r.prefix, arch: r.arch, categoryId: r.category_id, directoryId: r.directory_id,
    directoryName: r.dir_name, readable: r.readable, disabled: r.disabled,
  }));

  const since = opts.propagationSince ?? new Date(0);
  const propagation = (
    await db.query<{ host_id: number; repository_id: number; sampled_at: Date; versions_behind: number | null }>(
      `SELECT host_id, repository_id, sampled_at, versions_behind FROM propagation_sample
        WHERE sampled_at >= $1 ORDER BY repository_id, sampled_at, host_id`,
      [since.toISOString()],
    )
  ).rows.map((r) => ({ hostId: r.host_id, repositoryId: r.repository_id, sampledAt: r.sampled_at, versionsBehind: r.versions_behind }));

  const runs = (
    await db.query<{ id: number; started_at: Date; finished_at: Date | null; status: string; stages: unknown; generation: string | null }>(
      `SELECT id, started_at, finished_at, status, stages, generation FROM pipeline_run
        WHERE status <> 'running' ORDER BY id DESC LIMIT $1`,
      [opts.runs ?? 50],
    )
  ).rows.map((r) => ({ id: r.id, startedAt: r.started_at, finishedAt: r.finished_at, status: r.status, stages: stageRecords(r.stages), generation: r.generation }));

  const byHc = new Map<number, PublicHostCategory>();
  const hcsByHost = new Map<number, PublicHostCategory[]>();
  for (const r of hcs) {
    const hc: PublicHostCategory = { id: r.id, categoryId: r.category_id, alwaysUp2date: r.always_up2date, urls: [], privateUrls: [], dirs: new Map() };
    byHc.set(r.id, hc);
    push(hcsByHost, r.host_id, hc);
  }
  for (const u of urls) {
    const hc = byHc.get(u.host_category_id);
    if (hc) (u.private ? hc.privateUrls : hc.urls).push(u.url);
  }
  for (const v of verdicts) byHc.get(v.host_category_id)?.dirs.set(v.directory_id, { up2date: v.up2date, checkedAt: v.checked_at, reason: v.reason });
  const aclByHost = new Map<number, string[]>();
  for (const a of acl) push(aclByHost, a.host_id, a.ip);

  const hosts: PublicHost[] = hostRows.map((r) => ({
    id: r.id, siteId: r.site_id, name: r.name, country: r.country, bandwidthMbps: r.bandwidth_int, private: r.private,
    internet2: r.internet2, internet2Clients: r.internet2_clients, asn: r.asn, asnClients: r.asn_clients,
    adminActive: r.admin_active, userActive: r.user_active, comment: r.comment, crawlFailures: r.crawl_failures,
    autoDisabled: r.auto_disabled, disableReason: r.disable_reason, lastCrawled: r.last_crawled,
    lastCrawlDurationMs: r.last_crawl_duration_ms, lastCrawlMethod: r.last_crawl_method, lastCheckedIn: r.last_checked_in,
    reachableIpv4: r.reachable_ipv4, reachableIpv6: r.reachable_ipv6, probeDown: r.probe_down, lastProbed: r.last_probed,
    aclIps: aclByHost.get(r.id) ?? [], categories: hcsByHost.get(r.id) ?? [],
  }));

  const ingest = (
    await db.query<{ ok: number | null; failed: number | null }>(
      `SELECT sum((e->'counts'->>'ok')::numeric) AS ok, sum((e->'counts'->>'failed')::numeric) AS failed
         FROM (SELECT stages FROM pipeline_run WHERE status <> 'running' AND jsonb_typeof(stages) = 'array') r
        CROSS JOIN LATERAL jsonb_array_elements(r.stages) e
        WHERE e->>'stage' = 'ingest' AND jsonb_typeof(e->'counts') = 'object'`,
    )
  ).rows[0];
  const ingestTotals = { ok: Number(ingest?.ok ?? 0), failed: Number(ingest?.failed ?? 0) };

  return { sites, hosts, categories, repositories, propagation, runs, ingestTotals, crawlLogs: await loadCrawlLogs(db, opts.crawlLogsPerHost ?? 3) };
}

// The crawl stage's per-host history (sql/003_crawl_log.sql): the newest few per host.
async function loadCrawlLogs(db: Queryable, perHost: number): Promise<Map<number, CrawlLogEntry[]>> {
  const out = new Map<number, CrawlLogEntry[]>();
  const { rows } = await db.query<{
    host_id: number; started_at: Date; duration_ms: number; method: string; ok: boolean; counted: boolean; error_kind: string | null;
    summary: string; requests: number; budget: number; dirs_up2date: number; dirs_stale: number; lines: unknown;
  }>(
    `SELECT host_id, started_at, duration_ms, method, ok, counted, error_kind, summary, requests, budget, dirs_up2date, dirs_stale, lines
       FROM (SELECT c.*, row_number() OVER (PARTITION BY host_id ORDER BY started_at DESC, id DESC) AS n FROM crawl_log c) ranked
      WHERE n <= $1 ORDER BY host_id, started_at DESC, id DESC`,
    [perHost],
  );
  for (const r of rows) {
    const list = out.get(r.host_id) ?? [];
    list.push({
      startedAt: r.started_at, durationMs: r.duration_ms, method: r.method, ok: r.ok, counted: r.counted, errorKind: r.error_kind,
      summary: r.summary, requests: r.requests, budget: r.budget, dirsUp2date: r.dirs_up2date, dirsStale: r.dirs_stale,
      lines: Array.isArray(r.lines) ? r.lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))) : [],
    });
    out.set(r.host_id, list);
  }
  return out;
}

function stageRecords(raw: unknown): RunStageRecord[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((s): RunStageRecord[] => {
    if (!s || typeof s !== 'object') return [];
    const o = s as Record<string, unknown>;
    if (typeof o.stage !== 'string') return [];
    const counts = o.counts && typeof o.counts === 'object' ? (o.counts as RunStageRecord['counts']) : undefined;
    const stats = o.stats && typeof o.stats === 'object' ? (o.stats as Record<string, unknown>) : undefined;
    return [{ stage: o.stage, status: String(o.status ?? ''), durationMs: Number(o.durationMs ?? 0), counts, stats }];
  });
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}
