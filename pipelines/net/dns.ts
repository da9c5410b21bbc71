// Address-family edge: A/AAAA resolution and a per-family TCP reachability check,
// so the lists can give IPv6 clients mirrors that answer over IPv6.
import dns from 'node:dns';
import net from 'node:net';
import { NetError, classifyNetError } from './errors.ts';

export interface Addresses {
  v4: string[];
  v6: string[];
}

/** Resolves a hostname to its A and AAAA addresses. */
export interface Resolver {
  resolve(hostname: string, signal?: AbortSignal): Promise<Addresses>;
}

/** IP literals resolve to themselves; `.invalid` never resolves (RFC 6761). */
function literal(hostname: string): Addresses | 'invalid' | null {
  const h = hostname.replace(/^\[|\]$/g, '');
  if (net.isIPv4(h)) return { v4: [h], v6: [] };
  if (net.isIPv6(h)) return { v4: [], v6: [h] };
  if (/\.invalid\.?$/i.test(h) || h.toLowerCase() === 'invalid') return 'invalid';
  return null;
}

/** The system resolver (getaddrinfo: /etc/hosts, then DNS), both families. */
export const systemResolver: Resolver = {
  async resolve(hostname, signal) {
    const lit = literal(hostname);
    if (lit === 'invalid') throw new NetError('dns', `${hostname} does not resolve (.invalid)`);
    if (lit) return lit;
    if (signal?.aborted) throw new NetError('cancelled', 'cancelled');
    try {
      const all = await dns.promises.lookup(hostname, { all: true, family: 0 });
      const out: Addresses = { v4: [], v6: [] };
      for (const a of all) (a.family === 6 ? out.v6 : out.v4).push(a.address);
      if (!out.v4.length && !out.v6.length) throw new NetError('dns', `${hostname} has no A or AAAA record`);
      return out;
    } catch (err) {
      const e = classifyNetError(err);
      throw e.kind === 'dns' || e instanceof NetError ? new NetError(e.kind, `${hostname}: ${e.message}`, undefined, { cause: err }) : e;
    }
  },
};

/**
 * A resolver with fixed answers for some names (simulated networks, tests), the
 * system resolver for the rest. A name mapped to {v4: [], v6: []} does not resolve.
 */
export function staticResolver(table: Record<string, Addresses>, fallback: Resolver | null = systemResolver): Resolver {
  return {
    async resolve(hostname, signal) {
      const fixed = table[hostname.toLowerCase()];
      if (fixed) {
        if (!fixed.v4.length && !fixed.v6.length) throw new NetError('dns', `${hostname} does not resolve (NXDOMAIN)`);
        return fixed;
      }
      const lit = literal(hostname);
      if (lit && lit !== 'invalid') return lit;
      if (!fallback || lit === 'invalid') throw new NetError('dns', `${hostname} does not resolve`);
      return fallback.resolve(hostname, signal);
    },
  };
}

/** Opens and closes one TCP connection; resolves with the time it took or throws NetError. */
export function tcpCheck(address: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new NetError('cancelled', 'cancelled'));
    const where = `${net.isIPv6(address) ? `[${address}]` : address}:${port}`;
    const sock = net.connect({ host: address, port });
    const done = (err?: unknown) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      sock.destroy();
      if (err) reject(err instanceof NetError ? err : classifyNetError(err, where));
      else resolve(Math.round(performance.now() - t0));
    };
    const timer = setTimeout(() => done(new NetError('timeout', `connect to ${where} timed out after ${timeoutMs} ms`)), timeoutMs);
    const onAbort = () => done(new NetError('cancelled', 'cancelled'));
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.once('connect', () => done());
    sock.once('error', (err) => done(err));
  });
}

/** The port a URL connects to, scheme defaults included. */
export function urlPort(u: URL): number {
  if (u.port) return Number(u.port);
  return { 'http:': 80, 'https:': 443, 'ftp:': 21, 'rsync:': 873 }[u.protocol] ?? 0;
}

/** Host part of a URL without IPv6 brackets. */
export function urlHostname(u: URL): string {
  return u.hostname.replace(/^\[|\]$/g, '');
}

/** The same URL with its hostname replaced by an address literal (rsync, ftp pinning). */
export function withAddress(u: URL, address: string): string {
  const copy = new URL(u.href);
  copy.hostname = net.isIPv6(address) ? `[${address}]` : address;
  return copy.href;
}
