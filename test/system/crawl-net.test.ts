// The network edges on loopback: http pinning a name to an address (Host header
// kept), same-host redirects followed and counted, bodies hashed and capped,
// IPv6 pinning, rsync listing timeouts on a silent daemon, and the request counter.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { NetError } from '../../pipelines/net/errors.ts';
import { httpRequest } from '../../pipelines/net/http.ts';
import { rsyncList } from '../../pipelines/net/rsync.ts';
import { tcpCheck } from '../../pipelines/net/dns.ts';
import { REQUIRE_SYSTEM, whichTool } from '../helpers/system.ts';

const BODY = Buffer.from('<?xml version="1.0"?><repomd><revision>1</revision></repomd>\n');
let v4: http.Server;
let v6: http.Server | null = null;
let silent: net.Server;
const seen: Array<{ host?: string; url?: string }> = [];

async function serve(address: string): Promise<http.Server> {
  const s = http.createServer((req, res) => {
    seen.push({ host: req.headers.host, url: req.url });
    if (req.url === '/old') return void res.writeHead(301, { location: '/new' }).end();
    if (req.url === '/abs') return void res.writeHead(302, { location: `http://${req.headers.host}/new` }).end();
    res.writeHead(200, { 'content-length': BODY.length }).end(req.method === 'HEAD' ? undefined : BODY);
  });
  await new Promise<void>((r) => s.listen(0, address, () => r()));
  return s;
}

before(async () => {
  v4 = await serve('127.0.0.1');
  v6 = await serve('::1').catch(() => null);
  silent = net.createServer((sock) => sock.on('error', () => {}));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
});

after(async () => {
  v4.closeAllConnections();
  v6?.closeAllConnections();
  await new Promise((r) => v4.close(r));
  if (v6) await new Promise((r) => v6!.close(r));
  await new Promise((r) => silent.close(r));
});

const port = (s: net.Server) => (s.address() as AddressInfo).port;

test('a name pinned to an address: Host header kept, redirects on the same host followed and counted, body hashed', async () => {
  const requests: string[] = [];
  const res = await httpRequest(`http://mirror.example.org:${port(v4)}/old`, {
    timeoutMs: 5000,
    maxBytes: 1024,
    maxRedirects: 2,
    pin: { address: '127.0.0.1', family: 4 },
    keepBody: true,
    onRequest: (u) => requests.push(u),
  });
  assert.equal(res.status, 200);
  assert.equal(res.sha256, createHash('sha256').update(BODY).digest('hex'));
  assert.deepEqual(res.body, BODY);
  assert.deepEqual(res.redirects, [`http://mirror.example.org:${port(v4)}/new`]);
  assert.equal(requests.length, 2);
  assert.equal(seen.at(-1)?.host, `mirror.example.org:${port(v4)}`);
  const abs = await httpRequest(`http://mirror.example.org:${port(v4)}/abs`, { timeoutMs: 5000, maxBytes: 1024, maxRedirects: 1, pin: { address: '127.0.0.1', family: 4 } });
  assert.equal(abs.status, 200);
  await assert.rejects(
    httpRequest(`http://mirror.example.org:${port(v4)}/old`, { timeoutMs: 5000, maxBytes: 1024, maxRedirects: 0, pin: { address: '127.0.0.1', family: 4 } }),
    /too many redirects \(more than 0\)/,
  );
  await assert.rejects(httpRequest(`http://127.0.0.1:${port(v4)}/x`, { timeoutMs: 5000, maxBytes: 10, maxRedirects: 0 }), /Content-Length 61 exceeds the 10 byte cap/);
  const head = await httpRequest(`http://127.0.0.1:${port(v4)}/x`, { method: 'HEAD', timeoutMs: 5000, maxBytes: 0, maxRedirects: 0 });
  assert.equal(head.headers['content-length'], String(BODY.length));
});

test('pinned to ::1 over IPv6', async (t) => {
  if (!v6) return t.skip('no IPv6 loopback here');
  const res = await httpRequest(`http://dual.example.org:${port(v6!)}/x`, { timeoutMs: 5000, maxBytes: 1024, maxRedirects: 0, pin: { address: '::1', family: 6 } });
  assert.equal(res.status, 200);
  assert.equal(await tcpCheck('::1', port(v6!), 2000).then(() => 'ok'), 'ok');
  // Nothing listens on that port over IPv4.
  await assert.rejects(
    tcpCheck('127.0.0.1', port(v6!), 2000).then(
      () => assert.fail('connected'),
      (e: NetError) => {
        throw e;
      },
    ),
    (e: NetError) => e.kind === 'refused',
  );
});

test('the caller can cancel a request', async () => {
  const ac = new AbortController();
  const p = httpRequest(`http://127.0.0.1:${port(silent)}/x`, { timeoutMs: 10_000, maxBytes: 1024, maxRedirects: 0, signal: ac.signal });
  setTimeout(() => ac.abort(), 100);
  await assert.rejects(p, (e: NetError) => e.kind === 'cancelled');
});

test('rsync against a daemon that never speaks: bounded by the wall-clock timeout', async (t) => {
  const rsync = whichTool('rsync');
  if (!rsync) {
    if (REQUIRE_SYSTEM) throw new Error('rsync required');
    return t.skip('rsync not installed');
  }
  const t0 = performance.now();
  await assert.rejects(rsyncList({ url: `rsync://127.0.0.1:${port(silent)}/m/`, timeoutMs: 1500, ioTimeoutMs: 10_000, rsyncPath: rsync }), (e: NetError) => e.kind === 'timeout');
  assert.ok(performance.now() - t0 < 5000);
});
