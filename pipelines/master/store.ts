// Database side of the scan: what the previous scan stored, and applying a new
// scan in one transaction that writes only what changed (an unchanged tree
// rescans without rewriting a row).
import { z } from 'zod';
import { insertRows, type Db, type Queryable } from '../core/db.ts';
import type { FileDetail } from './details.ts';
import { sameContent } from './details.ts';
import type { DirRow, FileEntry, StoredDir } from './tree.ts';
import { rowChanged } from './tree.ts';

export interface CategoryState {
  id: number;
  /** Epoch seconds when the last successful scan started (null: never scanned). */
  lastScanStarted: number | null;
  /** What the last fullfiletimelist scan saw, when it can vouch for an unchanged list (see scan.ts). */
  scanDigest: ScanDigest | null;
}

/** category.scan_digest: the last scan's digests and the figures an unchanged rescan repeats. */
const ScanDigestSchema = z.object({
  /** sha256 of how the tree was read, the list's bytes (if any) and the category config. */
  key: z.string(),
  /** Every repo/arch the rules mapped (a clash with another category's would change the result). */
  repoKeys: z.array(z.string()),
  /** dirStateDigest of the directories' modes and ctimes. */
  dirs: z.string(),
  directories: z.number(),
  files: z.number(),
  repositories: z.number(),
  unmatched: z.array(z.string()),
});
export type ScanDigest = z.infer<typeof ScanDigestSchema>;

/** Upserts the category row (normally synced from config at startup) and reads its scan state. */
export async function ensureCategory(db: Queryable, name: string, topdir: string): Promise<CategoryState> {
  const { rows } = await db.query<{ id: number; started: number | null; digest: unknown }>(
    `INSERT INTO category (name, topdir) VALUES ($1, $2)
     ON CONFLICT (name) DO UPDATE SET topdir = EXCLUDED.topdir
     RETURNING id, floor(extract(epoch FROM scan_started_at))::bigint AS started, scan_digest AS digest`,
    [name, topdir],
  );
  // A digest of another shape (an older version wrote it) is no digest: the scan runs in full.
  const digest = ScanDigestSchema.safeParse(rows[0]!.digest);
  return { id: rows[0]!.id, lastScanStarted: rows[0]!.started, scanDigest: digest.success ? digest.data : null };
}

/**
 * The previous scan's directories: id, name, readable and ctime, without their
 * file lists (files: null). A no-change rescan compares ctimes; converting
 * 30,000 jsonb lists to text cost more than the whole walk it saves. The lists
 * later steps read come from loadStoredFiles.
 */
export async function loadDirectories(db: Queryable, categoryId: number): Promise<Map<string, StoredDir>> {
  // One text value instead of 30,000 rows: row-by-row decoding (PGlite above all)
  // costs more than the walk it saves. Names hold no control characters (they are
  // stored escaped), so tab and newline separate; the name comes last.
  const { rows } = await db.query<{ t: string | null }>(
    `SELECT string_agg(id || E'\t' || ctime || E'\t' || (CASE WHEN readable THEN 1 ELSE 0 END) || E'\t' || name, E'\n') AS t
       FROM directory WHERE category_id = $1`,
    [categoryId],
  );
  const out = new Map<string, StoredDir>();
  const text = rows[0]?.t ?? '';
  let pos = 0;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    const t1 = text.indexOf('\t', pos);
    const t2 = text.indexOf('\t', t1 + 1);
    const t3 = text.indexOf('\t', t2 + 1);
    const name = text.slice(t3 + 1, nl);
    out.set(name, { id: Number(text.slice(pos, t1)), name, ctime: Number(text.slice(t1 + 1, t2)), readable: text[t2 + 1] === '1', files: null });
    pos = nl + 1;
  }
  return out;
}

/** Fills in the stored file lists of some directories (not yet loaded ones only). */
export async function loadStoredFiles(db: Queryable, previous: Map<string, StoredDir>, names: readonly string[]): Promise<void> {
  const ids = names.map((n) => previous.get(n)).filter((p): p is StoredDir => p !== undefined && p.files === null).map((p) => p.id);
  for (let i = 0; i < ids.length; i += 10 * CHUNK) {
    const { rows } = await db.query<{ j: string }>(`SELECT coalesce(json_agg(json_build_array(id, files))::text, '[]') AS j FROM directory WHERE id = ANY($1::int[])`, [
      ids.slice(i, i + 10 * CHUNK),
    ]);
    setFiles(previous, JSON.parse(rows[0]!.j) as Array<[number, FileEntry[]]>);
  }
}

function setFiles(dirs: Map<string, StoredDir>, lists: Array<[number, FileEntry[]]>): void {
  const byId = new Map<number, StoredDir>();
  for (const d of dirs.values()) byId.set(d.id, d);
  for (const [id, files] of lists) {
    const d = byId.get(id);
    if (d) d.files = files;
  }
}

export interface CurrentDetail extends FileDetail {
  dir: string;
}

/** The newest file_detail per (directory, file) of a category, keyed `dir\0file`. */
export async function loadCurrentDetails(db: Queryable, categoryId: number): Promise<Map<string, CurrentDetail>> {
  const { rows } = await db.query<CurrentDetail>(
    `SELECT DISTINCT ON (fd.directory_id, fd.filename) d.name AS dir, fd.filename, fd.size, fd.md5, fd.sha1, fd.sha256, fd.sha512, fd."timestamp"
       FROM file_detail fd JOIN directory d ON d.id = fd.directory_id
      WHERE d.category_id = $1
      ORDER BY fd.directory_id, fd.filename, fd.created_at DESC, fd.id DESC`,
    [categoryId],
  );
  return new Map(rows.map((r) => [detailKey(r.dir, r.filename), r]));
}

export const detailKey = (dir: string, file: string) => `${dir}\0${file}`;

export interface DesiredRepo {
  prefix: string;
  arch: string;
  dir: string;
  disabled: boolean;
  error: string | null;
}

export interface ApplyInput {
  categoryId: number;
  rows: DirRow[];
  previous: ReadonlyMap<string, StoredDir>;
  repos: DesiredRepo[];
  /** Details computed this scan, per directory name. */
  details: Array<{ dir: string; detail: FileDetail }>;
  retentionDays: number;
  scanStarted: Date;
  source: string;
  /** Stored for the next scan to compare; null clears it (an rsync listing, or a scan that cannot vouch). */
  digest: ScanDigest | null;
  /** A walk's directory names, for the next walk to lstat without reading the directory table. */
  dirNames: string[] | null;
}

export interface ApplyCounts {
  dirsInserted: number;
  dirsUpdated: number;
  dirsDeleted: number;
  reposInserted: number;
  reposUpdated: number;
  reposDeleted: number;
  detailsAdded: number;
  detailsPruned: number;
}

const CHUNK = 2000;

const DIR_COLUMNS = [
  { name: 'category_id', type: 'integer' },
  { name: 'name', type: 'text' },
  { name: 'readable', type: 'boolean' },
  { name: 'ctime', type: 'bigint' },
  { name: 'files', type: 'jsonb' },
] as const;

/** Applies one category's scan in a single transaction. */
export async function applyScan(db: Db, input: ApplyInput): Promise<ApplyCounts> {
  return db.transaction(async (tx) => {
    const counts: ApplyCounts = { dirsInserted: 0, dirsUpdated: 0, dirsDeleted: 0, reposInserted: 0, reposUpdated: 0, reposDeleted: 0, detailsAdded: 0, detailsPruned: 0 };
    const { categoryId, rows, previous } = input;
    const seen = new Set(rows.map((r) => r.name));

    // Gone from the master: deleted with their up-to-date rows, repositories and details (cascade).
    const gone = [...previous.values()].filter((p) => !seen.has(p.name)).map((p) => p.id);
    for (let i = 0; i < gone.length; i += CHUNK) {
      const r = await tx.query('DELETE FROM directory WHERE id = ANY($1::int[])', [gone.slice(i, i + CHUNK)]);
      counts.dirsDeleted += r.rowCount;
    }
    const inserts = rows.filter((r) => !previous.has(r.name));
    const updates = rows.filter((r) => previous.has(r.name) && rowChanged(r, previous.get(r.name)));
    const ids = new Map<string, number>([...previous.values()].filter((p) => seen.has(p.name)).map((p) => [p.name, p.id]));
    // New rows go in bulk, without RETURNING: only the few directories that
    // repositories and file details point at need their ids, read back below.
    counts.dirsInserted += await insertRows(tx, 'directory', DIR_COLUMNS, inserts.map((r) => [categoryId, r.name, r.readable, r.ctime, r.files ?? []]));
    const inserted = new Set(inserts.map((r) => r.name));
    const wantIds = [...new Set([...input.repos.map((r) => r.dir), ...input.details.map((d) => d.dir)])].filter((n) => inserted.has(n));
    for (let i = 0; i < wantIds.length; i += CHUNK) {
      const r = await tx.query<{ id: number; name: string }>('SELECT id, name FROM directory WHERE category_id = $1 AND name = ANY($2::text[])', [categoryId, wantIds.slice(i, i + CHUNK)]);
      for (const f of r.rows) ids.set(f.name, f.id);
    }
    for (let i = 0; i < updates.length; i += CHUNK) {
      // files: null (not loaded, unchanged) is left out of the JSON and keeps the stored list.
      const chunk = updates.slice(i, i + CHUNK).map((r) => ({ ...r, files: r.files ?? undefined, id: previous.get(r.name)!.id }));
      const r = await tx.query(
        `UPDATE directory d SET readable = r.readable, ctime = r.ctime, files = coalesce(r.files, d.files)
           FROM jsonb_to_recordset($1::jsonb) AS r(id integer, readable boolean, ctime bigint, files jsonb)
          WHERE d.id = r.id`,
        [JSON.stringify(chunk)],
      );
      counts.dirsUpdated += r.rowCount;
    }

    await applyRepos(tx, categoryId, input.repos, ids, counts);
    await applyDetails(tx, categoryId, input.details, ids, input.retentionDays, counts);

    await tx.query(`UPDATE category SET scan_started_at = $2, scanned_at = now(), scan_source = $3, scan_error = NULL, scan_digest = $4::jsonb, scan_dirs = $5 WHERE id = $1`, [
      categoryId,
      input.scanStarted,
      input.source,
      input.digest === null ? null : JSON.stringify(input.digest),
      input.digest === null || input.dirNames === null ? null : input.dirNames.join('\n'),
    ]);
    return counts;
  });
}

/** The directory names the last vouching walk stored (names are escaped: no newlines). */
export async function loadScanDirNames(db: Queryable, categoryId: number): Promise<string[] | null> {
  const { rows } = await db.query<{ t: string | null }>('SELECT scan_dirs AS t FROM category WHERE id = $1', [categoryId]);
  const t = rows[0]?.t;
  return t === null || t === undefined ? null : t.split('\n');
}

/**
 * Records a scan that found the tree as the previous one left it (an unchanged
 * fullfiletimelist): no directory, repository or detail row is written; only
 * history past the window is pruned, as every scan does.
 */
export async function recordUnchangedScan(db: Db, input: { categoryId: number; retentionDays: number; scanStarted: Date; source: string }): Promise<ApplyCounts> {
  return db.transaction(async (tx) => {
    const counts: ApplyCounts = { dirsInserted: 0, dirsUpdated: 0, dirsDeleted: 0, reposInserted: 0, reposUpdated: 0, reposDeleted: 0, detailsAdded: 0, detailsPruned: 0 };
    counts.detailsPruned = await pruneDetails(tx, input.categoryId, input.retentionDays);
    await tx.query(`UPDATE category SET scan_started_at = $2, scanned_at = now(), scan_source = $3, scan_error = NULL WHERE id = $1`, [input.categoryId, input.scanStarted, input.source]);
    return counts;
  });
}

async function applyRepos(tx: Queryable, categoryId: number, repos: DesiredRepo[], ids: Map<string, number>, counts: ApplyCounts): Promise<void> {
  const { rows: existing } = await tx.query<{ id: number; prefix: string; arch: string; directory_id: number; disabled: boolean; error: string | null }>(
    'SELECT id, prefix, arch, directory_id, disabled, error FROM repository WHERE category_id = $1',
    [categoryId],
  );
  const key = (p: string, a: string) => `${p}\0${a}`;
  const wanted = new Map(repos.map((r) => [key(r.prefix, r.arch), r]));
  const stale = existing.filter((e) => !wanted.has(key(e.prefix, e.arch))).map((e) => e.id);
  if (stale.length) counts.reposDeleted += (await tx.query('DELETE FROM repository WHERE id = ANY($1::int[])', [stale])).rowCount;
  const have = new Map(existing.map((e) => [key(e.prefix, e.arch), e]));
  const inserts: Array<{ prefix: string; arch: string; directory_id: number; disabled: boolean; error: string | null }> = [];
  const updates: Array<{ id: number; directory_id: number; disabled: boolean; error: string | null }> = [];
  for (const r of repos) {
    const dirId = ids.get(r.dir);
    if (dirId === undefined) continue;
    const e = have.get(key(r.prefix, r.arch));
    if (!e) inserts.push({ prefix: r.prefix, arch: r.arch, directory_id: dirId, disabled: r.disabled, error: r.error });
    else if (e.directory_id !== dirId || e.disabled !== r.disabled || e.error !== r.error) updates.push({ id: e.id, directory_id: dirId, disabled: r.disabled, error: r.error });
  }
  // One statement per chunk, not per repository (1,148 single inserts cost half a second on PGlite).
  for (let i = 0; i < inserts.length; i += CHUNK) {
    const r = await tx.query(
      `INSERT INTO repository (prefix, arch, category_id, directory_id, disabled, error)
       SELECT r.prefix, r.arch, $1, r.directory_id, r.disabled, r.error FROM jsonb_to_recordset($2::jsonb) AS r(prefix text, arch text, directory_id integer, disabled boolean, error text)`,
      [categoryId, JSON.stringify(inserts.slice(i, i + CHUNK))],
    );
    counts.reposInserted += r.rowCount;
  }
  for (let i = 0; i < updates.length; i += CHUNK) {
    const r = await tx.query(
      `UPDATE repository p SET directory_id = r.directory_id, disabled = r.disabled, error = r.error
         FROM jsonb_to_recordset($1::jsonb) AS r(id integer, directory_id integer, disabled boolean, error text)
        WHERE p.id = r.id`,
      [JSON.stringify(updates.slice(i, i + CHUNK))],
    );
    counts.reposUpdated += r.rowCount;
  }
}

async function applyDetails(
  tx: Queryable,
  categoryId: number,
  details: ApplyInput['details'],
  ids: Map<string, number>,
  retentionDays: number,
  counts: ApplyCounts,
): Promise<void> {
  const current = details.length ? await loadCurrentDetails(tx, categoryId) : new Map<string, CurrentDetail>();
  const fresh = details.filter(({ dir, detail }) => {
    const c = current.get(detailKey(dir, detail.filename));
    return ids.has(dir) && !(c && sameContent(c, detail));
  });
  for (let i = 0; i < fresh.length; i += CHUNK) {
    const chunk = fresh.slice(i, i + CHUNK).map(({ dir, detail }) => ({ ...detail, directory_id: ids.get(dir)! }));
    const r = await tx.query(
      `INSERT INTO file_detail (directory_id, filename, size, md5, sha1, sha256, sha512, "timestamp")
       SELECT r.directory_id, r.filename, r.size, r.md5, r.sha1, r.sha256, r.sha512, r."timestamp"
         FROM jsonb_to_recordset($1::jsonb) AS r(directory_id integer, filename text, size bigint, md5 text, sha1 text, sha256 text, sha512 text, "timestamp" bigint)`,
      [JSON.stringify(chunk)],
    );
    counts.detailsAdded += r.rowCount;
  }
  counts.detailsPruned += await pruneDetails(tx, categoryId, retentionDays);
}

/**
 * History: the newest row per file always stays; an older one until the row that
 * replaced it is older than the window (so a fresh push keeps its predecessors).
 */
async function pruneDetails(tx: Queryable, categoryId: number, retentionDays: number): Promise<number> {
  const pruned = await tx.query(
    `DELETE FROM file_detail fd
      USING directory d
      WHERE d.id = fd.directory_id AND d.category_id = $1
        AND EXISTS (SELECT 1 FROM file_detail newer
                     WHERE newer.directory_id = fd.directory_id AND newer.filename = fd.filename
                       AND (newer.created_at, newer.id) > (fd.created_at, fd.id)
                       AND newer.created_at < now() - make_interval(secs => $2::double precision))`,
    [categoryId, retentionDays * 86400],
  );
  return pruned.rowCount;
}

/** Records that a category's scan failed; its directories stay as they were. */
export async function recordScanError(db: Queryable, categoryId: number, message: string): Promise<void> {
  await db.query('UPDATE category SET scan_error = $2 WHERE id = $1', [categoryId, message]);
}
