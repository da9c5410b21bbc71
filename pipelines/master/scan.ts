// Scanning one category of the master tree: list it (fullfiletimelist first when
// present and sound, else a walk or an rsync listing), build the directory
// rows, map repositories by the configured rules, hash what changed, and apply
// it all in one transaction. Returns figures; per-directory problems are data.
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { resolvePath, type CategoryConfig } from '../core/config.ts';
import type { Db } from '../core/db.ts';
import type { Logger } from '../core/log.ts';
import type { Failure } from '../core/types.ts';
import { parseChecksumFile, repomdDetail, type FileDetail } from './details.ts';
import { fileTimeListParser, listedDirectories, type ListEntry } from './listing.ts';
import { baseName, joinName } from './names.ts';
import { compileRules, mapRepository } from './rules.ts';
import { localFileUnreadable, localTopFiles, readLocalFile, readLocalFilePieces, readLocalFiles, rsyncFetch, rsyncList, rsyncTopFiles, statDirModes, walkLocal } from './sources.ts';
import { applyScan, detailKey, ensureCategory, loadCurrentDetails, loadDirectories, loadScanDirNames, loadStoredFiles, recordUnchangedScan, type ApplyCounts, type CategoryState, type DesiredRepo, type ScanDigest } from './store.ts';
import { buildDirRows, dirStateDigest, findChecksumFiles, findRepoDirs, makeExcluder, rowChanged, scanBuilder, type DirScan, type FileEntry, type StoredDir } from './tree.ts';

export type SourceKind = 'walk' | 'rsync' | 'fullfiletimelist';

export interface ScanCategoryOptions {
  db: Db;
  category: CategoryConfig;
  /** Directory a local source's relative `path` is resolved against (the config file's). */
  baseDir: string;
  retentionDays: number;
  log?: Logger;
  signal?: AbortSignal;
  /** Directories listed / files read at once (default 16). */
  concurrency?: number;
  /** Per rsync invocation (default 10 minutes). */
  timeoutMs?: number;
  /** `listing` ignores a fullfiletimelist; `auto` (default) uses it when present and sound. */
  prefer?: 'auto' | 'listing';
  /** Compute everything, write nothing. */
  dryRun?: boolean;
  /**
   * List every directory even when its ctime is unchanged. A file rewritten in
   * place (no rename) changes no directory ctime; composes rename, so the
   * incremental walk is the default.
   */
  fullWalk?: boolean;
}

export interface ScanFigures {
  category: string;
  source: SourceKind;
  directories: number;
  /** Directories actually listed (a no-change local rescan lists none). */
  listedDirs: number;
  /**
   * The fullfiletimelist (or, walking, the set of directories), the config and
   * every directory's mode and ctime were those of the previous scan: nothing
   * was parsed, read from the directory table or written (the figures are the
   * previous scan's).
   */
  unchanged: boolean;
  /** Files the listing saw (in the directories listed; a whole list or rsync listing sees all). */
  files: number;
  repositories: number;
  /** Directories with repodata/repomd.xml that no rule maps (reported, not guessed). */
  unmatched: string[];
  filesRead: number;
  counts: ApplyCounts | null;
  failures: Failure[];
  notes: string[];
  /** load = reading the previous scan from the database; list = the source. */
  ms: { load: number; list: number; hash: number; store: number; total: number };
}

interface Source {
  kind: 'local' | 'rsync';
  /** Local: absolute path of the category top. rsync: URL of the category top ending in `/`. */
  where: string;
  read(names: string[]): Promise<Map<string, Buffer | Error>>;
  /** Regular files directly at the category top (where a fullfiletimelist sits). */
  topFiles(): Promise<Array<{ name: string; mtime: number }>>;
}

/** quick-fedora-mirror names its lists after the module: `fullfiletimelist-fedora`, `-epel`… */
export const FILE_TIME_LIST = /^fullfiletimelist-[A-Za-z0-9._-]+$/;

/**
 * Which fullfiletimelist the category uses: the configured name, none when
 * configured `false`, else the `fullfiletimelist-*` file at the category top
 * (the newest, should there be several). `all` are every such name found: they
 * describe the tree and are not content of it.
 */
export async function pickFileTimeList(category: CategoryConfig, topFiles: () => Promise<Array<{ name: string; mtime: number }>>): Promise<{ use: string | null; all: string[] }> {
  if (category.fullfiletimelist === false) return { use: null, all: [] };
  if (category.fullfiletimelist) return { use: category.fullfiletimelist, all: [category.fullfiletimelist] };
  const found = (await topFiles()).filter((f) => FILE_TIME_LIST.test(f.name)).sort((a, b) => b.mtime - a.mtime || (a.name < b.name ? -1 : 1));
  return { use: found[0]?.name ?? null, all: found.map((f) => f.name) };
}

export async function scanCategory(opts: ScanCategoryOptions): Promise<ScanFigures> {
  const t0 = performance.now();
  const { db, category } = opts;
  const concurrency = opts.concurrency ?? 16;
  const rsyncOpts = { timeoutMs: opts.timeoutMs ?? 600_000, signal: opts.signal };
  const scanStarted = new Date();
  const failures: Failure[] = [];
  const notes: string[] = [];
  const subject = (dir: string) => `${category.name}:${dir === '' ? '.' : dir}`;

  const state = await ensureCategory(db, category.name, category.topdir);
  const source = openSource(category, opts.baseDir, concurrency, rsyncOpts);
  const isExcluded = makeExcluder(category.excludes);
  const fileTimeList = await pickFileTimeList(category, source.topFiles);
  const listName = fileTimeList.use;
  const topFileExcludes = new Set(fileTimeList.all);
  const taken = await reposOfOtherCategories(db, state.id);

  // 0. A tree whose list bytes (or, walked, whose directory names), config and
  // directory modes and ctimes are the previous scan's: nothing to parse, load or
  // write (what makes a no-change rescan cheap). The list is held whole only
  // when fetched over rsync or when it may be unchanged; otherwise a local one is
  // read in pieces, never as one buffer and string.
  let list: { digest: string; bytes: Buffer | null } | null = null;
  if (listName && opts.prefer !== 'listing') {
    // A rescan that may find the list unchanged needs it whole (listedDirectories); other scans stream it.
    const mayBeUnchanged = state.scanDigest !== null && !opts.fullWalk && state.lastScanStarted !== null;
    if (source.kind === 'local' && mayBeUnchanged) {
      try {
        const bytes = readLocalFile(source.where, listName);
        list = { digest: createHash('sha256').update(bytes).digest('base64'), bytes };
      } catch (err) {
        opts.log?.debug(`no usable ${listName}: ${(err as Error).message}`);
      }
    } else if (source.kind === 'local') {
      // Nothing to compare with: the digest comes with the parse below, in one read.
      const unreadable = localFileUnreadable(source.where, listName);
      if (unreadable) opts.log?.debug(`no usable ${listName}: ${unreadable}`);
      else list = { digest: '', bytes: null };
    } else {
      const got = (await source.read([listName])).get(listName)!;
      if (got instanceof Error) opts.log?.debug(`no usable ${listName}: ${got.message}`);
      else list = { digest: createHash('sha256').update(got).digest('base64'), bytes: got };
    }
  }
  const walking = !list && source.kind === 'local';
  let key = list ? scanKey('fullfiletimelist', list.digest, category, fileTimeList.all) : walking ? scanKey('walk', null, category, fileTimeList.all) : '';
  const stored = state.scanDigest;
  // (A stored digest implies no repository error: only a scan without one stores it, and the shortcut writes nothing.)
  if (key && stored && stored.key === key && !opts.fullWalk && state.lastScanStarted !== null && !stored.repoKeys.some((k) => taken.has(k))) {
    // The directories to check: the list's (their ctimes come from it over rsync), or the names the last walk stored.
    let known: Map<string, DirScan> | null = null;
    if (list) {
      const dirs = list.bytes ? listedDirectories(list.bytes) : null;
      if (dirs) {
        known = new Map([['', { name: '', mode: null, ctime: 0, files: null }]]);
        for (const d of dirs) if (d.name === '' || !isExcluded(d.name)) known.set(d.name, { name: d.name, mode: null, ctime: d.time, files: null });
      }
    } else {
      const names = await loadScanDirNames(db, state.id);
      if (names) known = new Map(names.map((name) => [name, { name, mode: null, ctime: 0, files: null }]));
    }
    if (known) await statListedDirs(source, known, rsyncOpts);
    if (known && dirStateDigest(known).digest === stored.dirs) {
      const kindNow: SourceKind = list ? 'fullfiletimelist' : 'walk';
      const tList = performance.now();
      const counts = opts.dryRun ? null : await recordUnchangedScan(db, { categoryId: state.id, retentionDays: opts.retentionDays, scanStarted, source: kindNow });
      if (stored.unmatched.length) notes.push(`${category.name}: ${unmatchedMessage(stored.unmatched)}`);
      const tEnd = performance.now();
      return {
        category: category.name,
        source: kindNow,
        directories: stored.directories,
        listedDirs: 0,
        unchanged: true,
        files: stored.files,
        repositories: stored.repositories,
        unmatched: stored.unmatched,
        filesRead: 0,
        counts,
        failures,
        notes,
        ms: { load: 0, list: Math.round(tList - t0), hash: 0, store: Math.round(tEnd - tList), total: Math.round(tEnd - t0) },
      };
    }
  }

  const erroring = await reposWithErrors(db, state.id);
  const previous = await loadDirectories(db, state.id);
  // The stored lists read below without listing: repodata (which repositories
  // exist) and directories with file details (checksum files).
  const current = await loadCurrentDetails(db, state.id);
  const dirsWithDetails = new Set([...current.values()].map((c) => c.dir));
  await loadStoredFiles(db, previous, [...previous.keys()].filter((n) => baseName(n) === 'repodata' || dirsWithDetails.has(n)));
  const tLoad = performance.now();

  // 1. List the tree.
  let scans: Map<string, DirScan> | null = null;
  let kind: SourceKind = source.kind === 'local' ? 'walk' : 'rsync';
  let listedDirs = 0;
  // What the next scan compares, when this one is a sound list scan.
  let dirDigest: { digest: string; newest: number } | null = null;
  let newestListed = 0;
  if (list) {
    const listed = list;
    // A local list is parsed from disk in pieces even when a rescan read it whole to compare.
    if (source.kind === 'local') listed.bytes = null;
    const parse = async (shorten: boolean) => {
      newestListed = 0;
      const builder = scanBuilder(isExcluded, topFileExcludes, { shorten });
      const parser = fileTimeListParser(20, (e: ListEntry) => {
        if (e.time > newestListed) newestListed = e.time;
        builder.add(e);
      });
      // The digest of what is parsed is the one stored (the list may have been
      // replaced since it was read above).
      const h = createHash('sha256');
      const feed = (piece: Buffer) => {
        h.update(piece);
        parser.push(piece);
      };
      let readError: string | null = null;
      if (listed.bytes) feed(listed.bytes);
      else
        await readLocalFilePieces(source.where, listName!, feed, opts.signal).catch((err: Error) => {
          if (opts.signal?.aborted) throw err;
          readError = `cannot read it: ${err.message}`;
        });
      return { builder, issues: readError ? [readError] : parser.end(), digest: h.digest('base64') };
    };
    let parsed = await parse(true);
    // An unsorted list that cut a directory short before its checksum file came: again, whole.
    if (parsed.builder.lossy) parsed = await parse(false);
    listed.bytes = null;
    const { builder, issues, digest } = parsed;
    if (digest !== listed.digest) key = scanKey('fullfiletimelist', digest, category, fileTimeList.all);
    if (issues.length) {
      const msg = `${listName} unusable, ${source.kind === 'local' ? 'walking' : 'listing over rsync'} instead: ${issues.join('; ')}`;
      failures.push({ subject: subject(''), kind: 'parse', message: msg });
      opts.log?.warn(msg);
    } else {
      scans = builder.scans;
      kind = 'fullfiletimelist';
      // The list has no permissions; the bitflip needs them.
      await statListedDirs(source, scans, rsyncOpts);
      dirDigest = dirStateDigest(scans);
    }
  }
  if (!scans) {
    if (source.kind === 'local') {
      const walked = await walkLocal(source.where, {
        isExcluded,
        topFileExcludes,
        previous,
        trustBefore: opts.fullWalk ? 0 : (state.lastScanStarted ?? 0),
        concurrency,
        signal: opts.signal,
      });
      scans = walked.scans;
      listedDirs = walked.listed;
      for (const p of walked.problems) failures.push({ subject: subject(p.dir), kind: 'other', message: p.message });
      dirDigest = dirStateDigest(scans);
    } else {
      const builder = scanBuilder(isExcluded, topFileExcludes);
      const listing = await rsyncList(source.where, { ...rsyncOpts, onEntry: builder.add });
      scans = builder.scans;
      listedDirs = scans.size;
      for (const dir of listing.unlisted) {
        const s = scans.get(dir);
        if (s) s.unlisted = true;
        failures.push({ subject: subject(dir), kind: 'other', message: 'cannot list directory: the rsync server could not open it' });
      }
    }
  }
  // Files this scan's listing saw (a walk's unchanged directories are not listed).
  let files = 0;
  for (const s of scans.values()) files += s.fileCount ?? s.files?.length ?? 0;
  if (kind === 'fullfiletimelist' && !opts.fullWalk) reuseUnchanged(scans, previous, state.lastScanStarted ?? 0);
  // Directories listed again are compared with their stored lists, loaded now.
  await loadStoredFiles(db, previous, [...scans.values()].filter((s) => s.files !== null && previous.get(s.name)?.files === null).map((s) => s.name));
  const tList = performance.now();

  // 2. Rows, repositories.
  const rows = buildDirRows(scans, previous);
  const rowByName = new Map(rows.map((r) => [r.name, r]));
  const rules = compileRules(category.repoRules);
  const repos = new Map<string, DesiredRepo>();
  const unmatched: string[] = [];
  const mapped: Array<{ dir: string; m: NonNullable<ReturnType<typeof mapRepository>> }> = [];
  for (const dir of findRepoDirs(rows)) {
    const m = mapRepository(dir, rules);
    if (m) mapped.push({ dir, m });
    else unmatched.push(dir);
  }
  // Two directories claiming one repo/arch: the earlier rule wins (releases/41 over
  // a leftover development/41), then the name; the loser is reported.
  mapped.sort((a, b) => a.m.rule - b.m.rule || (a.dir < b.dir ? -1 : 1));
  for (const { dir, m } of mapped) {
    const key = `${m.prefix}/${m.arch}`;
    const other = taken.get(key);
    const clash = repos.get(key)?.dir ?? (other && `${other.category}:${await directoryName(db, other.directoryId)}`);
    if (clash !== undefined) {
      failures.push({ subject: subject(dir), kind: 'other', message: `repository ${key} is already mapped from ${clash}; fix the repo rules` });
      continue;
    }
    repos.set(key, { prefix: m.prefix, arch: m.arch, dir, disabled: m.disabled, error: null });
  }
  if (unmatched.length) {
    const msg = unmatchedMessage(unmatched);
    notes.push(`${category.name}: ${msg}`);
    opts.log?.warn(msg);
  }

  // 3. Hash what changed (or was never hashed, or failed last time).
  // Listings carry whole seconds: a file replaced by one of the same size in the
  // second the previous scan ran looks unchanged. Anything stamped at or after
  // that scan's start is hashed again (cheap: repomd.xml and checksum files only).
  const racyFrom = state.lastScanStarted ?? 0;
  const changed = (dir: string) => {
    const row = rowByName.get(dir)!;
    return rowChanged(row, previous.get(dir)) || row.ctime >= racyFrom || (row.files ?? []).some((f) => f.mtime >= racyFrom);
  };
  const wanted: Array<{ path: string; dir: string; repo?: DesiredRepo; checksum?: FileEntry }> = [];
  for (const repo of repos.values()) {
    const rd = joinName(repo.dir, 'repodata');
    if (changed(rd) || !current.has(detailKey(rd, 'repomd.xml')) || erroring.has(repo.dir)) wanted.push({ path: joinName(rd, 'repomd.xml'), dir: rd, repo });
  }
  for (const { dir, file } of findChecksumFiles(rows)) {
    if (changed(dir) || !dirsWithDetails.has(dir)) wanted.push({ path: joinName(dir, file.name), dir, checksum: file });
  }
  const contents = await source.read(wanted.map((w) => w.path));
  const details: Array<{ dir: string; detail: FileDetail }> = [];
  for (const w of wanted) {
    const got = contents.get(w.path)!;
    if (w.repo) {
      try {
        if (got instanceof Error) throw got;
        details.push({ dir: w.dir, detail: repomdDetail(got) });
      } catch (err) {
        w.repo.error = (err as Error).message;
        failures.push({ subject: subject(w.path), kind: 'parse', message: w.repo.error });
      }
    } else if (got instanceof Error) {
      failures.push({ subject: subject(w.path), kind: 'other', message: got.message });
    } else {
      const parsed = parseChecksumFile(got.toString('utf8'));
      if (parsed.skipped.length) notes.push(`${subject(w.path)}: ${parsed.skipped.length} unrecognised line(s), first ${parsed.skipped[0]}`);
      const listed = new Map((scans.get(w.dir)?.files ?? rowByName.get(w.dir)!.files ?? []).map((f) => [f.name, f]));
      for (const d of parsed.details) {
        const f = listed.get(d.filename);
        details.push({ dir: w.dir, detail: { ...d, size: d.size ?? f?.size ?? null, timestamp: f?.mtime ?? null } });
      }
    }
  }
  const tHash = performance.now();

  // 4. One transaction. A list scan vouches for the next one only when nothing in
  // it (list times, directory ctimes) is as new as this scan's start — a racy
  // second — and nothing failed (failures are retried by a full scan).
  const startedSec = Math.floor(scanStarted.getTime() / 1000);
  // File times count for the lists later steps hash from (repodata, checksum files).
  const newestFile = rows.reduce((n, r) => (r.files ?? []).reduce((m, f) => Math.max(m, f.mtime), n), 0);
  const digest: ScanDigest | null =
    dirDigest && newestListed < startedSec && newestFile < startedSec && dirDigest.newest < startedSec && failures.length === 0 && [...repos.values()].every((r) => r.error === null)
      ? { key, repoKeys: mapped.map(({ m }) => `${m.prefix}/${m.arch}`), dirs: dirDigest.digest, directories: rows.length, files, repositories: repos.size, unmatched }
      : null;
  const counts = opts.dryRun
    ? null
    : await applyScan(db, { categoryId: state.id, rows, previous, repos: [...repos.values()], details, retentionDays: opts.retentionDays, scanStarted, source: kind, digest, dirNames: kind === 'walk' ? rows.map((r) => r.name) : null });
  const tEnd = performance.now();
  return {
    category: category.name,
    source: kind,
    directories: rows.length,
    listedDirs,
    unchanged: false,
    files,
    repositories: repos.size,
    unmatched,
    filesRead: wanted.length,
    counts,
    failures,
    notes,
    ms: { load: Math.round(tLoad - t0), list: Math.round(tList - tLoad), hash: Math.round(tHash - tList), store: Math.round(tEnd - tHash), total: Math.round(tEnd - t0) },
  };
}

/**
 * A fullfiletimelist names every file with its ctime, so a directory whose ctime
 * is the stored one and none of whose files changed since the previous scan
 * started is unchanged: its stored row stands and its list is not rebuilt or
 * compared (what makes a no-change rescan from the list cheap). Racy ctimes (at
 * or after the previous scan's start) are always taken from the list.
 */
export function reuseUnchanged(scans: Map<string, DirScan>, previous: ReadonlyMap<string, StoredDir>, trustBefore: number): number {
  let reused = 0;
  for (const s of scans.values()) {
    const prev = previous.get(s.name);
    if (!prev || s.files === null || s.unlisted || prev.ctime !== s.ctime || s.ctime >= trustBefore) continue;
    if (s.files.some((f) => f.mtime >= trustBefore)) continue;
    s.files = null;
    reused++;
  }
  return reused;
}

/** Directory modes (and local ctimes) for the directories a list named: lstat locally, a directories-only listing over rsync. */
async function statListedDirs(source: Source, scans: Map<string, DirScan>, rsyncOpts: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
  if (source.kind === 'local') {
    await statDirModes(source.where, scans, rsyncOpts.signal);
    return;
  }
  const setMode = (e: { name: string; mode?: number }) => {
    const s = scans.get(e.name);
    if (s && e.mode !== undefined) s.mode = e.mode;
  };
  await rsyncList(source.where, { ...rsyncOpts, dirsOnly: true, onEntry: setMode });
}

/** What makes two scans comparable: how the tree was read, the list's bytes and everything else the rows depend on. */
function scanKey(how: SourceKind, listDigest: string | null, category: CategoryConfig, lists: readonly string[]): string {
  const config = { v: 2, how, topdir: category.topdir, source: category.source, excludes: category.excludes, rules: category.repoRules, lists: [...lists].sort() };
  const h = createHash('sha256').update(JSON.stringify(config));
  if (listDigest) h.update(listDigest);
  return h.digest('base64');
}

function unmatchedMessage(unmatched: readonly string[]): string {
  return `${unmatched.length} director${unmatched.length === 1 ? 'y has' : 'ies have'} repodata/repomd.xml but match no repo rule: ${unmatched.slice(0, 5).join(', ')}${unmatched.length > 5 ? ', …' : ''}`;
}

function openSource(category: CategoryConfig, baseDir: string, concurrency: number, rsyncOpts: { timeoutMs: number; signal?: AbortSignal }): Source {
  if (category.source.type === 'local') {
    const top = resolvePath({ baseDir }, `${category.source.path}/${category.topdir}`).replace(/\/+$/, '');
    return { kind: 'local', where: top, read: (names) => readLocalFiles(top, names, concurrency, rsyncOpts.signal), topFiles: async () => localTopFiles(top) };
  }
  const url = `${category.source.url.replace(/\/+$/, '')}/${category.topdir}/`;
  return { kind: 'rsync', where: url, read: (names) => rsyncFetch(url, names, rsyncOpts), topFiles: () => rsyncTopFiles(url, rsyncOpts) };
}

/** Repo/arch keys other categories map, to the category name (the directory is looked up on a clash only). */
async function reposOfOtherCategories(db: Db, categoryId: number): Promise<Map<string, { category: string; directoryId: number }>> {
  // No join with directory: on PGlite that join scanned every category's directories.
  const { rows } = await db.query<{ prefix: string; arch: string; category: string; directory_id: number }>(
    `SELECT r.prefix, r.arch, c.name AS category, r.directory_id FROM repository r JOIN category c ON c.id = r.category_id WHERE r.category_id <> $1`,
    [categoryId],
  );
  return new Map(rows.map((r) => [`${r.prefix}/${r.arch}`, { category: r.category, directoryId: r.directory_id }]));
}

async function directoryName(db: Db, id: number): Promise<string> {
  const { rows } = await db.query<{ name: string }>('SELECT name FROM directory WHERE id = $1', [id]);
  return rows[0]?.name ?? `#${id}`;
}

async function reposWithErrors(db: Db, categoryId: number): Promise<Set<string>> {
  const { rows } = await db.query<{ dir: string }>(
    'SELECT d.name AS dir FROM repository r JOIN directory d ON d.id = r.directory_id WHERE r.category_id = $1 AND r.error IS NOT NULL',
    [categoryId],
  );
  return new Set(rows.map((r) => r.dir));
}
