// The FTP edge (basic-ftp): an anonymous session with an idle timeout per reply,
// a wall-clock limit for the whole session, bounded listings and downloads that
// are hashed as they stream. A server that never answers PASV ends at the timeout.
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { Client, FileType } from 'basic-ftp';
import { NetError, classifyNetError } from './errors.ts';

export interface FtpEntry {
  name: string;
  size: number;
  isDir: boolean;
}

export interface FtpSessionOptions {
  host: string;
  port: number;
  /** Idle limit for each reply or data transfer. */
  requestTimeoutMs: number;
  /** Whole-session limit; the session is closed when it passes. */
  sessionTimeoutMs: number;
  maxListingBytes: number;
  signal?: AbortSignal;
  /** Called once per command that costs the server work (LIST, RETR). */
  onRequest?: (what: string) => void;
}

export interface FtpSession {
  list(path: string): Promise<FtpEntry[]>;
  /** RETR into a hash; throws a 'protocol' NetError past maxBytes. 550 (missing) returns null. */
  fetch(path: string, maxBytes: number): Promise<{ bytes: number; sha256: string } | null>;
  close(): void;
}

export async function openFtp(opts: FtpSessionOptions): Promise<FtpSession> {
  const client = new Client(opts.requestTimeoutMs, { allowSeparateTransferHost: false, maxListingBytes: opts.maxListingBytes });
  const where = `ftp://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
  let stopped: NetError | null = null;
  const stop = (err: NetError) => {
    stopped ??= err;
    client.close();
  };
  const timer = setTimeout(() => stop(new NetError('timeout', `ftp session exceeded ${opts.sessionTimeoutMs} ms`, where)), opts.sessionTimeoutMs);
  timer.unref?.();
  const onAbort = () => stop(new NetError('cancelled', 'cancelled', where));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const cleanup = () => {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    client.close();
  };
  const wrap = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    if (stopped) throw stopped;
    try {
      return await fn();
    } catch (err) {
      if (stopped) throw stopped;
      throw ftpError(err, `${where} ${what}`);
    }
  };
  try {
    await wrap('login', () => client.access({ host: opts.host, port: opts.port, user: 'anonymous', password: 'mirrorsmith@', secure: false }));
  } catch (err) {
    cleanup();
    throw err;
  }
  return {
    list: (path) =>
      wrap(`LIST ${path}`, async () => {
        opts.onRequest?.(`LIST ${path}`);
        const items = await client.list(path);
        return items.map((i) => ({ name: i.name, size: i.size, isDir: i.type === FileType.Directory }));
      }),
    fetch: async (path, maxBytes) => {
      opts.onRequest?.(`RETR ${path}`);
      const hash = createHash('sha256');
      let bytes = 0;
      let tooBig = false;
      const sink = new Writable({
        write(chunk: Buffer, _enc, cb) {
          bytes += chunk.length;
          if (bytes > maxBytes) {
            tooBig = true;
            client.close();
            return cb();
          }
          hash.update(chunk);
          cb();
        },
      });
      try {
        await wrap(`RETR ${path}`, () => client.downloadTo(sink, path));
      } catch (err) {
        if (tooBig) throw new NetError('protocol', `${where} RETR ${path}: more than ${maxBytes} bytes`, where);
        if (err instanceof NetError && /\b550\b/.test(err.message)) return null;
        throw err;
      }
      if (tooBig) throw new NetError('protocol', `${where} RETR ${path}: more than ${maxBytes} bytes`, where);
      return { bytes, sha256: hash.digest('hex') };
    },
    close: cleanup,
  };
}

function ftpError(err: unknown, what: string): NetError {
  const e = err as { code?: unknown; message?: string };
  if (typeof e?.code === 'number') return new NetError('protocol', `${what}: ${e.code} ${String(e.message ?? '').replace(/^\d{3}\s*/, '').slice(0, 160)}`, what);
  if (/timeout/i.test(e?.message ?? '')) return new NetError('timeout', `${what}: ${e.message}`, what);
  const c = classifyNetError(err);
  return new NetError(c.kind, `${what}: ${c.message}`, what, { cause: err });
}
