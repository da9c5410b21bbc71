// A Node HTTP server for the simulated network when nginx is not wanted (the demo):
// one port, `/<hostName>/<path>` served from that host's tree, HEAD and GET,
// directory listings, 404s; a host with no tree (dead) gets its connection cut.
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';

export interface SimHttpServer {
  port: number;
  address: string;
  /** Requests per host name, for politeness checks. */
  requests: Map<string, number>;
  close(): Promise<void>;
}

export interface SimHttpHost {
  name: string;
  /** null: the host is dead (connections are reset). */
  root: string | null;
  /** A slow mirror: every response waits this long first. */
  delayMs?: number;
}

const TYPES: Record<string, string> = { '.xml': 'text/xml', '.gz': 'application/gzip', '.rpm': 'application/x-rpm', '.html': 'text/html' };

export async function startSimHttpServer(hosts: readonly SimHttpHost[], opts: { port?: number; address?: string } = {}): Promise<SimHttpServer> {
  const address = opts.address ?? '127.0.0.1';
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const requests = new Map<string, number>();
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const delay = byName.get(decodeURIComponent((req.url ?? '/').split('/')[1] ?? ''))?.delayMs;
    if (delay) setTimeout(() => handle(req, res), delay);
    else handle(req, res);
  });
  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (res.destroyed) return;
    const url = new URL(req.url ?? '/', 'http://sim.invalid');
    const [, hostName = '', ...rest] = url.pathname.split('/');
    const host = byName.get(decodeURIComponent(hostName));
    requests.set(hostName, (requests.get(hostName) ?? 0) + 1);
    if (!host) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('no such mirror\n');
    if (!host.root) return void req.socket.destroy();
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
    const rel = rest.map((s) => decodeURIComponent(s)).join('/');
    if (rel.split('/').some((s) => s === '..' || s.includes('\0'))) return void res.writeHead(400).end();
    const file = path.join(host.root, rel);
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch {
      return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
    if (st.isDirectory()) {
      if (!url.pathname.endsWith('/')) return void res.writeHead(301, { location: `${url.pathname}/` }).end();
      const names = fs.readdirSync(file).sort();
      const body = `<html><body><pre>\n${names.map((n) => `<a href="${encodeURIComponent(n)}">${n.replace(/[<>&]/g, '')}</a>`).join('\n')}\n</pre></body></html>\n`;
      return void res.writeHead(200, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(body) }).end(req.method === 'HEAD' ? undefined : body);
    }
    const headers = {
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': st.size,
      'last-modified': st.mtime.toUTCString(),
      // Seed 001: repository metadata must be revalidated.
      ...(rel.includes('/repodata/') ? { 'cache-control': 'must-revalidate' } : {}),
    };
    res.writeHead(200, headers);
    if (req.method === 'HEAD') return void res.end();
    fs.createReadStream(file).on('error', () => res.destroy()).pipe(res);
  };
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, address, () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    address,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
