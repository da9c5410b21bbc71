// What `mirrorsmith demo` prints after its run, read back from the database: the
// repositories scan-master found, and per demo mirror which repositories it is
// fresh for and why the others are not. Formatting is pure (tested on rows).
import type { Queryable } from '../core/db.ts';
import { formatTable } from '../core/table.ts';
import { listRepositories, type RepoRow } from '../master/queries.ts';

/** One row per repository name: its arches and its directory (the arch spelled `<arch>` when several share a layout). */
export function repositoryTable(repos: readonly RepoRow[]): string {
  const byRepo = new Map<string, RepoRow[]>();
  for (const r of repos) byRepo.set(r.repo, [...(byRepo.get(r.repo) ?? []), r]);
  const rows = [...byRepo].map(([repo, rs]) => {
    const arches = rs.map((r) => r.arch);
    const layouts = new Set(rs.map((r) => r.path.split('/').map((seg) => (seg === r.arch ? '<arch>' : seg)).join('/')));
    const directory = rs.length > 1 && layouts.size === 1 ? [...layouts][0]! : rs.map((r) => r.path).join(', ');
    const state = [...new Set(rs.map((r) => [r.disabled ? 'disabled' : '', r.readable ? '' : 'not readable (pre-release)', r.error ? `error: ${r.error}` : ''].filter(Boolean).join(', ')))]
      .filter(Boolean)
      .join('; ');
    const alternates = Math.max(...rs.map((r) => Math.max(0, r.versions.length - 1)));
    return [repo, rs[0]!.category, arches.join(','), directory, String(alternates), state || 'ok'];
  });
  return formatTable(['repo', 'category', 'arch', 'directory', 'alternates', 'state'], rows);
}

export async function scannedRepositories(db: Queryable): Promise<string> {
  const repos = await listRepositories(db);
  const arches = [...new Set(repos.map((r) => r.arch))].sort();
  return `\nWhat scan-master found in the demo tree: ${repos.length} repositories (${new Set(repos.map((r) => r.repo)).size} names; arches ${arches.join(', ')}):\n${repositoryTable(repos)}`;
}

export interface HostFreshnessRow {
  name: string;
  country: string | null;
  private: boolean;
  active: boolean;
  disable_reason: string | null;
  probe_down: boolean;
  crawl_failures: number;
  last_crawl_method: string | null;
  last_checked_in: Date | null;
  repo: string | null;
  arch: string | null;
  up2date: boolean | null;
  reason: string | null;
}

export interface StaleDirRow {
  name: string;
  dir: string;
  reason: string | null;
}

/** Verdicts of every host for every listed repository of its categories (NULL verdict: never checked). */
export async function loadFreshness(db: Queryable): Promise<{ rows: HostFreshnessRow[]; staleDirs: StaleDirRow[] }> {
  const { rows } = await db.query<HostFreshnessRow>(
    `SELECT h.name, h.country, h.private, (h.admin_active AND h.user_active AND s.admin_active AND s.user_active) AS active,
            h.disable_reason, h.probe_down, h.crawl_failures, h.last_crawl_method, h.last_checked_in,
            r.prefix AS repo, r.arch, hcd.up2date, hcd.reason
       FROM host h JOIN site s ON s.id = h.site_id
       LEFT JOIN host_category hc ON hc.host_id = h.id
       LEFT JOIN repository r ON r.category_id = hc.category_id AND NOT r.disabled
                             AND EXISTS (SELECT 1 FROM directory d WHERE d.id = r.directory_id AND d.readable)
       LEFT JOIN host_category_dir hcd ON hcd.host_category_id = hc.id AND hcd.directory_id = r.directory_id
      ORDER BY h.name, r.prefix, r.arch`,
  );
  // Directories that are not repositories but still hold a mirror back (a missing subtree).
  const stale = await db.query<StaleDirRow>(
    `SELECT h.name, CASE WHEN d.name = '' THEN c.topdir ELSE c.topdir || '/' || d.name END AS dir, hcd.reason
       FROM host_category_dir hcd JOIN host_category hc ON hc.id = hcd.host_category_id JOIN host h ON h.id = hc.host_id
       JOIN directory d ON d.id = hcd.directory_id JOIN category c ON c.id = d.category_id
      WHERE NOT hcd.up2date AND d.readable AND NOT EXISTS (SELECT 1 FROM repository r WHERE r.directory_id = d.id)
        AND d.name NOT LIKE '%/repodata' AND d.name <> 'repodata'
      ORDER BY h.name, dir`,
  );
  return { rows, staleDirs: stale.rows };
}

const MAX_NAMES = 4;

function names(list: readonly string[]): string {
  return list.length <= MAX_NAMES ? list.join(', ') : `${list.slice(0, MAX_NAMES).join(', ')} and ${list.length - MAX_NAMES} more`;
}

/**
 * Per mirror: how the simulated mirror acts, which repositories it is fresh for
 * (all, none, or the complement of the stale list), and each stale repository's
 * reason, identical reasons folded together.
 */
export function freshnessReport(rows: readonly HostFreshnessRow[], staleDirs: readonly StaleDirRow[], behaviour: ReadonlyMap<string, string>): string {
  const hosts = new Map<string, HostFreshnessRow[]>();
  for (const r of rows) hosts.set(r.name, [...(hosts.get(r.name) ?? []), r]);
  const out: string[] = [];
  for (const [name, rs] of hosts) {
    const h = rs[0]!;
    const repos = rs.filter((r) => r.repo !== null);
    const label = (r: HostFreshnessRow) => `${r.repo} ${r.arch}`;
    const fresh = repos.filter((r) => r.up2date === true).map(label);
    const stale = repos.filter((r) => r.up2date !== true);
    const how = h.private ? `private, by report${h.last_checked_in ? ` (checked in ${h.last_checked_in.toISOString().slice(0, 19)}Z)` : ', no report yet'}` : h.last_crawl_method ? `crawled over ${h.last_crawl_method}` : 'not crawled';
    const flags = [!h.active ? `disabled${h.disable_reason ? `: ${h.disable_reason}` : ''}` : '', h.probe_down ? 'out of the lists: the probe finds it down' : '', h.crawl_failures ? `${h.crawl_failures} failed crawl(s) in a row` : '']
      .filter(Boolean)
      .join('; ');
    const total = repos.length;
    const verdict =
      total === 0
        ? 'carries no repository'
        : fresh.length === total
          ? `fresh for all ${total} repositories`
          : fresh.length === 0
            ? `fresh for none of its ${total} repositories`
            : fresh.length <= MAX_NAMES
              ? `fresh for ${fresh.length} of ${total}: ${fresh.join(', ')}`
              : `fresh for ${fresh.length} of ${total} repositories, all but those below`;
    out.push(`${name} (${h.country ?? '??'}, acts ${behaviour.get(name) ?? '?'}, ${how}): ${verdict}${flags ? ` [${flags}]` : ''}`);
    const byReason = new Map<string, string[]>();
    for (const r of stale) {
      const why = r.up2date === null ? (h.private ? 'not in any report yet' : 'no verdict yet (not crawled)') : (r.reason ?? 'not up to date');
      byReason.set(why, [...(byReason.get(why) ?? []), label(r)]);
    }
    for (const [why, list] of byReason) out.push(`    not fresh: ${list.length === total ? `all ${total}` : names(list)} — ${why}`);
    const dirs = staleDirs.filter((d) => d.name === name);
    if (dirs.length && stale.length < total) out.push(`    also ${dirs.length} other director${dirs.length === 1 ? 'y' : 'ies'} behind: ${names(dirs.map((d) => `${d.dir}${d.reason ? ` (${d.reason})` : ''}`))}`);
  }
  return out.join('\n');
}

export async function freshnessSummary(db: Queryable, behaviour: ReadonlyMap<string, string>): Promise<string> {
  const { rows, staleDirs } = await loadFreshness(db);
  return `\nWhat the crawler (and the private mirror's report) found, per mirror:\n${freshnessReport(rows, staleDirs, behaviour)}`;
}
