// The out/ directory as publish sees it: complete generations, the `current`
// symlink, the atomic swap, pruning, and a small publish history.
//
//   out/generations/<id>/manifest.json   a complete generation (build renames it into place)
//   out/current -> generations/<id>      relative, so out/ can be rsynced to other nodes
//   out/publish.log                      JSON lines {at, action, id, from}
//   out/.loaded/<name>.json              which generation an nginx we know of last loaded
//   out/list-store/<id>/…                answers nginx composed and stored (pruned with <id>)
//
// The site serves `<out>/generations/$ms_generation`, where $ms_generation comes
// from the generation's own nginx/http.d/00-generation.conf: a running nginx serves
// the generation whose maps it loaded, whatever `current` says, until it reloads.
// `current` only decides what the next (re)load reads. So the generation a running
// nginx loaded must not be pruned: loaders we run record it in out/.loaded/.
//
// The only write that changes what nginx serves is one rename(2) of a fresh
// symlink over `current`: a crash before it leaves the old generation, after it
// the new one, never a mixture.
import fs from 'node:fs';
import path from 'node:path';
import { LockHeldError } from '../core/errors.ts';
import { generationsDir, listStoreDir } from '../core/generation.ts';
import { acquireDirLock, type DirLock } from '../core/lock.ts';

export interface Manifest {
  id?: string;
  createdAt?: string;
  counts: Record<string, number>;
  [k: string]: unknown;
}

export interface GenerationInfo {
  id: string;
  dir: string;
  manifest: Manifest;
  /** manifest createdAt, else the directory's mtime. */
  createdAt: Date;
  sizeBytes?: number;
}

export interface PublishEvent {
  at: string;
  action: 'publish' | 'rollback';
  id: string;
  from: string | null;
  forced?: boolean;
}

/** Generation ids are directory names we also put in nginx paths and logs. */
export const GENERATION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const BUILD_TEMP = /\.tmp-([0-9]+)$/;

/** The http-level fragment naming the generation its siblings belong to (see the top). */
export const GENERATION_FRAGMENT = 'nginx/http.d/00-generation.conf';

export function generationFragment(id: string): string {
  if (!GENERATION_ID.test(id)) throw new Error(`invalid generation id ${JSON.stringify(id)}`);
  return [
    '# Written by `mirrorsmith build`: the generation these fragments belong to. The site',
    '# serves <out>/generations/$ms_generation, so an nginx keeps answering from the',
    '# generation whose maps it loaded until it is reloaded, whatever out/current says.',
    // geo, not map: a map here would fix map_hash_max_size before the lists' fragment sets it.
    `geo $ms_generation { default "${id}"; }`,
    '',
  ].join('\n');
}

/** The id a generation's 00-generation.conf names, or null when it has none (built before it existed). */
export function fragmentGeneration(dir: string): string | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, GENERATION_FRAGMENT), 'utf8');
  } catch {
    return null;
  }
  return /^geo \$ms_generation \{ default "([A-Za-z0-9._-]+)"; \}$/m.exec(text)?.[1] ?? null;
}

export function currentLink(outDir: string): string {
  return path.join(outDir, 'current');
}

/** Reads and checks a manifest; throws naming the file and field. */
export function readManifest(dir: string): Manifest {
  const file = path.join(dir, 'manifest.json');
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing (the generation is incomplete)' : `not valid JSON: ${(err as Error).message}`}`, { cause: err });
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${file}: not a JSON object`);
  const m = raw as Record<string, unknown>;
  const counts: Record<string, number> = {};
  if (m.counts !== undefined) {
    if (!m.counts || typeof m.counts !== 'object' || Array.isArray(m.counts)) throw new Error(`${file}: counts: must be an object of numbers`);
    for (const [k, v] of Object.entries(m.counts as Record<string, unknown>)) {
      if (typeof v === 'number' && Number.isFinite(v)) counts[k] = v;
    }
  }
  return { ...m, counts } as Manifest;
}

/** Complete generations (a manifest.json present), oldest first. */
export function listGenerations(outDir: string): GenerationInfo[] {
  const base = generationsDir(outDir);
  let names: string[];
  try {
    names = fs.readdirSync(base);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: GenerationInfo[] = [];
  for (const id of names) {
    // Dot-names (our trash) and build's `<id>.tmp-<pid>` dirs are never candidates:
    // build writes the manifest before renaming its temp dir into place.
    if (!GENERATION_ID.test(id) || BUILD_TEMP.test(id)) continue;
    const dir = path.join(base, id);
    let manifest: Manifest;
    let stat: fs.Stats;
    try {
      stat = fs.statSync(dir);
      if (!stat.isDirectory()) continue;
      manifest = readManifest(dir);
    } catch {
      continue;
    }
    const created = manifest.createdAt ? new Date(manifest.createdAt) : stat.mtime;
    out.push({ id, dir, manifest, createdAt: Number.isNaN(created.getTime()) ? stat.mtime : created });
  }
  return out.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Id of the generation `current` points at, or null when nothing is published. */
export function currentGeneration(outDir: string): string | null {
  let target: string;
  try {
    target = fs.readlinkSync(currentLink(outDir));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'EINVAL') throw new Error(`${currentLink(outDir)} exists but is not a symlink; move it away so publish can manage it`);
    throw err;
  }
  const resolved = path.resolve(outDir, target);
  if (path.dirname(resolved) !== path.resolve(generationsDir(outDir))) {
    throw new Error(`${currentLink(outDir)} points at ${target}, outside ${generationsDir(outDir)}`);
  }
  return path.basename(resolved);
}

/**
 * Points `current` at generations/<id> atomically: a new symlink under a temp
 * name, fsync'd, renamed over `current`, then the directory fsync'd.
 */
export function swapCurrent(outDir: string, id: string): void {
  if (!GENERATION_ID.test(id)) throw new Error(`invalid generation id ${JSON.stringify(id)}`);
  const tmp = path.join(outDir, `.current.tmp-${process.pid}-${Date.now()}`);
  fs.symlinkSync(path.join('generations', id), tmp);
  try {
    fs.renameSync(tmp, currentLink(outDir));
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`could not rename the new symlink over ${currentLink(outDir)}: ${(err as Error).message}`, { cause: err });
  }
  fsyncDir(outDir);
}

/**
 * Takes out/.publish.lock, held by publish, rollback and by `serve` while nginx
 * (re)loads, so `current` never moves under a load. Waits up to waitMs for a
 * holder to finish, then throws its LockHeldError (waitMs 0: one try).
 */
export async function acquirePublishLock(outDir: string, holder: string, waitMs: number, signal?: AbortSignal): Promise<DirLock> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return acquireDirLock(path.join(outDir, '.publish'), holder);
    } catch (err) {
      if (!(err instanceof LockHeldError) || Date.now() >= deadline || signal?.aborted) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Removes temp symlinks a killed publish left behind (they were never `current`). */
export function cleanStaleTemps(outDir: string): string[] {
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = fs.readdirSync(outDir);
  } catch {
    return removed;
  }
  for (const n of names) {
    const checkPid = /^\.nginx-check-([0-9]+)$/.exec(n)?.[1];
    if (n.startsWith('.current.tmp-') || (checkPid && !pidAlive(Number(checkPid)))) {
      fs.rmSync(path.join(outDir, n), { recursive: true, force: true });
      removed.push(n);
    }
  }
  const gens = generationsDir(outDir);
  for (const n of fs.existsSync(gens) ? fs.readdirSync(gens) : []) {
    // Our half-deleted generations, and build temp dirs whose builder died.
    const buildPid = BUILD_TEMP.exec(n)?.[1];
    if (n.startsWith('.trash-') || (buildPid && !pidAlive(Number(buildPid)))) {
      fs.rmSync(path.join(gens, n), { recursive: true, force: true });
      removed.push(`generations/${n}`);
    }
  }
  return removed;
}

/**
 * Which generations to delete so that `keep` remain (newest first), never the
 * ones in `protect` (current, the one being published). Pure.
 */
export function generationsToPrune(all: Array<Pick<GenerationInfo, 'id'>>, keep: number, protect: Iterable<string>): string[] {
  const keepSet = new Set(protect);
  const newestFirst = [...all].reverse();
  for (const g of newestFirst) {
    if (keepSet.size >= keep) break;
    keepSet.add(g.id);
  }
  return newestFirst.filter((g) => !keepSet.has(g.id)).map((g) => g.id);
}

/** Deletes a generation: renamed to a dot-name first, so it is never seen half-deleted. */
export function removeGeneration(outDir: string, id: string): void {
  if (!GENERATION_ID.test(id)) throw new Error(`invalid generation id ${JSON.stringify(id)}`);
  removeViaTrash(generationsDir(outDir), id);
}

/** Renames parent/name to a dot-name beside it, then deletes that: nothing serves a half-deleted tree. */
function removeViaTrash(parent: string, name: string): void {
  const trash = path.join(parent, `.trash-${name}-${process.pid}`);
  fs.renameSync(path.join(parent, name), trash);
  fs.rmSync(trash, { recursive: true, force: true });
}

/**
 * Stored answers (out/list-store/<id>, written by nginx) of generations that no
 * longer exist — pruned just before, or deleted by hand — are removed, each renamed
 * away first. Returns the ids removed.
 */
export function pruneListStore(outDir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(listStoreDir(outDir));
  } catch {
    return [];
  }
  const existing = new Set(listGenerations(outDir).map((g) => g.id));
  const removed: string[] = [];
  for (const name of names) {
    if (name.startsWith('.trash-')) fs.rmSync(path.join(listStoreDir(outDir), name), { recursive: true, force: true });
    else if (GENERATION_ID.test(name) && !existing.has(name)) {
      removeViaTrash(listStoreDir(outDir), name);
      removed.push(name);
    }
  }
  return removed;
}

// ---- which generation each nginx we know of has loaded -----------------------

export interface LoadedRecord {
  /** File name under out/.loaded/ without .json: `reload-command`, `serve-<pid>`. */
  name: string;
  id: string;
  at: string;
  /** nginx master pid, when known: the record is void once that process is gone. */
  pid?: number;
  /** That nginx has stopped (or its pid is gone): it holds nothing; `at` is still a load we saw. */
  gone?: boolean;
}

function loadedDir(outDir: string): string {
  return path.join(outDir, '.loaded');
}

/** Records (atomically) that the nginx behind `name` has just loaded generation `id`. */
export function recordLoaded(outDir: string, rec: Omit<LoadedRecord, 'at'> & { at?: string }): void {
  if (!GENERATION_ID.test(rec.id)) throw new Error(`invalid generation id ${JSON.stringify(rec.id)}`);
  if (!/^[a-z0-9-]+$/.test(rec.name)) throw new Error(`invalid loader name ${JSON.stringify(rec.name)}`);
  const dir = loadedDir(outDir);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${rec.name}.json`);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify({ ...rec, at: rec.at ?? new Date().toISOString() }) + '\n');
  fs.renameSync(tmp, file);
}

/** The nginx behind `name` has stopped: its record stays, as gone, for maybeLoaded's "since". */
export function recordGone(outDir: string, name: string): void {
  const rec = readLoaded(outDir).find((r) => r.name === name);
  if (rec) recordLoaded(outDir, { ...rec, gone: true });
}

/** The load records, newest first; a record whose nginx pid is gone is marked gone. Keeps the 10 newest gone ones. */
export function readLoaded(outDir: string): LoadedRecord[] {
  let names: string[];
  try {
    names = fs.readdirSync(loadedDir(outDir));
  } catch {
    return [];
  }
  const out: LoadedRecord[] = [];
  for (const n of names) {
    if (!n.endsWith('.json')) continue;
    try {
      const r = JSON.parse(fs.readFileSync(path.join(loadedDir(outDir), n), 'utf8')) as LoadedRecord;
      if (typeof r.id !== 'string' || !GENERATION_ID.test(r.id) || typeof r.at !== 'string') continue;
      const pid = typeof r.pid === 'number' ? r.pid : undefined;
      const gone = r.gone === true || (pid !== undefined && !pidAlive(pid));
      out.push({ name: n.slice(0, -5), id: r.id, at: r.at, ...(pid !== undefined ? { pid } : {}), ...(gone ? { gone } : {}) });
    } catch {
      /* torn or foreign file: not a record */
    }
  }
  out.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  const dropped = new Set(out.filter((r) => r.gone).slice(10));
  for (const old of dropped) fs.rmSync(path.join(loadedDir(outDir), `${old.name}.json`), { force: true });
  return out.filter((r) => !dropped.has(r));
}

/**
 * Generations a running nginx may still serve (pure): what each known, running
 * loader recorded, and — when some nginx reloads without telling us (no reload
 * command: by hand, a timer, another node) — every generation live since the
 * newest load we saw, or ever, when we saw none: we cannot see which one such an
 * nginx loaded.
 */
export function maybeLoaded(records: readonly LoadedRecord[], history: readonly PublishEvent[], unseenReloads: boolean): Set<string> {
  const ids = new Set(records.filter((r) => !r.gone).map((r) => r.id));
  if (!unseenReloads) return ids;
  const since = records.reduce((t, r) => Math.max(t, Date.parse(r.at) || 0), 0);
  for (const e of history) {
    if ((Date.parse(e.at) || 0) < since) continue;
    ids.add(e.id);
    if (e.from) ids.add(e.from);
  }
  return ids;
}

export interface ShrinkVerdict {
  ok: boolean;
  reasons: string[];
}

/** What the shrink guard compares, and the older snapshot count each stands in for. */
export const SHRINK_COUNTS = [
  { key: 'listedHosts', label: 'hosts listed', older: 'hosts' },
  { key: 'servedRepositories', label: 'repositories with a mirror', older: 'repositories' },
] as const;

/**
 * The shrink guard (pure): a new generation listing fewer than minShare of the
 * live one's hosts (in at least one list) or repositories (served with at least
 * one mirror) is suspicious: a DB glitch that marks every host stale must not
 * empty the mirrorlists. A live generation from before those counts existed is
 * compared by its snapshot counts (hosts, repositories), an upper bound.
 */
export function shrinkCheck(live: Manifest | null, next: Manifest, minShare: number, counts: ReadonlyArray<{ key: string; label: string; older?: string }> = SHRINK_COUNTS): ShrinkVerdict {
  const reasons: string[] = [];
  if (!live) return { ok: true, reasons };
  for (const c of counts) {
    // Both from before the listed counts: compare the snapshot counts they have.
    const old = c.older !== undefined && live.counts[c.key] === undefined && next.counts[c.key] === undefined;
    const key = old ? c.older! : c.key;
    const label = old ? c.older! : c.label;
    const before = live.counts[key] ?? (c.older !== undefined ? live.counts[c.older] : undefined);
    const after = next.counts[key];
    if (before === undefined || before <= 0) continue;
    if (after === undefined) {
      reasons.push(`the new manifest has no "${key}" count (the live one has ${before})`);
      continue;
    }
    if (after < before * minShare) {
      reasons.push(`${label}: ${after} < ${Math.round(minShare * 100)}% of the live generation's ${before}`);
    }
  }
  return { ok: reasons.length === 0, reasons };
}

export function appendHistory(outDir: string, ev: PublishEvent): void {
  fs.appendFileSync(path.join(outDir, 'publish.log'), JSON.stringify(ev) + '\n');
}

/** The publish history; a torn last line (crash mid-append) is skipped. */
export function readHistory(outDir: string): PublishEvent[] {
  let text = '';
  try {
    text = fs.readFileSync(path.join(outDir, 'publish.log'), 'utf8');
  } catch {
    return [];
  }
  const events: PublishEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const ev = JSON.parse(line) as PublishEvent;
      if (typeof ev.id === 'string' && (ev.action === 'publish' || ev.action === 'rollback')) events.push(ev);
    } catch {
      /* torn line */
    }
  }
  return events;
}

/** The newest generation newer than `current` that was never live: what publish takes standalone. */
export function newestUnpublished(all: GenerationInfo[], current: string | null, history: PublishEvent[]): GenerationInfo | null {
  const everLive = new Set(history.map((e) => e.id));
  if (current) everLive.add(current);
  const cur = all.find((g) => g.id === current);
  for (const g of [...all].reverse()) {
    if (cur && g.createdAt.getTime() <= cur.createdAt.getTime()) break;
    if (!everLive.has(g.id)) return g;
  }
  return null;
}

/**
 * The generation to roll back to: the newest kept one older than current that
 * nobody rolled back away from before (a rejected generation stays rejected).
 */
export function rollbackTarget(all: GenerationInfo[], current: string | null, history: PublishEvent[]): GenerationInfo | null {
  const rejected = new Set(history.filter((e) => e.action === 'rollback' && e.from).map((e) => e.from!));
  const cur = all.find((g) => g.id === current);
  const older = all.filter((g) => g.id !== current && (!cur || g.createdAt.getTime() <= cur.createdAt.getTime()));
  return older.filter((g) => !rejected.has(g.id)).at(-1) ?? null;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function fsyncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}
