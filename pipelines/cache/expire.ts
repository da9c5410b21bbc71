// `cache expire`: keeps a proxy_store cache of a yum tree correct. For every
// repository below a due tree whose upstream repomd.xml changed, it fetches and
// verifies the new repodata files beside the old ones, deletes packages whose
// checksum changed upstream (re-signed, same name) or that upstream dropped, then
// replaces repomd.xml with one rename — so a client never sees a repomd.xml
// pointing at files that are not there. Old repodata files are removed one grace
// period later (clients that just read the old repomd.xml still find them).
// Install trees expire images/ when .treeinfo changes.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { CacheConfig, CacheTree } from './config.ts';
import { policyIntervalMs } from './config.ts';
import { MetadataError, assertSafeHref, decompressByName, parsePrimary, parseRepomd, type PackageEntry, type Repomd } from './repodata.ts';
import { UpstreamError, fetchFromUpstreams } from './upstream.ts';
import { readState, writeState, type CacheState } from './state.ts';

export interface ExpireAction {
  tree: string;
  /** Path relative to the cache root. */
  path: string;
  action: 'repodata-updated' | 'deleted' | 'removed-old-metadata' | 'treeinfo-updated' | 'unchanged' | 'error' | 'skipped';
  reason: string;
}

export interface ExpireOptions {
  dryRun?: boolean;
  /** Check every tree now, whatever its policy and last check. */
  all?: boolean;
  now?: Date;
  signal?: AbortSignal;
  /** How long unreferenced repodata files stay for clients holding the old repomd.xml. */
  graceMs?: number;
}

export interface ExpireResult {
  actions: ExpireAction[];
  errors: number;
}

const HASHES: Record<string, string> = { sha: 'sha1', sha1: 'sha1', sha256: 'sha256', sha512: 'sha512', md5: 'md5', sha384: 'sha384', sha224: 'sha224' };

export async function expireCache(config: CacheConfig, opts: ExpireOptions = {}): Promise<ExpireResult> {
  const now = opts.now ?? new Date();
  const state = readState(config.stateFile);
  const actions: ExpireAction[] = [];
  const graceMs = opts.graceMs ?? 15 * 60_000;
  if (!opts.dryRun) actions.push(...sweepGraveyard(config, state, now, graceMs));
  for (const tree of config.trees) {
    if (opts.signal?.aborted) break;
    const due = isDue(tree, state.trees[tree.path]?.lastChecked, now, opts.all);
    if (!due.due) {
      actions.push({ tree: tree.path, path: tree.path, action: 'skipped', reason: due.reason });
      continue;
    }
    const treeActions = await expireTree(config, tree, state, now, opts);
    actions.push(...treeActions);
    if (!opts.dryRun) {
      const entry = (state.trees[tree.path] ??= {});
      entry.lastChecked = now.toISOString();
      if (treeActions.some((a) => a.action === 'repodata-updated' || a.action === 'treeinfo-updated')) entry.lastUpstreamChange = now.toISOString();
      entry.lastErrors = treeActions.filter((a) => a.action === 'error').length;
    }
  }
  if (!opts.dryRun) {
    state.lastRun = now.toISOString();
    writeState(config.stateFile, state);
  }
  return { actions, errors: actions.filter((a) => a.action === 'error').length };
}

export function isDue(tree: CacheTree, lastChecked: string | undefined, now: Date, all = false): { due: boolean; reason: string } {
  if (all) return { due: true, reason: '--all' };
  const interval = policyIntervalMs(tree.policy);
  if (interval === null) return { due: false, reason: 'policy never: released trees do not change' };
  if (!lastChecked) return { due: true, reason: 'never checked' };
  const age = now.getTime() - Date.parse(lastChecked);
  return age >= interval ? { due: true, reason: `last checked ${Math.round(age / 1000)} s ago` } : { due: false, reason: `checked ${Math.round(age / 1000)} s ago, policy ${tree.policy}` };
}

async function expireTree(config: CacheConfig, tree: CacheTree, state: CacheState, now: Date, opts: ExpireOptions): Promise<ExpireAction[]> {
  const treeDir = path.join(config.root, tree.path);
  if (!fs.existsSync(treeDir)) return [{ tree: tree.path, path: tree.path, action: 'unchanged', reason: 'nothing cached yet' }];
  const actions: ExpireAction[] = [];
  for (const found of findCachedMetadata(treeDir)) {
    if (opts.signal?.aborted) break;
    const rel = path.relative(config.root, found.dir);
    try {
      if (found.kind === 'repo') actions.push(...(await expireRepository(config, tree.path, rel, state, now, opts)));
      else actions.push(...(await expireInstallTree(config, tree.path, rel, opts)));
    } catch (err) {
      const message = err instanceof MetadataError || err instanceof UpstreamError ? err.message : `${(err as Error).message}`;
      actions.push({ tree: tree.path, path: rel, action: 'error', reason: `${message}; old metadata kept` });
    }
  }
  return actions;
}

/** Repository directories (holding repodata/repomd.xml) and install trees (.treeinfo) below dir. */
export function findCachedMetadata(dir: string): Array<{ kind: 'repo' | 'treeinfo'; dir: string }> {
  const found: Array<{ kind: 'repo' | 'treeinfo'; dir: string }> = [];
  const stack = [dir];
  let visited = 0;
  while (stack.length) {
    const d = stack.pop()!;
    if (++visited > 1_000_000) throw new Error(`more than a million directories below ${dir}`);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      continue;
    }
    if (entries.some((e) => e.name === '.treeinfo' && e.isFile())) found.push({ kind: 'treeinfo', dir: d });
    for (const e of entries) {
      if (!e.isDirectory() || e.name.startsWith('.')) continue; // dot dirs: our temp and state
      if (e.name === 'repodata') {
        // With or without a local repomd.xml: nginx stores data files as clients
        // fetch them; repomd.xml itself only ever comes from this job.
        found.push({ kind: 'repo', dir: d });
        continue;
      }
      stack.push(path.join(d, e.name));
    }
  }
  return found.sort((a, b) => a.dir.localeCompare(b.dir));
}

async function expireRepository(config: CacheConfig, tree: string, rel: string, state: CacheState, now: Date, opts: ExpireOptions): Promise<ExpireAction[]> {
  const repoDir = path.join(config.root, rel);
  const localRepomd = readIfExists(path.join(repoDir, 'repodata', 'repomd.xml'));
  const upstream = await fetchFromUpstreams(config, `${rel}/repodata/repomd.xml`, config.maxMetadataBytes, opts.signal);
  if (localRepomd && sha256(upstream.body) === sha256(localRepomd)) return [{ tree, path: rel, action: 'unchanged', reason: 'repomd.xml matches upstream' }];

  const next = parseRepomd(upstream.body.toString('utf8'));
  let previous: Repomd | null = null;
  try {
    previous = localRepomd && parseRepomd(localRepomd.toString('utf8'));
  } catch {
    previous = null; // a broken local copy is simply replaced
  }
  const actions: ExpireAction[] = [];
  // 1. New repodata files next to the old ones (their names carry their checksums).
  const staged: Array<{ rel: string; body: Buffer }> = [];
  for (const entry of next.entries) {
    const target = path.join(repoDir, entry.href);
    if (fs.existsSync(target) && hashFile(target, entry.checksumType) === entry.checksum) continue;
    const fetched = await fetchFromUpstreams(config, `${rel}/${entry.href}`, config.maxMetadataBytes, opts.signal);
    const got = hashBuffer(fetched.body, entry.checksumType);
    if (got !== entry.checksum) throw new MetadataError(`${entry.href}: ${entry.checksumType} ${got} does not match repomd.xml's ${entry.checksum}`);
    staged.push({ rel: entry.href, body: fetched.body });
  }
  // 2. Which packages changed or disappeared (needs both primaries).
  const nextPackages = await loadPrimary(next, repoDir, staged, config, rel, opts.signal);
  const prevPackages = previous ? loadLocalPrimary(previous, repoDir) : null;
  const doomed = packagesToExpire(repoDir, nextPackages, prevPackages);
  for (const d of doomed) actions.push({ tree, path: path.join(rel, d.href), action: 'deleted', reason: d.reason });
  const why = localRepomd ? `upstream ${upstream.upstream} has a new repomd.xml` : `first complete repodata set from ${upstream.upstream}`;
  actions.push({ tree, path: `${rel}/repodata/repomd.xml`, action: 'repodata-updated', reason: `${why} (${next.entries.length} files, ${staged.length} fetched)` });
  if (opts.dryRun) return actions;

  for (const s of staged) atomicWrite(path.join(repoDir, s.rel), s.body);
  // 3. Delete stale packages before the new metadata goes live: a client with the
  //    new repomd.xml must never be handed an old, differently signed package.
  for (const d of doomed) fs.rmSync(path.join(repoDir, d.href), { force: true });
  // 4. The switch: one rename.
  atomicWrite(path.join(repoDir, 'repodata', 'repomd.xml'), upstream.body);
  // 5. Old repodata files become unreferenced: removed after the grace period.
  const keep = new Set(next.entries.map((e) => path.join(repoDir, e.href)));
  keep.add(path.join(repoDir, 'repodata', 'repomd.xml'));
  for (const f of fs.readdirSync(path.join(repoDir, 'repodata'))) {
    const full = path.join(repoDir, 'repodata', f);
    if (!keep.has(full) && !f.startsWith('.') && !state.graveyard.some((g) => g.file === full)) state.graveyard.push({ file: full, since: now.toISOString() });
  }
  return actions;
}

async function loadPrimary(repomd: Repomd, repoDir: string, staged: Array<{ rel: string; body: Buffer }>, config: CacheConfig, rel: string, signal?: AbortSignal): Promise<PackageEntry[]> {
  const primary = repomd.entries.find((e) => e.type === 'primary');
  if (!primary) throw new MetadataError('repomd.xml lists no primary metadata');
  const body = staged.find((s) => s.rel === primary.href)?.body ?? readIfExists(path.join(repoDir, primary.href)) ?? (await fetchFromUpstreams(config, `${rel}/${primary.href}`, config.maxMetadataBytes, signal)).body;
  return parsePrimary(decompressByName(primary.href, body).toString('utf8'));
}

function loadLocalPrimary(repomd: Repomd, repoDir: string): Map<string, PackageEntry> | null {
  const primary = repomd.entries.find((e) => e.type === 'primary');
  const body = primary && readIfExists(path.join(repoDir, primary.href));
  if (!primary || !body) return null;
  try {
    return new Map(parsePrimary(decompressByName(primary.href, body).toString('utf8')).map((p) => [p.href, p]));
  } catch {
    return null;
  }
}

/** Local package files that must go: dropped upstream, or a different checksum upstream. */
export function packagesToExpire(repoDir: string, next: PackageEntry[], previous: Map<string, PackageEntry> | null): Array<{ href: string; reason: string }> {
  const byHref = new Map(next.map((p) => [p.href, p]));
  const doomed: Array<{ href: string; reason: string }> = [];
  for (const href of listLocalPackages(repoDir)) {
    const now = byHref.get(href);
    if (!now) {
      doomed.push({ href, reason: 'no longer listed upstream' });
      continue;
    }
    const before = previous?.get(href);
    if (before && before.checksumType === now.checksumType) {
      if (before.checksum !== now.checksum) doomed.push({ href, reason: `checksum changed upstream (${before.checksum.slice(0, 12)}… → ${now.checksum.slice(0, 12)}…)` });
      continue;
    }
    // No trustworthy old metadata: hash the local file itself.
    const local = hashFile(path.join(repoDir, href), now.checksumType);
    if (local !== now.checksum) doomed.push({ href, reason: `local ${now.checksumType} differs from upstream's` });
  }
  return doomed.sort((a, b) => a.href.localeCompare(b.href));
}

function listLocalPackages(repoDir: string): string[] {
  const out: string[] = [];
  const stack = [''];
  while (stack.length) {
    const rel = stack.pop()!;
    for (const e of fs.readdirSync(path.join(repoDir, rel), { withFileTypes: true })) {
      const childRel = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (e.name !== 'repodata' && !e.name.startsWith('.')) stack.push(childRel);
      } else if (e.isFile() && /\.(rpm|drpm)$/.test(e.name)) {
        out.push(childRel);
      }
    }
  }
  return out;
}

async function expireInstallTree(config: CacheConfig, tree: string, rel: string, opts: ExpireOptions): Promise<ExpireAction[]> {
  const dir = path.join(config.root, rel);
  const local = fs.readFileSync(path.join(dir, '.treeinfo'));
  const upstream = await fetchFromUpstreams(config, `${rel}/.treeinfo`, 1024 * 1024, opts.signal);
  if (sha256(upstream.body) === sha256(local)) return [{ tree, path: `${rel}/.treeinfo`, action: 'unchanged', reason: '.treeinfo matches upstream' }];
  const actions: ExpireAction[] = [];
  const imagesDir = path.join(dir, 'images');
  const images = fs.existsSync(imagesDir) ? listFiles(imagesDir).map((f) => path.join('images', f)) : [];
  for (const f of images) actions.push({ tree, path: path.join(rel, f), action: 'deleted', reason: 'install tree changed (.treeinfo differs upstream)' });
  actions.push({ tree, path: `${rel}/.treeinfo`, action: 'treeinfo-updated', reason: `upstream ${upstream.upstream} has a new .treeinfo` });
  if (opts.dryRun) return actions;
  for (const f of images) fs.rmSync(path.join(dir, f), { force: true });
  atomicWrite(path.join(dir, '.treeinfo'), upstream.body);
  return actions;
}

function sweepGraveyard(config: CacheConfig, state: CacheState, now: Date, graceMs: number): ExpireAction[] {
  const actions: ExpireAction[] = [];
  state.graveyard = state.graveyard.filter((g) => {
    if (now.getTime() - Date.parse(g.since) < graceMs) return true;
    if (stillReferenced(g.file)) return false;
    fs.rmSync(g.file, { force: true });
    actions.push({ tree: '', path: path.relative(config.root, g.file), action: 'removed-old-metadata', reason: `unreferenced since ${g.since}` });
    return false;
  });
  return actions;
}

/** A file is still in use when the current repomd.xml beside it names it again. */
function stillReferenced(file: string): boolean {
  const repoDir = path.dirname(path.dirname(file));
  const repomd = readIfExists(path.join(repoDir, 'repodata', 'repomd.xml'));
  if (!repomd) return false;
  try {
    return parseRepomd(repomd.toString('utf8')).entries.some((e) => path.join(repoDir, e.href) === file);
  } catch {
    return true;
  }
}

function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

function readIfExists(file: string): Buffer | null {
  try {
    return fs.readFileSync(file);
  } catch {
    return null;
  }
}

/** Same-directory temp file + rename: readers see the old or the new file, never a part. */
export function atomicWrite(file: string, body: Buffer): void {
  assertSafeHref(path.basename(file), 'file name');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
  fs.writeFileSync(tmp, body, { mode: 0o644 });
  fs.renameSync(tmp, file);
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function hashAlgorithm(type: string): string {
  const algo = HASHES[type.toLowerCase()];
  if (!algo) throw new MetadataError(`unsupported checksum type "${type}"`);
  return algo;
}

export function hashBuffer(b: Buffer, type: string): string {
  return createHash(hashAlgorithm(type)).update(b).digest('hex');
}

export function hashFile(file: string, type: string): string {
  const h = createHash(hashAlgorithm(type));
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let n: number;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}
