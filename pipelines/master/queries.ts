// Read side of the scan results, for the CLI (`repo list`, `dir ls`, `file show`)
// and for any stage that needs "which directory is repo X, and its repomd hashes".
import type { Queryable } from '../core/db.ts';
import type { FileEntry } from './tree.ts';

export interface RepoVersion {
  timestamp: number | null;
  size: number | null;
  sha256: string | null;
  createdAt: string;
}

export interface RepoRow {
  repo: string;
  arch: string;
  category: string;
  /** Path from the mirror root: `<topdir>/<dir>`. */
  path: string;
  /** Directory relative to the category top ('' = the top). */
  dir: string;
  readable: boolean;
  disabled: boolean;
  error: string | null;
  /** repomd.xml versions, newest first: [0] is current, the rest are alternates. */
  versions: RepoVersion[];
}

/** Name of the directory holding a repository's repomd.xml (its file_detail rows hang there). */
export const repodataDir = (dir: string) => (dir === '' ? 'repodata' : `${dir}/repodata`);

export async function listRepositories(db: Queryable, opts: { category?: string } = {}): Promise<RepoRow[]> {
  const { rows } = await db.query<Omit<RepoRow, 'versions'> & { versions: RepoVersion[] | null }>(
    `SELECT r.prefix AS repo, r.arch, c.name AS category,
            CASE WHEN d.name = '' THEN c.topdir ELSE c.topdir || '/' || d.name END AS path,
            d.name AS dir, d.readable, r.disabled, r.error,
            (SELECT json_agg(json_build_object('timestamp', fd."timestamp", 'size', fd.size, 'sha256', fd.sha256, 'createdAt', fd.created_at)
                             ORDER BY fd.created_at DESC, fd.id DESC)
               FROM file_detail fd JOIN directory rd ON rd.id = fd.directory_id
              WHERE rd.category_id = r.category_id AND fd.filename = 'repomd.xml'
                AND rd.name = CASE WHEN d.name = '' THEN 'repodata' ELSE d.name || '/repodata' END) AS versions
       FROM repository r JOIN category c ON c.id = r.category_id JOIN directory d ON d.id = r.directory_id
      WHERE ($1::text IS NULL OR c.name = $1)
      ORDER BY r.prefix, r.arch`,
    [opts.category ?? null],
  );
  return rows.map((r) => ({ ...r, versions: r.versions ?? [] }));
}

export interface DirInfo {
  category: string;
  topdir: string;
  dir: string;
  readable: boolean;
  ctime: number;
  files: FileEntry[];
  subdirs: Array<{ name: string; readable: boolean }>;
  repos: Array<{ repo: string; arch: string }>;
}

/** Resolves `<topdir>/<dir>` (a path from the mirror root) to its category and directory. */
export async function findDirectory(db: Queryable, mirrorPath: string): Promise<DirInfo | null> {
  const clean = mirrorPath.replace(/^\/+|\/+$/g, '');
  const { rows: cats } = await db.query<{ id: number; name: string; topdir: string }>('SELECT id, name, topdir FROM category ORDER BY length(topdir) DESC');
  for (const c of cats) {
    if (clean !== c.topdir && !clean.startsWith(c.topdir + '/')) continue;
    const dir = clean === c.topdir ? '' : clean.slice(c.topdir.length + 1);
    const { rows } = await db.query<{ id: number; readable: boolean; ctime: number; files: FileEntry[] }>(
      'SELECT id, readable, ctime, files FROM directory WHERE category_id = $1 AND name = $2',
      [c.id, dir],
    );
    const d = rows[0];
    if (!d) continue;
    const prefix = dir === '' ? '' : dir + '/';
    const { rows: subs } = await db.query<{ name: string; readable: boolean }>(
      `SELECT name, readable FROM directory WHERE category_id = $1 AND name <> '' AND starts_with(name, $2) AND position('/' IN substr(name, length($2) + 1)) = 0 ORDER BY name`,
      [c.id, prefix],
    );
    const { rows: repos } = await db.query<{ repo: string; arch: string }>('SELECT prefix AS repo, arch FROM repository WHERE directory_id = $1 ORDER BY prefix, arch', [d.id]);
    return { category: c.name, topdir: c.topdir, dir, readable: d.readable, ctime: d.ctime, files: d.files, subdirs: subs.map((s) => ({ name: s.name.slice(prefix.length), readable: s.readable })), repos };
  }
  return null;
}

export interface FileHistoryRow {
  size: number | null;
  md5: string | null;
  sha1: string | null;
  sha256: string | null;
  sha512: string | null;
  timestamp: number | null;
  createdAt: Date;
}

/** The detail history of one file (`<topdir>/<dir>/<file>`), newest first. */
export async function fileHistory(db: Queryable, mirrorPath: string): Promise<{ category: string; dir: string; file: string; history: FileHistoryRow[] } | null> {
  const clean = mirrorPath.replace(/^\/+|\/+$/g, '');
  const slash = clean.lastIndexOf('/');
  if (slash < 0) return null;
  const dirInfo = await findDirectory(db, clean.slice(0, slash));
  if (!dirInfo) return null;
  const file = clean.slice(slash + 1);
  const { rows } = await db.query<FileHistoryRow>(
    `SELECT fd.size, fd.md5, fd.sha1, fd.sha256, fd.sha512, fd."timestamp", fd.created_at AS "createdAt"
       FROM file_detail fd JOIN directory d ON d.id = fd.directory_id JOIN category c ON c.id = d.category_id
      WHERE c.name = $1 AND d.name = $2 AND fd.filename = $3
      ORDER BY fd.created_at DESC, fd.id DESC`,
    [dirInfo.category, dirInfo.dir, file],
  );
  return { category: dirInfo.category, dir: dirInfo.dir, file, history: rows };
}
