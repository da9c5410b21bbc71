// The last-sync change feed: per category and per top-level tree (releases,
// updates, development/rawhide, …) the newest change scan-master saw, emitted as
// status/changes.json + changes.txt, and the decision `mirrorsmith last-sync`
// makes from it: "has anything changed in the last DELTA seconds?".
import type { Queryable } from '../core/db.ts';
import type { Emitter } from '../core/generation.ts';

export interface TreeChange {
  /** Path below the category top: one or two components, e.g. `updates`, `development/rawhide`. */
  tree: string;
  /** Seconds since the epoch of the newest change scan-master saw under it (see loadChanges). */
  lastChange: number;
}

export interface CategoryChange {
  name: string;
  topdir: string;
  lastChange: number;
  trees: TreeChange[];
}

export interface ChangeFeed {
  categories: CategoryChange[];
}

/**
 * One row per readable master directory with the newest change scan-master
 * recorded for it. The directory's ctime alone misses a file rewritten in place
 * (the directory entry does not change), so it is the newest of: the ctime; the
 * newest file time in the stored short file list (mtime from a walk or rsync,
 * ctime from a fullfiletimelist; a rewritten file is the newest, so it is always
 * in the short list); repomd.xml's own <timestamp>; and when a repomd.xml or
 * checksum file got a new hash, the time scan-master first saw it (that catches
 * a replacement that kept size and mtime). A size change with no newer time
 * anywhere carries no time and is not counted.
 */
export async function loadChanges(db: Queryable): Promise<ChangeFeed> {
  const { rows } = await db.query<{ name: string; topdir: string; dir: string; changed: string | number }>(
    // Aggregates joined once rather than subqueries per directory (22.8k directories on
    // Postgres: 0.12 s against 0.6 s; the ctime-only query took 0.08 s).
    `WITH per_file AS (
       SELECT directory_id, filename, max(COALESCE("timestamp", 0)) AS ts, count(*) AS versions, max(created_at) AS newest
         FROM file_detail GROUP BY 1, 2),
     per_dir AS (
       SELECT directory_id, max(GREATEST(CASE WHEN filename = 'repomd.xml' THEN ts ELSE 0 END,
                                         CASE WHEN versions > 1 THEN floor(extract(epoch FROM newest))::bigint ELSE 0 END)) AS t
         FROM per_file GROUP BY 1)
     SELECT c.name, c.topdir, d.name AS dir,
            GREATEST(d.ctime, COALESCE((SELECT max((f->>'mtime')::bigint) FROM jsonb_array_elements(d.files) f), 0), COALESCE(per_dir.t, 0)) AS changed
       FROM directory d JOIN category c ON c.id = d.category_id LEFT JOIN per_dir ON per_dir.directory_id = d.id
      WHERE d.readable ORDER BY c.name, d.name`,
  );
  return { categories: computeChanges(rows.map((r) => ({ name: r.name, topdir: r.topdir, dir: r.dir, changedAt: Number(r.changed) }))) };
}

/** Pure: folds per-directory change times into per-category and per-tree maxima, sorted. */
export function computeChanges(rows: Array<{ name: string; topdir: string; dir: string; changedAt: number }>): CategoryChange[] {
  const cats = new Map<string, { topdir: string; last: number; trees: Map<string, number> }>();
  for (const r of rows) {
    const c = cats.get(r.name) ?? { topdir: r.topdir, last: 0, trees: new Map<string, number>() };
    cats.set(r.name, c);
    c.last = Math.max(c.last, r.changedAt);
    const parts = r.dir.split('/').filter(Boolean);
    for (const depth of [1, 2]) {
      if (parts.length < depth) continue;
      const tree = parts.slice(0, depth).join('/');
      c.trees.set(tree, Math.max(c.trees.get(tree) ?? 0, r.changedAt));
    }
  }
  return [...cats.entries()]
    .map(([name, c]) => ({ name, topdir: c.topdir, lastChange: c.last, trees: [...c.trees.entries()].map(([tree, lastChange]) => ({ tree, lastChange })).sort((a, b) => a.tree.localeCompare(b.tree)) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function renderChangesText(feed: ChangeFeed): string {
  const lines = ['# last change seen on the master, per category and tree: epoch-seconds ISO-time category[/tree]'];
  for (const c of feed.categories) {
    lines.push(`${c.lastChange} ${iso(c.lastChange)} ${c.topdir}`);
    for (const t of c.trees) lines.push(`${t.lastChange} ${iso(t.lastChange)} ${c.topdir}/${t.tree}`);
  }
  return lines.join('\n') + '\n';
}

const iso = (s: number) => new Date(s * 1000).toISOString().replace(/\.000Z$/, 'Z');

export const changesEmitter: Emitter = {
  name: 'changes',
  async emit(ctx, gen) {
    const feed = await loadChanges(ctx.db);
    gen.write('status/changes.json', JSON.stringify(feed, null, 2) + '\n');
    gen.write('status/changes.txt', renderChangesText(feed));
    return { counts: { changeFeedCategories: feed.categories.length } };
  },
};

export interface LastSyncQuery {
  /** Category name or topdir; all categories when absent. */
  category?: string;
  /** Tree below the category top (`updates`, `development/rawhide`); matched in every selected category. */
  tree?: string;
  deltaSeconds: number;
  now: Date;
}

export type LastSyncAnswer = { code: 0 | 1; message: string; matched: Array<{ what: string; lastChange: number }> } | { code: 2; message: string };

/** 0 = changed within delta, 1 = nothing changed, 2 = cannot tell (unknown category/tree). */
export function decideLastSync(feed: ChangeFeed, q: LastSyncQuery): LastSyncAnswer {
  const cats = q.category ? feed.categories.filter((c) => c.name === q.category || c.topdir === q.category) : feed.categories;
  if (q.category && cats.length === 0) return { code: 2, message: `unknown category ${JSON.stringify(q.category)} (known: ${feed.categories.map((c) => c.name).join(', ') || 'none'})` };
  const matched: Array<{ what: string; lastChange: number }> = [];
  for (const c of cats) {
    if (!q.tree) matched.push({ what: c.name, lastChange: c.lastChange });
    else for (const t of c.trees.filter((t) => t.tree === q.tree)) matched.push({ what: `${c.name}/${t.tree}`, lastChange: t.lastChange });
  }
  if (matched.length === 0) return { code: 2, message: `no tree ${JSON.stringify(q.tree)} in ${q.category ?? 'any category'}` };
  const since = q.now.getTime() / 1000 - q.deltaSeconds;
  const changed = matched.filter((m) => m.lastChange >= since);
  return changed.length
    ? { code: 0, matched, message: `changed within the last ${q.deltaSeconds} s: ${changed.map((m) => `${m.what} at ${iso(m.lastChange)}`).join(', ')}` }
    : { code: 1, matched, message: `nothing changed in the last ${q.deltaSeconds} s (newest: ${matched.map((m) => `${m.what} ${iso(m.lastChange)}`).join(', ')})` };
}
