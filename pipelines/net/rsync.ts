// The rsync edge: one `rsync --list-only -r` per call, with a wall-clock timeout,
// the caller's signal, a line cap, and the listing parsed as it streams so only the
// entries the caller wants are kept. The exit status is read as a result.
import { spawn } from 'node:child_process';
import { parseRsyncLine as parseListLine } from '../master/listing.ts';
import { NetError } from './errors.ts';

export interface RsyncEntry {
  /** Path relative to the listed URL, '.' for the top. */
  path: string;
  type: 'dir' | 'file' | 'link';
  size: number;
  /** Seconds since the epoch (the listing runs with TZ=UTC). */
  mtime: number;
}

/** One line of `rsync --list-only -8` through scan-master's parser (one parser for both). */
export function parseRsyncLine(line: Buffer): RsyncEntry | null {
  const e = parseListLine(line);
  if (!e) return null;
  return { path: e.name === '' ? '.' : e.name, type: e.type === 'd' ? 'dir' : e.type === 'l' ? 'link' : 'file', size: e.size, mtime: e.time };
}

export interface RsyncListOptions {
  /** rsync://host[:port]/module/path/ (a trailing slash lists the contents). */
  url: string;
  /** Wall-clock limit for the whole listing. */
  timeoutMs: number;
  /** rsync's own I/O and connect timeouts (default: timeoutMs). */
  ioTimeoutMs?: number;
  signal?: AbortSignal;
  recursive?: boolean;
  /** Address family to connect over (rsync -4 / -6). */
  family?: 4 | 6;
  /** Stop (protocol failure) after this many lines: a garbage-spewing daemon is bounded. */
  maxLines?: number;
  /** Keep only the entries this returns true for; all are counted. */
  keep?: (entry: RsyncEntry) => boolean;
  rsyncPath?: string;
}

export interface RsyncListResult {
  entries: RsyncEntry[];
  lines: number;
  unparsed: number;
  bytes: number;
  durationMs: number;
  /** Set when rsync listed what it could but reported unreadable or vanished files. */
  partial?: string;
}

/** Runs one listing; a non-zero exit, a timeout or garbage output throws NetError. */
export function rsyncList(opts: RsyncListOptions): Promise<RsyncListResult> {
  const t0 = performance.now();
  const seconds = Math.max(1, Math.ceil((opts.ioTimeoutMs ?? opts.timeoutMs) / 1000));
  const args = ['--list-only', '--no-motd', '--no-h', '-8', `--timeout=${seconds}`, `--contimeout=${seconds}`];
  if (opts.recursive !== false) args.push('-r');
  if (opts.family) args.push(opts.family === 6 ? '-6' : '-4');
  args.push('--', opts.url);
  const maxLines = opts.maxLines ?? 5_000_000;
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(new NetError('cancelled', 'cancelled', opts.url));
    const child = spawn(opts.rsyncPath ?? 'rsync', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C', TZ: 'UTC', RSYNC_PASSWORD: '' } });
    const entries: RsyncEntry[] = [];
    let lines = 0;
    let unparsed = 0;
    let bytes = 0;
    let stderr = '';
    let failure: NetError | null = null;
    const stop = (err: NetError) => {
      failure ??= err;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => stop(new NetError('timeout', `rsync listing timed out after ${opts.timeoutMs} ms`, opts.url)), opts.timeoutMs);
    const onAbort = () => stop(new NetError('cancelled', 'cancelled', opts.url));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (b: Buffer) => (bytes += b.length));
    child.stderr.on('data', (b: Buffer) => {
      if (stderr.length < 4096) stderr += b.toString('utf8');
    });
    const onLine = (line: Buffer) => {
      lines++;
      if (lines > maxLines) return stop(new NetError('protocol', `rsync listing exceeded ${maxLines} lines`, opts.url));
      const e = parseRsyncLine(line);
      if (!e) {
        unparsed++;
        // A listing is all entries; a daemon answering with noise is not a mirror.
        if (unparsed > 100 && unparsed > lines / 2) stop(new NetError('protocol', `rsync output is not a listing: ${JSON.stringify(line.toString('latin1', 0, 80))}`, opts.url));
        return;
      }
      if (!opts.keep || opts.keep(e)) entries.push(e);
    };
    let rest: Buffer = Buffer.alloc(0);
    child.stdout.on('data', (b: Buffer) => {
      let buf = rest.length ? Buffer.concat([rest, b]) : b;
      let nl: number;
      while ((nl = buf.indexOf(10)) >= 0) {
        onLine(buf.subarray(0, nl));
        buf = buf.subarray(nl + 1);
      }
      // One line longer than 64 KiB is not rsync talking.
      if (buf.length > 65536) return stop(new NetError('protocol', 'rsync output has a line over 64 KiB', opts.url));
      rest = Buffer.from(buf);
    });
    child.stdout.on('end', () => {
      if (rest.length) onLine(rest);
    });
    child.on('error', (err) => stop(new NetError('other', `cannot run rsync: ${err.message}`, opts.url, { cause: err })));
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      const durationMs = Math.round(performance.now() - t0);
      if (failure) return reject(failure);
      // 23/24: some files were unreadable or vanished; the rest of the listing stands.
      if (code === 23 || code === 24) return resolve({ entries, lines, unparsed, bytes, durationMs, partial: firstErrors(stderr) || `exit ${code}` });
      if (code !== 0) return reject(rsyncExitError(code, sig, stderr, opts.url));
      resolve({ entries, lines, unparsed, bytes, durationMs });
    });
  });
}

/** rsync's documented exit codes, mapped to failure kinds. */
function firstErrors(stderr: string): string {
  return stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('rsync error:'))
    .slice(0, 2)
    .join('; ')
    .slice(0, 300);
}

function rsyncExitError(code: number | null, sig: NodeJS.Signals | null, stderr: string, url: string): NetError {
  const detail = firstErrors(stderr);
  const tail = detail ? `: ${detail}` : '';
  if (code === null) return new NetError('other', `rsync killed by ${sig}${tail}`, url);
  if (code === 30 || code === 35) return new NetError('timeout', `rsync timed out (exit ${code})${tail}`, url);
  if (code === 10) {
    const kind = /refused/i.test(stderr) ? 'refused' : /resolve|Name or service not known|not known/i.test(stderr) ? 'dns' : 'refused';
    return new NetError(kind, `rsync could not connect (exit 10)${tail}`, url);
  }
  if (code === 5 || code === 2 || code === 12) return new NetError('protocol', `rsync protocol error (exit ${code})${tail}`, url);
  return new NetError('other', `rsync failed (exit ${code})${tail}`, url);
}
