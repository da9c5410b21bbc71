// The I/O edges of the scan: walking a local tree, listing and fetching over
// rsync. Each returns data (entries, scans, problems); only an unusable source as
// a whole (top missing, rsync daemon down) throws.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mapLimited } from '../core/concurrency.ts';
import { parseRsyncLine, type ListEntry } from './listing.ts';
import { canonicalName, joinName, nameToBytes, parentName } from './names.ts';
import type { DirScan, FileEntry, StoredDir } from './tree.ts';

export interface WalkOptions {
  isExcluded(name: string): boolean;
  /** Files at the category top that are not content (the fullfiletimelist itself). */
  topFileExcludes: ReadonlySet<string>;
  /** The previous scan's directories; an unchanged ctime means "reuse, do not list". */
  previous: ReadonlyMap<string, StoredDir>;
  /** Directories whose ctime is at or after this second are listed even when unchanged (racy ctime). */
  trustBefore: number;
  concurrency: number;
  signal?: AbortSignal;
}

export interface WalkResult {
  scans: Map<string, DirScan>;
  /** Directories read with readdir (the rest were unchanged and reused). */
  listed: number;
  files: number;
  problems: Array<{ dir: string; message: string }>;
}

/**
 * Absolute path of a category-relative name. A name without `\` is plain UTF-8
 * (escapes all start with one), so it goes as a string; others as their raw
 * bytes (names need not be UTF-8). Strings spare a no-change rescan a Buffer
 * concat per directory.
 */
export function absPath(top: string, name: string): string | Buffer {
  if (name === '') return top;
  return name.includes('\\') ? Buffer.concat([Buffer.from(top + '/'), nameToBytes(name)]) : `${top}/${name}`;
}

/**
 * Walks a local category tree breadth-first, one level at a time with bounded
 * concurrency. lstat only: symlinks are never followed (no loops). A directory
 * whose ctime equals the stored one (and predates the last scan) is not listed:
 * its files and subdirectories are taken from the previous scan, so a no-change
 * rescan costs one lstat per directory.
 */
export async function walkLocal(top: string, opts: WalkOptions): Promise<WalkResult> {
  const st = await fsp.lstat(top).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`category top ${top} cannot be read: ${err.code ?? err.message}`, { cause: err });
  });
  if (!st.isDirectory()) throw new Error(`category top ${top} is not a directory`);
  const children = childIndex(opts.previous);
  const scans = new Map<string, DirScan>();
  const problems: WalkResult['problems'] = [];
  let listed = 0;
  let files = 0;
  let level = [''];
  while (level.length) {
    if (opts.signal?.aborted) throw new Error('scan cancelled');
    // Directories go out in chunks: one promise per directory costs more than the
    // lstat a no-change rescan does for it; a chunk per slot keeps levels parallel.
    const size = Math.max(1, Math.ceil(level.length / (opts.concurrency * 4)));
    const chunks: string[][] = [];
    for (let i = 0; i < level.length; i += size) chunks.push(level.slice(i, i + size));
    const settled = await mapLimited(chunks, { concurrency: opts.concurrency, signal: opts.signal }, async (chunk) => {
      const out: Array<Awaited<ReturnType<typeof visit>> | Error> = [];
      for (const name of chunk) out.push(await visit(name).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))));
      return out;
    });
    const next: string[] = [];
    for (const [c, s] of settled.entries()) {
      if (!s.ok) {
        if (opts.signal?.aborted) throw new Error('scan cancelled');
        for (const dir of chunks[c]!) problems.push({ dir, message: s.error.message });
        continue;
      }
      for (const [i, v] of s.value.entries()) {
        if (v instanceof Error) {
          problems.push({ dir: chunks[c]![i]!, message: v.message });
          continue;
        }
        if (!v) continue;
        scans.set(v.scan.name, v.scan);
        if (v.problem) problems.push({ dir: v.scan.name, message: v.problem });
        for (const d of v.subdirs) next.push(d);
      }
    }
    level = next;
  }
  return { scans, listed, files, problems };

  async function visit(name: string): Promise<{ scan: DirScan; subdirs: string[]; problem?: string } | null> {
    const abs = absPath(top, name);
    let dst;
    try {
      // lstat is synchronous on purpose: on a warm cache the promise round trip
      // through the thread pool costs ~10x the syscall, and a no-change rescan is
      // nothing but these calls. readdir stays async, so levels still interleave.
      dst = fs.lstatSync(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null; // vanished while walking
      throw err;
    }
    if (!dst.isDirectory()) return null;
    const ctime = Math.floor(dst.ctimeMs / 1000);
    const mode = dst.mode & 0o7777;
    const prev = opts.previous.get(name);
    if (prev && prev.ctime === ctime && ctime < opts.trustBefore) {
      return { scan: { name, mode, ctime, files: null }, subdirs: (children.get(name) ?? []).filter((c) => !opts.isExcluded(c)) };
    }
    let dirents;
    try {
      dirents = await fsp.readdir(abs, { withFileTypes: true, encoding: 'buffer' });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return { scan: { name, mode, ctime, files: [], unlisted: true }, subdirs: [], problem: `cannot list directory: ${code ?? (err as Error).message}` };
    }
    listed++;
    const subdirs: string[] = [];
    const entries: FileEntry[] = [];
    for (const d of dirents) {
      const base = canonicalName(d.name);
      const child = joinName(name, base);
      if (opts.isExcluded(child)) continue;
      if (d.isDirectory()) subdirs.push(child);
      else if (d.isFile()) {
        if (name === '' && opts.topFileExcludes.has(child)) continue;
        const fst = fs.lstatSync(absPath(top, child), { throwIfNoEntry: false });
        if (!fst?.isFile()) continue; // vanished or replaced while listing
        entries.push({ name: base, size: fst.size, mtime: Math.floor(fst.mtimeMs / 1000) });
      }
      // symlinks, sockets, devices: not mirror content, never followed
    }
    files += entries.length;
    return { scan: { name, mode, ctime, files: entries }, subdirs };
  }
}

function childIndex(previous: ReadonlyMap<string, StoredDir>): Map<string, string[]> {
  const idx = new Map<string, string[]>();
  for (const name of previous.keys()) {
    const p = parentName(name);
    if (p === null) continue;
    const list = idx.get(p);
    if (list) list.push(name);
    else idx.set(p, [name]);
  }
  return idx;
}

/**
 * lstat of every directory a listing named, for its mode (a fullfiletimelist has
 * none) and its ctime (so rows match a walk's exactly). One lstat per directory
 * is still a small share of a walk, which lstats every file too.
 */
export async function statDirModes(top: string, scans: Map<string, DirScan>, signal?: AbortSignal): Promise<number> {
  let missing = 0;
  let n = 0;
  // Synchronous lstat (see walkLocal), yielding every 1000 so a signal is heard.
  for (const [name, scan] of scans) {
    if (++n % 1000 === 0) {
      await new Promise((r) => setImmediate(r));
      if (signal?.aborted) throw new Error('scan cancelled');
    }
    const st = fs.lstatSync(absPath(top, name), { throwIfNoEntry: false });
    if (!st) {
      missing++;
      continue;
    }
    scan.mode = st.mode & 0o7777;
    scan.ctime = Math.floor(st.ctimeMs / 1000);
  }
  return missing;
}

/**
 * Reads files of the tree (repomd.xml, checksum files, the fullfiletimelist).
 * Synchronously, yielding every 64: they are small and warm, and a promise
 * round trip through the thread pool cost ~8x the read (see walkLocal).
 */
export async function readLocalFiles(top: string, names: readonly string[], _concurrency: number, signal?: AbortSignal): Promise<Map<string, Buffer | Error>> {
  const out = new Map<string, Buffer | Error>();
  for (const [i, name] of names.entries()) {
    if (i % 64 === 63) {
      await new Promise((r) => setImmediate(r));
      if (signal?.aborted) throw new Error('scan cancelled');
    }
    try {
      out.set(name, fs.readFileSync(absPath(top, name)));
    } catch (err) {
      out.set(name, err instanceof Error ? err : new Error(String(err)));
    }
  }
  return out;
}

/** One file of the tree, whole (throws when it cannot be read). */
export function readLocalFile(top: string, name: string): Buffer {
  return fs.readFileSync(absPath(top, name));
}

/** Why one file of the tree cannot be opened for reading, or null when it can. */
export function localFileUnreadable(top: string, name: string): string | null {
  try {
    const fd = fs.openSync(absPath(top, name), 'r');
    try {
      return fs.fstatSync(fd).isFile() ? null : 'not a regular file';
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
}

/**
 * Reads one file of the tree in pieces of a few MB (a 40 MB fullfiletimelist
 * need not be held whole). A piece is valid only during the callback: the
 * buffer is reused.
 */
export async function readLocalFilePieces(top: string, name: string, onPiece: (piece: Buffer) => void, signal?: AbortSignal): Promise<void> {
  const fd = fs.openSync(absPath(top, name), 'r');
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    for (;;) {
      if (signal?.aborted) throw new Error('scan cancelled');
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      onPiece(buf.subarray(0, n));
      // Let timers and signals run between pieces.
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    fs.closeSync(fd);
  }
}

// ---- rsync --------------------------------------------------------------------

export interface RsyncOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  rsyncPath?: string;
}

interface RsyncRun {
  code: number | null;
  stderr: string;
  timedOut: boolean;
}

/** Runs rsync, feeding each complete stdout line to `onLine`; the exit status is data. */
function runRsync(args: string[], opts: RsyncOptions, onLine?: (line: Buffer) => void): Promise<RsyncRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(opts.rsyncPath ?? 'rsync', args, {
      // Listing times are printed in the local zone; UTC makes them epoch-exact.
      env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: opts.signal,
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, opts.timeoutMs);
    let pending = Buffer.alloc(0);
    child.stdout.on('data', (chunk: Buffer) => {
      if (!onLine) return;
      let buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      let nl;
      while ((nl = buf.indexOf(0x0a)) >= 0) {
        onLine(buf.subarray(0, nl));
        buf = buf.subarray(nl + 1);
      }
      pending = Buffer.from(buf);
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += c.toString('utf8');
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      if ((err as NodeJS.ErrnoException).code === 'ABORT_ERR') resolve({ code: null, stderr: 'cancelled', timedOut: false });
      else reject(new Error(`cannot run rsync: ${err.message}`, { cause: err }));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (pending.length && onLine) onLine(pending);
      resolve({ code, stderr, timedOut });
    });
  });
}

const rsyncBase = (opts: RsyncOptions) => ['--no-motd', '-8', `--timeout=${Math.max(1, Math.ceil(opts.timeoutMs / 1000))}`, `--contimeout=${Math.max(1, Math.ceil(opts.timeoutMs / 1000))}`];

function rsyncFailure(what: string, url: string, r: RsyncRun): Error {
  if (r.timedOut) return new Error(`${what} ${url}: timed out`);
  if (r.code === null) return new Error(`${what} ${url}: cancelled`);
  const last = r.stderr.trim().split('\n').filter((l) => !l.startsWith('rsync error:')).pop() ?? '';
  return new Error(`${what} ${url}: rsync exit ${r.code}${last ? `: ${last.trim()}` : ''}`);
}

export interface RsyncListing {
  /** Empty when an `onEntry` callback took them as they came. */
  entries: ListEntry[];
  /** Directories the server could not open (exit 23): present but unlisted. */
  unlisted: string[];
}

/**
 * `rsync --list-only -r` of a category top (`url` ends with `/`). Exit 24
 * (vanished files) is normal on a live master; exit 23 with only "opendir failed"
 * complaints leaves those directories unlisted; anything else throws.
 */
export async function rsyncList(url: string, opts: RsyncOptions & { dirsOnly?: boolean; onEntry?: (e: ListEntry) => void }): Promise<RsyncListing> {
  const entries: ListEntry[] = [];
  let count = 0;
  const sink = opts.onEntry ?? ((e: ListEntry) => void entries.push(e));
  const filter = opts.dirsOnly ? ['-f', '+ */', '-f', '- *'] : [];
  const r = await runRsync([...rsyncBase(opts), '--list-only', '-r', ...filter, url], opts, (line) => {
    const e = parseRsyncLine(line);
    if (e) {
      count++;
      sink(e);
    }
  });
  const unlisted: string[] = [];
  const sub = splitModuleUrl(url).sub;
  if (r.code === 23) {
    const lines = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('rsync error:'));
    for (const l of lines) {
      const m = /opendir "(.+?)"(?: \(in [^)]*\))? failed/.exec(l);
      if (!m) throw rsyncFailure('listing', url, r);
      // The daemon names the directory from its module root ("/linux/releases/42").
      const fromModule = m[1]!.replace(/^\.?\/+/, '').replace(/\/$/, '');
      unlisted.push(fromModule.startsWith(sub) ? fromModule.slice(sub.length) : fromModule);
    }
  } else if (r.code !== 0 && r.code !== 24) {
    throw rsyncFailure('listing', url, r);
  }
  if (count === 0) throw new Error(`listing ${url}: rsync printed no entries`);
  return { entries, unlisted };
}

/** Regular files directly at the top of `url` (ends with `/`): one non-recursive listing. */
export async function rsyncTopFiles(url: string, opts: RsyncOptions): Promise<Array<{ name: string; mtime: number }>> {
  const out: Array<{ name: string; mtime: number }> = [];
  const r = await runRsync([...rsyncBase(opts), '--list-only', url], opts, (line) => {
    const e = parseRsyncLine(line);
    if (e && e.type === 'f' && e.name !== '' && !e.name.includes('/')) out.push({ name: e.name, mtime: e.time });
  });
  if (r.code !== 0 && r.code !== 24) throw rsyncFailure('listing', url, r);
  return out;
}

/** Regular files directly in a local directory (lstat: a symlink is not one). */
export function localTopFiles(top: string): Array<{ name: string; mtime: number }> {
  const out: Array<{ name: string; mtime: number }> = [];
  let names: string[];
  try {
    names = fs.readdirSync(top);
  } catch {
    return out; // the walk reports an unreadable top with its reason
  }
  for (const name of names) {
    const st = fs.lstatSync(path.join(top, name), { throwIfNoEntry: false });
    if (st?.isFile()) out.push({ name, mtime: Math.floor(st.mtimeMs / 1000) });
  }
  return out;
}

/** `rsync://host/module/a/b/` → the module URL and the path inside it (`a/b/`). */
function splitModuleUrl(url: string): { moduleUrl: string; sub: string } {
  const m = /^(rsync:\/\/[^/]+\/[^/]+\/)(.*)$/.exec(url);
  return m ? { moduleUrl: m[1]!, sub: m[2]! } : { moduleUrl: url, sub: '' };
}

/** Fetches some files below `url` (ends with `/`) into memory; a missing file is an Error in the map. */
export async function rsyncFetch(url: string, names: readonly string[], opts: RsyncOptions): Promise<Map<string, Buffer | Error>> {
  const out = new Map<string, Buffer | Error>();
  if (names.length === 0) return out;
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'mirrorsmith-fetch-'));
  try {
    // rsync 3.x resolves --files-from names against the module root when the source
    // is a path inside a daemon module, so names are sent from the module root.
    const { moduleUrl, sub } = splitModuleUrl(url);
    const list = path.join(tmp, 'files-from');
    await fsp.writeFile(list, Buffer.concat(names.flatMap((n) => [nameToBytes(sub + n), Buffer.from([0])])));
    const dest = path.join(tmp, 'data');
    await fsp.mkdir(dest);
    const r = await runRsync([...rsyncBase(opts), '--from0', `--files-from=${list}`, moduleUrl, dest + '/'], opts);
    if (r.code !== 0 && r.code !== 23 && r.code !== 24) throw rsyncFailure('fetching from', url, r);
    for (const n of names) {
      try {
        out.set(n, await fsp.readFile(absPath(dest, sub + n)));
      } catch (err) {
        out.set(n, new Error(`not fetched from ${url}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`));
      }
    }
    return out;
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}
