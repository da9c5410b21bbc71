// The crawler's database edge: which host-categories to crawl, what the master
// holds per category, and the per-host write (verdicts, host columns, crawl log,
// propagation samples) in one transaction.
import type { Queryable } from '../core/db.ts';
import { PRIVATE_HOST_SQL } from '../core/private.ts';
import { normDir, type HostState, type MasterCategory, type MasterDir, type MasterRepo, type Verdict, type VersionsBehind } from './verdict.ts';

export interface CategoryTarget {
  hostCategoryId: number;
  categoryId: number;
  categoryName: string;
  alwaysUp2date: boolean;
  urls: string[];
}

export interface HostTarget {
  hostId: number;
  name: string;
  state: HostState;
  categories: CategoryTarget[];
}

/** Active public hosts (site and host, admin and user flags) with their categories and URLs. */
export async function loadTargets(db: Queryable, filter: { host?: string; category?: string } = {}): Promise<HostTarget[]> {
  const { rows } = await db.query<{
    host_id: number;
    name: string;
    crawl_failures: number;
    auto_disabled: boolean;
    disable_reason: string | null;
    hc_id: number;
    category_id: number;
    category: string;
    always_up2date: boolean;
    urls: string[] | null;
  }>(
    `SELECT h.id AS host_id, h.name, h.crawl_failures, h.auto_disabled, h.disable_reason,
            hc.id AS hc_id, c.id AS category_id, c.name AS category, hc.always_up2date,
            array_remove(array_agg(u.url ORDER BY u.url), NULL) AS urls
       FROM host h
       JOIN site s ON s.id = h.site_id
       JOIN host_category hc ON hc.host_id = h.id
       JOIN category c ON c.id = hc.category_id
       LEFT JOIN host_category_url u ON u.host_category_id = hc.id
      WHERE h.admin_active AND h.user_active AND s.admin_active AND s.user_active
        AND NOT ${PRIVATE_HOST_SQL}
        AND ($1::text IS NULL OR h.name = $1)
        AND ($2::text IS NULL OR c.name = $2)
      GROUP BY h.id, hc.id, c.id
      ORDER BY h.name, c.name`,
    [filter.host ?? null, filter.category ?? null],
  );
  const hosts = new Map<number, HostTarget>();
  for (const r of rows) {
    let h = hosts.get(r.host_id);
    if (!h) {
      h = { hostId: r.host_id, name: r.name, state: { crawlFailures: r.crawl_failures, autoDisabled: r.auto_disabled, disableReason: r.disable_reason }, categories: [] };
      hosts.set(r.host_id, h);
    }
    h.categories.push({ hostCategoryId: r.hc_id, categoryId: r.category_id, categoryName: r.category, alwaysUp2date: r.always_up2date, urls: r.urls ?? [] });
  }
  return [...hosts.values()];
}

/** Directories, repositories and repomd.xml history of one category. */
export async function loadMaster(db: Queryable, categoryId: number, name: string, keyRepos: readonly string[]): Promise<MasterCategory> {
  const dirsRes = await db.query<{ id: number; name: string; readable: boolean; ctime: number; files: unknown }>(
    'SELECT id, name, readable, ctime, files FROM directory WHERE category_id = $1 ORDER BY name',
    [categoryId],
  );
  const dirs: MasterDir[] = dirsRes.rows.map((d) => ({ id: d.id, name: d.name, readable: d.readable, ctime: Number(d.ctime), files: parseFiles(d.files) }));
  const byName = new Map(dirs.map((d) => [normDir(d.name), d]));
  // A repository in an unreadable (pre-bitflip) directory is never required of a mirror.
  const reposRes = await db.query<{ id: number; prefix: string; arch: string; directory_id: number; dir_name: string }>(
    `SELECT r.id, r.prefix, r.arch, r.directory_id, d.name AS dir_name
       FROM repository r JOIN directory d ON d.id = r.directory_id
      WHERE r.category_id = $1 AND NOT r.disabled AND d.readable ORDER BY r.prefix, r.arch`,
    [categoryId],
  );
  const repos: MasterRepo[] = reposRes.rows.map((r) => {
    const repodata = byName.get(normDir(`${normDir(r.dir_name) === '.' ? '' : normDir(r.dir_name) + '/'}repodata`));
    const key = keyRepos.includes(r.prefix) || keyRepos.includes(`${r.prefix}/${r.arch}`);
    return { id: r.id, prefix: r.prefix, arch: r.arch, dirId: r.directory_id, dirName: r.dir_name, repodataDirId: repodata?.id ?? null, history: [], key };
  });
  // repomd.xml history may hang off the repository directory (filename
  // 'repodata/repomd.xml' or 'repomd.xml') or off its repodata/ directory.
  const dirIds = new Map<number, MasterRepo>();
  for (const r of repos) {
    dirIds.set(r.dirId, r);
    if (r.repodataDirId !== null) dirIds.set(r.repodataDirId, r);
  }
  if (dirIds.size) {
    const fd = await db.query<{ directory_id: number; sha256: string | null; size: number | null }>(
      `SELECT directory_id, sha256, size FROM file_detail
        WHERE directory_id = ANY($1::int[]) AND filename IN ('repomd.xml', 'repodata/repomd.xml')
        ORDER BY created_at DESC, id DESC`,
      [[...dirIds.keys()]],
    );
    for (const row of fd.rows) {
      const repo = dirIds.get(row.directory_id)!;
      if (row.sha256 && repo.history.some((v) => v.sha256 === row.sha256)) continue;
      repo.history.push({ sha256: row.sha256, size: row.size === null ? null : Number(row.size) });
    }
  }
  return { id: categoryId, name, dirs, repos };
}

function parseFiles(v: unknown): { name: string; size: number }[] {
  const arr = typeof v === 'string' ? (JSON.parse(v) as unknown) : v;
  if (!Array.isArray(arr)) return [];
  const out: { name: string; size: number }[] = [];
  for (const f of arr) {
    if (f && typeof f === 'object' && typeof (f as { name?: unknown }).name === 'string') {
      const size = Number((f as { size?: unknown }).size);
      if (Number.isFinite(size)) out.push({ name: (f as { name: string }).name, size });
    }
  }
  return out;
}

export interface CategoryWrite {
  hostCategoryId: number;
  verdicts: Verdict[];
}

export interface HostWrite {
  hostId: number;
  runId: number | null;
  startedAt: Date;
  durationMs: number;
  method: string;
  ok: boolean;
  /** false when the outage guard held this failure back. */
  counted: boolean;
  errorKind: string | null;
  summary: string;
  requests: number;
  budget: number;
  bytes: number;
  reachableV4: boolean | null;
  reachableV6: boolean | null;
  lines: string[];
  /** Verdicts to store; empty when freshness is kept (outage). */
  categories: CategoryWrite[];
  /** New failure/disable state, or null to leave it (outage). */
  state: HostState | null;
  propagation: Map<number, VersionsBehind>;
  propagationDays: number;
}

export const CRAWL_LOG_KEEP = 20;

/** Everything one host's crawl changes, in the caller's transaction. */
export async function saveHost(tx: Queryable, w: HostWrite): Promise<void> {
  const checkedAt = new Date(w.startedAt.getTime() + w.durationMs);
  for (const c of w.categories) {
    if (!c.verdicts.length) continue;
    await tx.query(
      `INSERT INTO host_category_dir (host_category_id, directory_id, up2date, checked_at, reason)
       SELECT $1, v.dir, v.ok, $2, v.reason FROM unnest($3::int[], $4::boolean[], $5::text[]) AS v(dir, ok, reason)
       ON CONFLICT (host_category_id, directory_id)
       DO UPDATE SET up2date = EXCLUDED.up2date, checked_at = EXCLUDED.checked_at, reason = EXCLUDED.reason`,
      [c.hostCategoryId, checkedAt, c.verdicts.map((v) => v.dirId), c.verdicts.map((v) => v.up2date), c.verdicts.map((v) => v.reason)],
    );
  }
  const family = w.counted || w.ok;
  await tx.query(
    `UPDATE host SET last_crawled = $2, last_crawl_duration_ms = $3, last_crawl_method = $4,
            reachable_ipv4 = CASE WHEN $5 THEN $6::boolean ELSE reachable_ipv4 END,
            reachable_ipv6 = CASE WHEN $5 THEN $7::boolean ELSE reachable_ipv6 END
      WHERE id = $1`,
    [w.hostId, checkedAt, w.durationMs, w.method, family, w.reachableV4, w.reachableV6],
  );
  if (w.state) {
    await tx.query('UPDATE host SET crawl_failures = $2, auto_disabled = $3, disable_reason = $4 WHERE id = $1', [
      w.hostId,
      w.state.crawlFailures,
      w.state.autoDisabled,
      w.state.disableReason,
    ]);
  }
  await tx.query(
    `INSERT INTO crawl_log (host_id, run_id, started_at, duration_ms, method, ok, counted, error_kind, summary, requests, budget, bytes,
                            dirs_up2date, dirs_stale, reachable_ipv4, reachable_ipv6, lines)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17::jsonb)`,
    [
      w.hostId,
      w.runId,
      w.startedAt,
      w.durationMs,
      w.method,
      w.ok,
      w.counted,
      w.errorKind,
      w.summary,
      w.requests,
      w.budget,
      w.bytes,
      w.categories.reduce((n, c) => n + c.verdicts.filter((v) => v.up2date).length, 0),
      w.categories.reduce((n, c) => n + c.verdicts.filter((v) => !v.up2date).length, 0),
      w.reachableV4,
      w.reachableV6,
      JSON.stringify(w.lines),
    ],
  );
  await tx.query(
    `DELETE FROM crawl_log WHERE host_id = $1 AND id NOT IN (SELECT id FROM crawl_log WHERE host_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2)`,
    [w.hostId, CRAWL_LOG_KEEP],
  );
  if (w.propagation.size) {
    const ids = [...w.propagation.keys()];
    await tx.query(
      `INSERT INTO propagation_sample (host_id, repository_id, sampled_at, versions_behind)
       SELECT $1, p.repo, $2, p.behind FROM unnest($3::int[], $4::int[]) AS p(repo, behind)
       ON CONFLICT (host_id, repository_id, sampled_at) DO UPDATE SET versions_behind = EXCLUDED.versions_behind`,
      [w.hostId, w.startedAt, ids, ids.map((id) => w.propagation.get(id) ?? null)],
    );
  }
  await tx.query(`DELETE FROM propagation_sample WHERE host_id = $1 AND sampled_at < $2::timestamptz - make_interval(days => $3)`, [
    w.hostId,
    w.startedAt,
    w.propagationDays,
  ]);
}

/** Earlier crawl errors of a host, newest first (for the auto-disable reason). */
export async function recentErrors(db: Queryable, hostId: number, n: number): Promise<string[]> {
  const { rows } = await db.query<{ summary: string }>(
    'SELECT summary FROM crawl_log WHERE host_id = $1 AND NOT ok AND counted ORDER BY started_at DESC, id DESC LIMIT $2',
    [hostId, n],
  );
  return rows.map((r) => r.summary);
}

/** The newest crawl log rows of a host, for `host show` and the status pages. */
export async function crawlLogFor(db: Queryable, hostId: number, limit = 5): Promise<CrawlLogRow[]> {
  const { rows } = await db.query<CrawlLogRow>(
    `SELECT started_at, duration_ms, method, ok, counted, error_kind, summary, requests, budget, bytes, dirs_up2date, dirs_stale,
            reachable_ipv4, reachable_ipv6, lines
       FROM crawl_log WHERE host_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2`,
    [hostId, limit],
  );
  return rows;
}

export interface CrawlLogRow {
  started_at: Date;
  duration_ms: number;
  method: string;
  ok: boolean;
  counted: boolean;
  error_kind: string | null;
  summary: string;
  requests: number;
  budget: number;
  bytes: number;
  dirs_up2date: number;
  dirs_stale: number;
  reachable_ipv4: boolean | null;
  reachable_ipv6: boolean | null;
  lines: string[];
}
