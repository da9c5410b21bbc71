// `host test` against simulated mirrors that pass and fail each check.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { testHost, type CheckResult } from '../../pipelines/admin/host-test.ts';
import type { Db } from '../../pipelines/core/db.ts';
import { staticResolver } from '../../pipelines/net/dns.ts';
import { freshDb } from '../helpers/db.ts';
import { requireTool } from '../helpers/system.ts';

const REPOMD_NOW = '<?xml version="1.0"?><repomd><revision>2</revision></repomd>\n'.padEnd(400, ' ');
const REPOMD_OLD = '<?xml version="1.0"?><repomd><revision>1</revision></repomd>\n'.padEnd(400, ' ');
const BIG = 3 * 1024 ** 3;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

interface Behaviour {
  range?: boolean;
  cacheControl?: boolean;
  sizeLie?: boolean;
  stale?: boolean;
  tls?: { key: Buffer; cert: Buffer };
  v4only?: boolean;
}

async function mirror(t: TestContext, b: Behaviour): Promise<number> {
  const handler: http.RequestListener = (req, res) => {
    const p = new URL(req.url!, 'http://x').pathname;
    const send = (body: string | null, size: number, type: string, extra: Record<string, string> = {}) => {
      const range = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''));
      if (body !== null && range && b.range !== false) {
        const part = body.slice(Number(range[1]), Number(range[2]) + 1);
        res.writeHead(206, { 'content-type': type, 'content-length': part.length, 'content-range': `bytes ${range[1]}-${range[2]}/${body.length}`, ...extra });
        return res.end(part);
      }
      res.writeHead(200, { 'content-type': type, 'content-length': size, ...extra });
      res.end(req.method === 'HEAD' || body === null ? undefined : body);
    };
    if (p === '/pub/' || p === '/pub') return send('index', 5, 'text/html');
    if (p === '/pub/releases/41/x86_64/os/repodata/repomd.xml') {
      const body = b.stale ? REPOMD_OLD : REPOMD_NOW;
      return send(body, body.length, 'application/xml', b.cacheControl === false ? {} : { 'cache-control': 'max-age=60, must-revalidate' });
    }
    if (p === '/pub/iso/big.iso') return send(null, b.sizeLie ? BIG - 1 : BIG, 'application/octet-stream');
    if (p === '/pub/releases/41/x86_64/os/Packages/hello-1.0-1.noarch.rpm') return send('rpm', 3, 'application/octet-stream');
    res.writeHead(404).end();
  };
  const server = b.tls ? https.createServer({ key: b.tls.key, cert: b.tls.cert }, handler) : http.createServer(handler);
  await new Promise<void>((r) => (b.v4only ? server.listen(0, '127.0.0.1', r) : server.listen({ port: 0, host: '::', ipv6Only: false }, r)));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  server.closeIdleConnections?.();
  return (server.address() as AddressInfo).port;
}

async function fixture(t: TestContext, urls: string[]): Promise<Db> {
  const { db } = await freshDb(t, 'pglite');
  await db.exec(`INSERT INTO category (name, topdir) VALUES ('Fedora Linux', 'linux')`);
  await db.exec(`INSERT INTO site (name) VALUES ('s'); INSERT INTO host (site_id, name) VALUES (1, 'mirror.test');
    INSERT INTO host_category (host_id, category_id) VALUES (1, 1)`);
  for (const u of urls) await db.query('INSERT INTO host_category_url (host_category_id, url) VALUES (1, $1)', [u]);
  await db.query(
    `INSERT INTO directory (category_id, name, files) VALUES (1, '', '[]'), (1, 'releases/41/x86_64/os', '[]'), (1, 'releases/41/x86_64/os/repodata', '[{"name":"repomd.xml","size":400,"mtime":1}]'),
       (1, 'iso', $1), (1, 'releases/41/x86_64/os/Packages', '[{"name":"hello-1.0-1.noarch.rpm","size":3,"mtime":1}]')`,
    [JSON.stringify([{ name: 'big.iso', size: BIG, mtime: 1 }])],
  );
  await db.exec(`INSERT INTO repository (prefix, arch, category_id, directory_id) VALUES ('fedora-41', 'x86_64', 1, 2)`);
  await db.query(`INSERT INTO file_detail (directory_id, filename, size, sha256, created_at) VALUES (3, 'repomd.xml', 400, $1, now() - interval '1 day'), (3, 'repomd.xml', 400, $2, now())`, [sha(REPOMD_OLD), sha(REPOMD_NOW)]);
  return db;
}

const resolver = staticResolver({ 'mirror.test': { v4: ['127.0.0.1'], v6: ['::1'] } }, null);
const find = (rs: CheckResult[], check: CheckResult['check'], family: 4 | 6 | null = 4) => rs.find((r) => r.check === check && r.family === family);

test('a healthy mirror passes every check over both address families', async (t) => {
  const port = await mirror(t, {});
  const db = await fixture(t, [`http://mirror.test:${port}/pub/`]);
  const rs = (await testHost(db, 'mirror.test', { resolver, timeoutMs: 5000 }))!;
  for (const family of [4, 6] as const) {
    for (const check of ['reachable', 'repomd', 'range', 'large-file', 'keep-alive', 'cache-control', 'content-type'] as const) {
      assert.equal(find(rs, check, family)?.status, 'pass', `${check} IPv${family}: ${JSON.stringify(find(rs, check, family))}`);
    }
  }
  assert.match(find(rs, 'large-file')!.evidence, /big\.iso \(3221225472 bytes, > 2 GiB\): Content-Length 3221225472/);
  assert.equal(await testHost(db, 'nope.test', { resolver }), null);
});

test('each broken behaviour fails (or warns on) its own check with evidence', async (t) => {
  const ports = {
    norange: await mirror(t, { range: false }),
    nocc: await mirror(t, { cacheControl: false }),
    size: await mirror(t, { sizeLie: true }),
    stale: await mirror(t, { stale: true }),
    v4only: await mirror(t, { v4only: true }),
  };
  const db = await fixture(t, Object.values(ports).map((p) => `http://mirror.test:${p}/pub/`));
  const rs = (await testHost(db, 'mirror.test', { resolver, timeoutMs: 5000 }))!;
  const of = (port: number, check: CheckResult['check'], family: 4 | 6 = 4) => rs.find((r) => r.url.includes(`:${port}/`) && r.check === check && r.family === family)!;
  assert.equal(of(ports.norange, 'range').status, 'fail');
  assert.match(of(ports.norange, 'range').evidence, /answered 200 .*Range not honoured/);
  assert.equal(of(ports.nocc, 'cache-control').status, 'warn');
  assert.match(of(ports.nocc, 'cache-control').evidence, /no Cache-Control on repomd\.xml/);
  assert.equal(of(ports.size, 'large-file').status, 'fail');
  assert.match(of(ports.size, 'large-file').evidence, /Content-Length 3221225471/);
  assert.equal(of(ports.stale, 'repomd').status, 'warn');
  assert.match(of(ports.stale, 'repomd').evidence, /1 push\(es\) behind/);
  assert.equal(of(ports.v4only, 'reachable', 4).status, 'pass');
  assert.equal(of(ports.v4only, 'reachable', 6).status, 'fail');
  assert.match(of(ports.v4only, 'reachable', 6).evidence, /IPv6 \(::1\): connection refused/);
});

test('TLS: a certificate from a trusted CA passes, a self-signed one fails', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-tls-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=test CA');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=mirror.test');
  fs.writeFileSync(path.join(dir, 'ext'), 'subjectAltName=DNS:mirror.test\n');
  ssl('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'ext');
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'self.key', '-out', 'self.pem', '-days', '2', '-subj', '/CN=mirror.test', '-addext', 'subjectAltName=DNS:mirror.test');
  const read = (f: string) => fs.readFileSync(path.join(dir, f));
  const good = await mirror(t, { tls: { key: read('srv.key'), cert: read('srv.pem') } });
  const self = await mirror(t, { tls: { key: read('self.key'), cert: read('self.pem') } });
  const db = await fixture(t, [`https://mirror.test:${good}/pub/`, `https://mirror.test:${self}/pub/`]);
  const rs = (await testHost(db, 'mirror.test', { resolver, timeoutMs: 5000, ca: read('ca.pem') }))!;
  const of = (port: number) => rs.find((r) => r.url.includes(`:${port}/`) && r.check === 'tls' && r.family === 4)!;
  assert.equal(of(good).status, 'pass');
  assert.equal(of(self).status, 'fail');
  assert.match(of(self).evidence, /self[- ]signed/i);
});
