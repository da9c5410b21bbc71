// Loads a generated world straight into a migrated database: the registry through
// the real `registry apply` code, the master tree from world.json as scan-master
// would store it (directories, repositories, repomd.xml details with alternates),
// and the crawl state into host and host_category_dir. Lets the build benchmark
// run at scales whose tree was never written to disk.
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../core/config.ts';
import type { Db, Queryable } from '../core/db.ts';
import { applyRegistry } from '../registry/apply.ts';
import { loadRegistry } from '../registry/load.ts';
import { readWorld, WORLD_FILES, type WorldFile } from './generate.ts';
import type { CrawlState } from './network-plan.ts';
import { Rng } from './rng.ts';

export interface LoadCounts {
  sites: number;
  hosts: number;
  directories: number;
  repositories: number;
  fileDetails: number;
  hostCategoryDirs: number;
}

const BATCH = 5000;

export async function loadWorld(db: Db, config: Config, worldDir: string, parts: { registry?: boolean; master?: boolean; crawl?: boolean } = {}): Promise<LoadCounts> {
  const world = readWorld(worldDir);
  if (!world) throw new Error(`${path.join(worldDir, WORLD_FILES.world)} is missing or from another generator version; run mirrorsmith bench generate`);
  const counts: LoadCounts = { sites: 0, hosts: 0, directories: 0, repositories: 0, fileDetails: 0, hostCategoryDirs: 0 };
  if (parts.registry !== false) {
    const registry = loadRegistry(path.join(worldDir, WORLD_FILES.registry), config.categories.map((c) => c.name));
    await applyRegistry(db, registry.sites);
    counts.sites = registry.sites.length;
    counts.hosts = registry.sites.reduce((s, x) => s + x.hosts.length, 0);
  }
  if (parts.master !== false) Object.assign(counts, await loadMaster(db, world));
  if (parts.crawl !== false) {
    const crawl = JSON.parse(fs.readFileSync(path.join(worldDir, WORLD_FILES.crawl), 'utf8')) as CrawlState;
    counts.hostCategoryDirs = await loadCrawlState(db, crawl, new Date());
  }
  return counts;
}

async function insertJson(q: Queryable, sql: string, rows: unknown[]): Promise<void> {
  for (let i = 0; i < rows.length; i += BATCH) await q.query(sql, [JSON.stringify(rows.slice(i, i + BATCH))]);
}

/** Directories, repositories and repomd.xml file details, as scan-master stores them. */
export async function loadMaster(db: Db, world: WorldFile): Promise<Pick<LoadCounts, 'directories' | 'repositories' | 'fileDetails'>> {
  return db.transaction(async (tx) => {
    const cats = new Map((await tx.query<{ id: number; name: string }>('SELECT id, name FROM category')).rows.map((r) => [r.name, r.id]));
    let directories = 0;
    for (const c of world.categories) {
      const id = cats.get(c.name);
      if (id === undefined) throw new Error(`category "${c.name}" of the world is not in the config`);
      await insertJson(
        tx,
        `INSERT INTO directory (category_id, name, readable, ctime, files)
         SELECT r.category_id, r.name, r.readable, r.ctime, r.files FROM jsonb_to_recordset($1::jsonb) AS r(category_id integer, name text, readable boolean, ctime bigint, files jsonb)
         ON CONFLICT (category_id, name) DO UPDATE SET readable = EXCLUDED.readable, ctime = EXCLUDED.ctime, files = EXCLUDED.files`,
        c.directories.map((d) => ({ category_id: id, name: d.name, readable: d.readable, ctime: d.ctime, files: d.files })),
      );
      directories += c.directories.length;
    }
    const dirId = new Map((await tx.query<{ id: number; category_id: number; name: string }>('SELECT id, category_id, name FROM directory')).rows.map((r) => [`${r.category_id}\0${r.name}`, r.id]));
    const idOf = (cat: string, name: string) => {
      const id = dirId.get(`${cats.get(cat)}\0${name}`);
      if (id === undefined) throw new Error(`world.json: directory ${cat}/${name} missing`);
      return id;
    };
    await insertJson(
      tx,
      `INSERT INTO repository (prefix, arch, category_id, directory_id)
       SELECT r.prefix, r.arch, r.category_id, r.directory_id FROM jsonb_to_recordset($1::jsonb) AS r(prefix text, arch text, category_id integer, directory_id integer)
       ON CONFLICT (prefix, arch) DO UPDATE SET category_id = EXCLUDED.category_id, directory_id = EXCLUDED.directory_id`,
      world.repos.map((r) => ({ prefix: r.prefix, arch: r.arch, category_id: cats.get(r.category), directory_id: idOf(r.category, r.path) })),
    );
    // Repositories that change at every push carry two older versions: metalink alternates.
    const rng = new Rng(world.seed).fork('alternates');
    const details: unknown[] = [];
    const now = Date.now();
    for (const r of world.repos) {
      const dir = idOf(r.category, `${r.path}/repodata`);
      const often = /^(updates|testing|rawhide)/.test(r.kind);
      for (let back = often ? 2 : 0; back >= 1; back--) {
        details.push({ directory_id: dir, filename: 'repomd.xml', size: r.repomd.size - back, md5: rng.hex(16), sha1: rng.hex(20), sha256: rng.hex(32), sha512: rng.hex(64), timestamp: r.repomd.timestamp - back * 86_400 + 3600, created_at: new Date(now - back * 86_400_000 + 3_600_000).toISOString() });
      }
      details.push({ directory_id: dir, filename: 'repomd.xml', ...r.repomd, created_at: new Date(now).toISOString() });
    }
    await insertJson(
      tx,
      `INSERT INTO file_detail (directory_id, filename, size, md5, sha1, sha256, sha512, "timestamp", created_at)
       SELECT r.directory_id, r.filename, r.size, r.md5, r.sha1, r.sha256, r.sha512, r."timestamp", r.created_at
         FROM jsonb_to_recordset($1::jsonb) AS r(directory_id integer, filename text, size bigint, md5 text, sha1 text, sha256 text, sha512 text, "timestamp" bigint, created_at timestamptz)`,
      details,
    );
    return { directories, repositories: world.repos.length, fileDetails: details.length };
  });
}

/** Host crawl columns and host_category_dir rows; ages are relative to `now`. */
export async function loadCrawlState(db: Db, crawl: CrawlState, now: Date): Promise<number> {
  const at = (agoS: number | null) => (agoS === null ? null : new Date(now.getTime() - agoS * 1000).toISOString());
  return db.transaction(async (tx) => {
    await insertJson(
      tx,
      `UPDATE host h SET crawl_failures = r.crawl_failures, auto_disabled = r.auto_disabled, disable_reason = r.disable_reason,
              last_crawled = r.last_crawled, last_checked_in = r.last_checked_in, last_crawl_method = r.method,
              reachable_ipv4 = r.reachable_ipv4, reachable_ipv6 = r.reachable_ipv6
         FROM jsonb_to_recordset($1::jsonb) AS r(name text, crawl_failures integer, auto_disabled boolean, disable_reason text,
              last_crawled timestamptz, last_checked_in timestamptz, method text, reachable_ipv4 boolean, reachable_ipv6 boolean)
        WHERE h.name = r.name`,
      crawl.hosts.map((h) => ({
        name: h.host, crawl_failures: h.crawlFailures, auto_disabled: h.autoDisabled, disable_reason: h.disableReason,
        last_crawled: at(h.lastCrawledAgoS), last_checked_in: at(h.lastCheckedInAgoS), method: h.method, reachable_ipv4: h.reachableIpv4, reachable_ipv6: h.reachableIpv6,
      })),
    );
    const hc = new Map(
      (await tx.query<{ id: number; host: string; category: string }>('SELECT hc.id, h.name AS host, c.name AS category FROM host_category hc JOIN host h ON h.id = hc.host_id JOIN category c ON c.id = hc.category_id')).rows.map((r) => [`${r.host}\0${r.category}`, r.id]),
    );
    const dirs = new Map((await tx.query<{ id: number; category: string; name: string }>('SELECT d.id, c.name AS category, d.name FROM directory d JOIN category c ON c.id = d.category_id')).rows.map((r) => [`${r.category}\0${r.name}`, r.id]));
    const rows: unknown[] = [];
    for (const [host, category, dir, up, ago, reason] of crawl.dirs) {
      const hcId = hc.get(`${host}\0${category}`);
      const dirId = dirs.get(`${category}\0${dir}`);
      if (hcId === undefined || dirId === undefined) continue;
      rows.push({ host_category_id: hcId, directory_id: dirId, up2date: up === 1, checked_at: at(ago), reason });
    }
    await insertJson(
      tx,
      `INSERT INTO host_category_dir (host_category_id, directory_id, up2date, checked_at, reason)
       SELECT r.host_category_id, r.directory_id, r.up2date, r.checked_at, r.reason
         FROM jsonb_to_recordset($1::jsonb) AS r(host_category_id integer, directory_id integer, up2date boolean, checked_at timestamptz, reason text)
       ON CONFLICT (host_category_id, directory_id) DO UPDATE SET up2date = EXCLUDED.up2date, checked_at = EXCLUDED.checked_at, reason = EXCLUDED.reason`,
      rows,
    );
    return rows.length;
  });
}
