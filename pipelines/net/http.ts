// The HTTP(S) fetch edge used by crawl and probe: node:http with a wall-clock
// timeout per request, a byte cap on bodies (streamed into a hash, never stored
// unless asked), manual redirects (bounded, http/https only, same host unless
// allowed) and a pinned address so a hostname is checked over one address family.
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { NetError, classifyNetError, deadline } from './errors.ts';

export interface PinnedAddress {
  address: string;
  family: 4 | 6;
}

export interface HttpRequestOptions {
  method?: 'GET' | 'HEAD';
  /** Wall-clock limit for the whole exchange, body included (a 1 byte/s drip ends here). */
  timeoutMs: number;
  /** Body bytes beyond this abort the request with a 'protocol' failure. */
  maxBytes: number;
  maxRedirects: number;
  allowOffHostRedirects?: boolean;
  signal?: AbortSignal;
  /** Connect to this address for the URL's hostname (and same-host redirects). */
  pin?: PinnedAddress;
  /** Keep the body in memory (bounded by maxBytes); otherwise only hashed and counted. */
  keepBody?: boolean;
  /** Keep-alive agent shared by one host's crawl; a fresh connection per request without it. */
  agent?: http.Agent;
  headers?: Record<string, string>;
  /** Called once per request actually sent (redirect hops included): the politeness counter. */
  onRequest?: (url: string) => void;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The URL that answered, after redirects. */
  url: string;
  redirects: string[];
  bytes: number;
  sha256: string | null;
  body?: Buffer;
  durationMs: number;
}

export const USER_AGENT = 'mirrorsmith-crawler/0.1 (+https://github.com/mirrorsmith)';

/** GET or HEAD `url`; HTTP error statuses are results, transport problems throw NetError. */
export async function httpRequest(url: string, opts: HttpRequestOptions): Promise<HttpResponse> {
  const t0 = performance.now();
  const limit = deadline(opts.timeoutMs, opts.signal);
  const redirects: string[] = [];
  const origin = new URL(url);
  let current = origin;
  try {
    for (;;) {
      checkScheme(current, redirects.length ? 'redirect target' : 'URL');
      const res = await once(current, opts, origin, limit.signal, () => limit.timedOut());
      if (res.status >= 300 && res.status < 400 && res.location !== undefined && opts.maxRedirects >= 0) {
        if (redirects.length >= opts.maxRedirects) {
          throw new NetError('protocol', `too many redirects (more than ${opts.maxRedirects}) starting at ${url}`, url);
        }
        let next: URL;
        try {
          next = new URL(res.location, current);
        } catch {
          throw new NetError('protocol', `redirect to an invalid URL ${JSON.stringify(res.location.slice(0, 200))}`, current.href);
        }
        checkScheme(next, 'redirect target');
        if (next.host !== origin.host && !opts.allowOffHostRedirects) {
          throw new NetError('protocol', `redirect off host refused: ${origin.host} -> ${next.host}`, current.href);
        }
        redirects.push(next.href);
        current = next;
        continue;
      }
      return { status: res.status, headers: res.headers, url: current.href, redirects, bytes: res.bytes, sha256: res.sha256, body: res.body, durationMs: Math.round(performance.now() - t0) };
    }
  } finally {
    limit.dispose();
  }
}

function checkScheme(u: URL, what: string): void {
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new NetError('protocol', `${what} has scheme ${u.protocol.replace(/:$/, '')}, only http and https are followed`, u.href);
  }
}

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  location?: string;
  bytes: number;
  sha256: string | null;
  body?: Buffer;
}

function pinnedLookup(pin: PinnedAddress): LookupFunction {
  return ((_host: string, options: { all?: boolean }, cb: (...args: unknown[]) => void) => {
    if (options?.all) cb(null, [{ address: pin.address, family: pin.family }]);
    else cb(null, pin.address, pin.family);
  }) as unknown as LookupFunction;
}

function once(u: URL, opts: HttpRequestOptions, origin: URL, signal: AbortSignal, timedOut: () => boolean): Promise<RawResponse> {
  const method = opts.method ?? 'GET';
  const mod = u.protocol === 'https:' ? https : http;
  const samehost = u.hostname === origin.hostname;
  return new Promise<RawResponse>((resolve, reject) => {
    if (signal.aborted) return reject(abortError(signal, u.href, timedOut()));
    opts.onRequest?.(u.href);
    let settled = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(signal.aborted ? abortError(signal, u.href, timedOut()) : classifyNetError(err, u.href));
    };
    const req = mod.request(
      u,
      {
        method,
        agent: opts.agent ?? false,
        headers: { 'user-agent': USER_AGENT, accept: '*/*', ...(opts.agent ? {} : { connection: 'close' }), ...opts.headers },
        ...(opts.pin && samehost ? { lookup: pinnedLookup(opts.pin), family: opts.pin.family } : {}),
        signal,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const location = status >= 300 && status < 400 ? res.headers.location : undefined;
        const declared = res.headers['content-length'] !== undefined ? Number(res.headers['content-length']) : undefined;
        // Redirects and HEADs carry no body worth reading.
        if (method === 'HEAD' || location !== undefined) {
          res.resume();
          res.on('end', () => {
            if (settled) return;
            settled = true;
            resolve({ status, headers: res.headers, location, bytes: 0, sha256: null });
          });
          res.on('error', fail);
          return;
        }
        if (declared !== undefined && Number.isFinite(declared) && declared > opts.maxBytes) {
          fail(new NetError('protocol', `response too large: Content-Length ${declared} exceeds the ${opts.maxBytes} byte cap`, u.href));
          return;
        }
        const hash = createHash('sha256');
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > opts.maxBytes) {
            fail(new NetError('protocol', `response too large: more than ${opts.maxBytes} bytes`, u.href));
            return;
          }
          hash.update(chunk);
          if (opts.keepBody) chunks.push(chunk);
        });
        res.on('aborted', () => fail(new NetError('protocol', `connection closed mid-body after ${bytes} bytes${declared !== undefined ? ` of a declared ${declared}` : ''}`, u.href)));
        res.on('error', (err) =>
          fail(declared !== undefined && bytes < declared ? new NetError('protocol', `connection closed mid-body after ${bytes} bytes of a declared ${declared}`, u.href) : err),
        );
        res.on('end', () => {
          if (settled) return;
          if (declared !== undefined && bytes !== declared) {
            fail(new NetError('protocol', `body is ${bytes} bytes but Content-Length said ${declared}`, u.href));
            return;
          }
          settled = true;
          resolve({ status, headers: res.headers, bytes, sha256: hash.digest('hex'), body: opts.keepBody ? Buffer.concat(chunks) : undefined });
        });
      },
    );
    req.on('error', fail);
    req.end();
  });
}

function abortError(signal: AbortSignal, url: string, timedOut: boolean): NetError {
  if (timedOut) {
    const reason = signal.reason instanceof NetError ? signal.reason.message : 'timed out';
    return new NetError('timeout', `${reason} (${url})`, url);
  }
  if (signal.reason instanceof NetError) return new NetError(signal.reason.kind, `${signal.reason.message} (${url})`, url);
  return new NetError('cancelled', `cancelled (${url})`, url);
}

/** A keep-alive agent for one host's crawl; destroy() it when the host is done. */
export function hostAgent(url: string, maxSockets: number): http.Agent {
  const opts = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, timeout: 60_000 };
  return url.startsWith('https:') ? new https.Agent(opts) : new http.Agent(opts);
}
