// The crawler's pure core: what the master holds, how a mirror's answers become
// per-directory verdicts, failure accounting, the outage guard, sharding and the
// politeness budget. No I/O here.
import { createHash } from 'node:crypto';

export interface MasterFile {
  name: string;
  size: number;
}

export interface MasterDir {
  id: number;
  /** Relative to the category top; '' or '.' is the top itself. */
  name: string;
  readable: boolean;
  ctime: number;
  files: MasterFile[];
}

export interface RepomdVersion {
  sha256: string | null;
  size: number | null;
}

export interface MasterRepo {
  id: number;
  prefix: string;
  arch: string;
  dirId: number;
  dirName: string;
  /** The `<dir>/repodata` directory row, when scan-master keeps one. */
  repodataDirId: number | null;
  /** repomd.xml versions, newest (current) first. */
  history: RepomdVersion[];
  /** A key repository: its propagation is sampled. */
  key: boolean;
}

export interface MasterCategory {
  id: number;
  name: string;
  dirs: MasterDir[];
  repos: MasterRepo[];
}

export interface Verdict {
  dirId: number;
  up2date: boolean;
  reason: string;
}

/** 0 current, 1 one push behind, 2, 3 = three or more behind; null unreachable/unknown. */
export type VersionsBehind = number | null;

export const normDir = (name: string): string => (name === '' || name === '.' ? '.' : name.replace(/^\.\//, '').replace(/\/+$/, ''));
export const joinDir = (dir: string, rel: string): string => (normDir(dir) === '.' ? rel : `${normDir(dir)}/${rel}`);

/** Which version of repomd.xml a sha256 is: 0 current, k pushes behind, or -1 none known. */
export function repomdIndex(history: readonly RepomdVersion[], sha256: string): number {
  return history.findIndex((v) => v.sha256 !== null && v.sha256.toLowerCase() === sha256.toLowerCase());
}

export function behindLabel(k: number): string {
  return k === 1 ? 'the previous push (-1)' : `${k} pushes old (-${k})`;
}

/** Verdict for a repository fetched over http(s)/ftp: sha256 compared with the history. */
export function repomdVerdict(repo: MasterRepo, fetched: { status: 'ok'; sha256: string; bytes: number } | { status: 'missing'; detail: string }): {
  up2date: boolean;
  reason: string;
  behind: VersionsBehind;
} {
  if (fetched.status === 'missing') return { up2date: false, reason: `repomd.xml missing (${fetched.detail})`, behind: null };
  const known = repo.history.filter((v) => v.sha256);
  if (!known.length) {
    // No hash recorded for this repository: fall back to the size scan-master saw.
    const size = repo.history[0]?.size;
    if (size == null) return { up2date: false, reason: 'master has no repomd.xml hash to compare with', behind: null };
    return size === fetched.bytes
      ? { up2date: true, reason: `repomd.xml size matches (${size} bytes; no hash known)`, behind: 0 }
      : { up2date: false, reason: `repomd.xml is ${fetched.bytes} bytes, master has ${size}`, behind: 3 };
  }
  const k = repomdIndex(repo.history, fetched.sha256);
  if (k === 0) return { up2date: true, reason: 'repomd.xml sha256 is current', behind: 0 };
  if (k > 0) return { up2date: false, reason: `repomd.xml sha256 is ${behindLabel(k)}`, behind: Math.min(k, 3) };
  return { up2date: false, reason: `repomd.xml sha256 ${fetched.sha256.slice(0, 12)}… matches no known version`, behind: 3 };
}

/** What a listing says is on the mirror: directories, and file sizes by path. */
export interface MirrorListing {
  dirs: Set<string>;
  files: Map<string, number>;
}

const wantedCache = new WeakMap<MasterCategory, { dirs: Set<string>; files: Set<string> }>();

/**
 * Paths an rsync listing must keep for the comparison (everything else is only
 * counted). Made once per master category and shared by every host in flight.
 */
export function wantedPaths(cat: MasterCategory): { dirs: Set<string>; files: Set<string> } {
  const cached = wantedCache.get(cat);
  if (cached) return cached;
  const dirs = new Set<string>();
  const files = new Set<string>();
  for (const d of cat.dirs) {
    if (!d.readable) continue;
    dirs.add(normDir(d.name));
    for (const f of d.files) files.add(joinDir(d.name, f.name));
  }
  for (const r of cat.repos) files.add(joinDir(r.dirName, 'repodata/repomd.xml'));
  const wanted = { dirs, files };
  wantedCache.set(cat, wanted);
  return wanted;
}

/**
 * Verdicts from one full listing: every readable master directory must exist with
 * every file of its short list at the same size; a repository directory also needs
 * repodata/repomd.xml at the current size. Unreadable (pre-bitflip) directories are
 * never required and get no verdict.
 */
export function compareListing(cat: MasterCategory, listing: MirrorListing): { verdicts: Verdict[]; propagation: Map<number, VersionsBehind> } {
  const problemsOf = new Map<number, string[] | 'missing'>();
  for (const d of cat.dirs) {
    if (!d.readable) continue;
    const name = normDir(d.name);
    if (!listing.dirs.has(name)) {
      problemsOf.set(d.id, 'missing');
      continue;
    }
    const problems: string[] = [];
    for (const f of d.files) {
      const have = listing.files.get(joinDir(name, f.name));
      if (have === undefined) problems.push(`${f.name} missing`);
      else if (have !== f.size) problems.push(`${f.name} is ${have} bytes, master ${f.size}`);
    }
    problemsOf.set(d.id, problems);
  }
  // A repository directory is only as fresh as its repodata/: repomd.xml at the
  // current size and the metadata files the master lists.
  for (const repo of cat.repos) {
    const own = problemsOf.get(repo.dirId);
    if (own === undefined || own === 'missing') continue;
    const size = listing.files.get(joinDir(repo.dirName, 'repodata/repomd.xml'));
    const current = repo.history[0]?.size;
    if (size === undefined) own.push('repodata/repomd.xml missing');
    else if (current != null && size !== current) own.push(`repodata/repomd.xml is ${size} bytes, master ${current}${sizeBehind(repo, size)}`);
    const sub = repo.repodataDirId === null ? undefined : problemsOf.get(repo.repodataDirId);
    if (sub && sub !== 'missing') own.push(...sub.filter((p) => !p.startsWith('repomd.xml ')).map((p) => `repodata/${p}`));
  }
  const verdicts: Verdict[] = [];
  for (const d of cat.dirs) {
    const problems = problemsOf.get(d.id);
    if (problems === undefined) continue;
    if (problems === 'missing') verdicts.push({ dirId: d.id, up2date: false, reason: 'directory missing on mirror' });
    else if (problems.length) verdicts.push({ dirId: d.id, up2date: false, reason: problems.length === 1 ? problems[0]! : `${problems.length} files differ (first: ${problems[0]})` });
    else verdicts.push({ dirId: d.id, up2date: true, reason: `all ${d.files.length} listed files match` });
  }
  const propagation = new Map<number, VersionsBehind>();
  const freshDir = new Map(verdicts.map((v) => [v.dirId, v.up2date]));
  for (const r of cat.repos) {
    if (!r.key) continue;
    const size = listing.files.get(joinDir(r.dirName, 'repodata/repomd.xml'));
    const fresh = freshDir.get(r.dirId);
    // Sizes only: a fresh directory is current; a stale one is the newest older push of that size.
    propagation.set(r.id, size === undefined ? null : fresh ? 0 : olderBySize(r, size));
  }
  return { verdicts, propagation };
}

/** rsync gives sizes only: the newest version with that size (sizes can collide). */
export function versionBySize(repo: MasterRepo, size: number): number {
  const k = repo.history.findIndex((v) => v.size === size);
  return k < 0 ? 3 : Math.min(k, 3);
}

function olderBySize(repo: MasterRepo, size: number): number {
  const k = repo.history.findIndex((v, i) => i > 0 && v.size === size);
  return k < 0 ? 3 : Math.min(k, 3);
}

function sizeBehind(repo: MasterRepo, size: number): string {
  const k = repo.history.findIndex((v) => v.size === size);
  return k > 0 ? ` (size of ${behindLabel(k)})` : '';
}

/**
 * Non-repository directories checked with one HEAD each over http(s)/ftp: the most
 * recently changed first (where staleness shows), ties by name; bounded by `n`.
 */
export function sampleDirs(cat: MasterCategory, n: number): MasterDir[] {
  if (n <= 0) return [];
  const repoDirs = new Set<number>();
  for (const r of cat.repos) {
    repoDirs.add(r.dirId);
    if (r.repodataDirId !== null) repoDirs.add(r.repodataDirId);
  }
  return cat.dirs
    .filter((d) => d.readable && !repoDirs.has(d.id) && d.files.length > 0)
    .sort((a, b) => b.ctime - a.ctime || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .slice(0, n);
}

/** Requests a host may receive in one crawl: its repositories plus 20. */
export function politenessBudget(repositories: number): number {
  return repositories + 20;
}

/** Stable shard of a host name for `--shard i/N` (1-based i). */
export function shardOf(name: string, n: number): number {
  const h = createHash('sha1').update(name).digest().readUInt32BE(0);
  return (h % n) + 1;
}

/** Parses `i/N` (1 ≤ i ≤ N); throws with a message naming the flag. */
export function parseShard(spec: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(spec.trim());
  if (!m) throw new Error(`--shard must look like i/N (e.g. 1/4), got ${JSON.stringify(spec)}`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index < 1 || index > count) throw new Error(`--shard ${spec}: i must be between 1 and N`);
  return { index, count };
}

export interface HostState {
  crawlFailures: number;
  autoDisabled: boolean;
  disableReason: string | null;
}

/**
 * Consecutive-failure accounting. A failure increments the streak and at the
 * threshold auto-disables with the last errors as reason; a success clears the
 * streak and re-enables a host only if *we* disabled it (admin_active is never ours).
 */
export function nextHostState(state: HostState, outcome: { ok: boolean; error?: string }, threshold: number, recentErrors: readonly string[] = []): HostState {
  if (outcome.ok) {
    return state.autoDisabled
      ? { crawlFailures: 0, autoDisabled: false, disableReason: null }
      : { crawlFailures: 0, autoDisabled: false, disableReason: state.disableReason };
  }
  const crawlFailures = state.crawlFailures + 1;
  if (crawlFailures < threshold) return { ...state, crawlFailures };
  const errors = [outcome.error ?? 'unknown error', ...recentErrors].filter(Boolean);
  const uniq = [...new Set(errors)].slice(0, 3);
  return {
    crawlFailures,
    autoDisabled: true,
    disableReason: `auto-disabled after ${crawlFailures} consecutive failed crawls; last errors: ${uniq.join(' | ')}`.slice(0, 1000),
  };
}

/** Outage guard: most hosts failing at once means our own network is at fault. */
export function isOutage(crawled: number, failed: number, share: number, minHosts: number): boolean {
  return crawled >= minHosts && crawled > 0 && failed / crawled > share;
}
