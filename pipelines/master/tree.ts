// The pure core of the scan: from what a source saw (directories with their mode,
// ctime and file list) to the rows stored per directory, the repositories found
// and the files whose details must be (re)computed.
import { createHash } from 'node:crypto';
import { baseName, joinName, parentName } from './names.ts';
import type { ListEntry } from './listing.ts';

export interface FileEntry {
  name: string;
  size: number;
  mtime: number;
}

/** One directory as a source saw it. */
export interface DirScan {
  name: string;
  /** Permission bits, or null when the source could not tell (inherits the parent's verdict). */
  mode: number | null;
  ctime: number;
  /**
   * Regular files in the directory; null = unchanged since the last scan (reuse
   * the stored list). A listing's builder may already have cut it to the short
   * list (see scanBuilder): then fileCount says how many there were.
   */
  files: FileEntry[] | null;
  fileCount?: number;
  /** The directory exists but could not be listed (permission denied…): never public. */
  unlisted?: boolean;
}

/** What the database holds for a directory from the previous scan. */
export interface StoredDir {
  id: number;
  name: string;
  readable: boolean;
  ctime: number;
  /**
   * The stored short file list; null when not loaded (a rescan loads only the
   * lists later steps read: repodata and file-detail directories, and those
   * listed again).
   */
  files: FileEntry[] | null;
}

/** A directory row as it should be after this scan. */
export interface DirRow {
  name: string;
  readable: boolean;
  ctime: number;
  /** null: unchanged since the previous scan and not loaded (the stored list stays). */
  files: FileEntry[] | null;
}

/** Above this many files a directory keeps only its newest few (as MirrorManager's umdl does). */
export const SHORT_LIST_THRESHOLD = 10;
export const SHORT_LIST_KEEP = 3;

/** Checksum files that sit beside images: Fedora's `*-CHECKSUM`, `SHA256SUMS`, `sha256sum.txt`… */
export const CHECKSUM_FILE = /(^|[-_.])CHECKSUMS?$|^(SHA(1|256|512)|MD5)SUMS$|^(sha(1|256|512)|md5)sums?\.txt$/;

/**
 * The short file list the crawler compares: everything for small directories;
 * for big ones the newest few plus the files later steps look for by name
 * (repomd.xml, checksum files), sorted by name so equal trees give equal rows.
 */
export function shortFileList(files: readonly FileEntry[], total = files.length): FileEntry[] {
  let keep: FileEntry[];
  if (total <= SHORT_LIST_THRESHOLD) {
    keep = [...files];
  } else {
    const newest = [...files].sort((a, b) => b.mtime - a.mtime || cmp(a.name, b.name)).slice(0, SHORT_LIST_KEEP);
    const named = files.filter((f) => f.name === 'repomd.xml' || CHECKSUM_FILE.test(f.name));
    keep = [...new Map([...newest, ...named].map((f) => [f.name, f])).values()];
  }
  return keep.sort((a, b) => cmp(a.name, b.name)).map((f) => ({ name: f.name, size: f.size, mtime: f.mtime }));
}

/** World-readable and searchable: what a mirror's rsync module (run as nobody) can serve. */
export function ownReadable(mode: number | null): boolean {
  return mode === null || (mode & 0o005) === 0o005;
}

/**
 * Builds the rows for all scanned directories. A directory is readable when it and
 * every parent are world-readable: a 0750 pre-bitflip tree and everything below it
 * is not. Directories are processed parents first (sorted), so the parent's verdict
 * is known.
 */
export function buildDirRows(scans: ReadonlyMap<string, DirScan>, previous: ReadonlyMap<string, StoredDir>): DirRow[] {
  const names = [...scans.keys()].sort(cmp);
  const readable = new Map<string, boolean>();
  const rows: DirRow[] = [];
  for (const name of names) {
    const s = scans.get(name)!;
    const parent = parentName(name);
    const parentOk = parent === null ? true : (readable.get(parent) ?? true);
    const ok = parentOk && !s.unlisted && ownReadable(s.mode);
    readable.set(name, ok);
    const files = s.files ? shortFileList(s.files, s.fileCount ?? s.files.length) : (previous.get(name)?.files ?? (previous.has(name) ? null : []));
    rows.push({ name, readable: ok, ctime: s.ctime, files });
  }
  return rows;
}

/** Whether a row differs from what is stored (only those are written). */
export function rowChanged(row: DirRow, stored: StoredDir | undefined): boolean {
  if (!stored) return true;
  if (row.readable !== stored.readable || row.ctime !== stored.ctime) return true;
  // A reused directory's list is the stored one; only a list read this scan can differ.
  return row.files !== null && (stored.files === null || !sameFiles(row.files, stored.files));
}

export function sameFiles(a: readonly FileEntry[], b: readonly FileEntry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.name !== y.name || x.size !== y.size || x.mtime !== y.mtime) return false;
  }
  return true;
}

/**
 * One digest of every directory's mode and ctime (what a list scan takes from
 * lstat or an rsync listing, not from the list), and the newest ctime among
 * them. Equal digests: no directory was added, removed, chmod'ed or changed.
 */
export function dirStateDigest(scans: ReadonlyMap<string, { mode: number | null; ctime: number }>): { digest: string; newest: number } {
  const names = [...scans.keys()].sort(cmp);
  const h = createHash('sha256');
  let newest = 0;
  let part = '';
  for (const [i, n] of names.entries()) {
    const s = scans.get(n)!;
    if (s.ctime > newest) newest = s.ctime;
    part += `${n}\0${s.mode ?? '-'}\0${s.ctime}\n`;
    // Fed in pieces: one update per directory costs more than the hashing.
    if (i % 1024 === 1023) {
      h.update(part);
      part = '';
    }
  }
  h.update(part);
  return { digest: h.digest('base64'), newest };
}

/** Directories holding `repodata/repomd.xml`: the candidates for repositories. */
export function findRepoDirs(rows: readonly DirRow[]): string[] {
  const out: string[] = [];
  for (const r of rows) {
    if (baseName(r.name) !== 'repodata') continue;
    if (!r.files?.some((f) => f.name === 'repomd.xml')) continue;
    const parent = parentName(r.name);
    if (parent !== null) out.push(parent);
  }
  return out.sort(cmp);
}

/** Checksum files per directory, from the rows' file lists. */
export function findChecksumFiles(rows: readonly DirRow[]): Array<{ dir: string; file: FileEntry }> {
  const out: Array<{ dir: string; file: FileEntry }> = [];
  for (const r of rows) for (const f of r.files ?? []) if (CHECKSUM_FILE.test(f.name)) out.push({ dir: r.name, file: f });
  return out;
}

/**
 * Turns a flat listing (rsync, fullfiletimelist) into directory scans. Symlinks
 * are not followed and not listed (a link is not content a mirror must carry;
 * following one can loop). Parents missing from a listing are implied.
 */
export function scansFromEntries(entries: Iterable<ListEntry>, isExcluded: (name: string) => boolean, topFileExcludes: ReadonlySet<string> = new Set()): Map<string, DirScan> {
  const builder = scanBuilder(isExcluded, topFileExcludes);
  for (const e of entries) builder.add(e);
  return builder.scans;
}

export interface ScanBuilder {
  add(e: ListEntry): void;
  scans: Map<string, DirScan>;
  /**
   * With `shorten`: a directory cut to its short list later got a checksum file
   * (its files came in more than one run: an unsorted listing), so the sizes
   * that file's entries take from the listing are lost. Build again without.
   */
  readonly lossy: boolean;
}

/**
 * The same, one entry at a time (a 400,000-line list is never held as
 * entries). `shorten`: when a listing moves on from a directory, its file list
 * is cut to the short list the row keeps (fileCount keeps the number), unless
 * it holds a checksum file, whose entries look up other files' sizes; a big
 * tree's 400,000 file entries are then never all in memory.
 */
const SHORTEN_ABOVE = 32;

export function scanBuilder(isExcluded: (name: string) => boolean, topFileExcludes: ReadonlySet<string> = new Set(), opts: { shorten?: boolean } = {}): ScanBuilder {
  const scans = new Map<string, DirScan>();
  let lossy = false;
  const ensure = (name: string): DirScan => {
    let s = scans.get(name);
    if (!s) {
      s = { name, mode: null, ctime: 0, files: [] };
      scans.set(name, s);
      const parent = parentName(name);
      if (parent !== null) ensure(parent);
    }
    return s;
  };
  ensure('');
  const shorten = (s: DirScan) => {
    const total = s.fileCount ?? s.files!.length;
    // Only big lists are worth cutting early (buildDirRows cuts the rest): sorting every small one twice costs more than it saves.
    if (total <= SHORT_LIST_THRESHOLD || s.files!.length <= SHORTEN_ABOVE) return;
    if (s.files!.some((f) => CHECKSUM_FILE.test(f.name))) return;
    s.fileCount = total;
    // Fresh copies of the few names kept: slices would hold the list's decoded text alive.
    s.files = shortFileList(s.files!, total).map((f) => ({ ...f, name: (' ' + f.name).slice(1) }));
  };
  // Listings come sorted, so files of one directory arrive together: the last
  // parent is remembered instead of looked up for each of 400,000 files.
  let lastParent: string | null = null;
  let lastScan: DirScan | null = null;
  const add = (e: ListEntry) => {
    if (e.name !== '' && isExcluded(e.name)) return;
    if (e.type === 'd') {
      const s = ensure(e.name);
      s.ctime = e.time;
      if (e.mode !== undefined) s.mode = e.mode;
    } else if (e.type === 'f') {
      const slash = e.name.lastIndexOf('/');
      const parent = slash < 0 ? '' : e.name.slice(0, slash);
      if (parent === '' && topFileExcludes.has(e.name)) return;
      if (parent !== lastParent) {
        if (opts.shorten && lastScan) shorten(lastScan);
        lastParent = parent;
        lastScan = ensure(parent);
      }
      const base = e.name.slice(slash + 1);
      if (lastScan!.fileCount !== undefined) {
        lastScan!.fileCount++;
        if (CHECKSUM_FILE.test(base)) lossy = true;
      }
      lastScan!.files!.push({ name: base, size: e.size, mtime: e.time });
    }
  };
  return {
    add,
    scans,
    get lossy() {
      return lossy;
    },
  };
}

/**
 * Exclude patterns from the config: a pattern without `/` matches any path
 * component (`.snapshot`, `*.~tmp~`); one with `/` matches the path from the
 * category top (`development/old/*`). `*` and `?` do not cross `/`.
 */
export function makeExcluder(patterns: readonly string[]): (name: string) => boolean {
  const clean = patterns.map((p) => p.replace(/^\/+|\/+$/g, '')).filter(Boolean);
  if (clean.length === 0) return () => false;
  // One regex per kind, tested once per name: this runs for every entry of a
  // 400,000-file listing, so no splitting into components.
  const component = clean.filter((p) => !p.includes('/')).map(globBody);
  const anchored = clean.filter((p) => p.includes('/')).map(globBody);
  const parts: string[] = [];
  if (component.length) parts.push(`(?:^|/)(?:${component.join('|')})(?:/|$)`);
  if (anchored.length) parts.push(`^(?:${anchored.join('|')})(?:/|$)`);
  const re = new RegExp(parts.join('|'));
  return (name) => re.test(name);
}

/** `*` and `?` do not cross `/`. */
function globBody(glob: string): string {
  return glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export { joinName };
