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
import { adHocUrls } from '../../pipelines/admin/host-test.ts';
import { openDb } from '../../pipelines/core/db.ts';
import { migrate } from '../../pipelines/core/migrate.ts';
import { staticResolver } from '../../pipelines/net/dns.ts';
import { freePorts, startNginxSim, startRsyncSim } from '../../pipelines/simnet/daemons.ts';
import { freshDb } from '../helpers/db.ts';
import { tempDir } from '../helpers/nginx.ts';
import { requireTool } from '../helpers/system.ts';
import { runMirrorsmith } from '../helpers/cli.ts';

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
  await seed(db, urls);
  return db;
}

/** The master as scan-master would have stored it (two repomd.xml versions, a 3 GiB image, a package), and host mirror.test with `urls`. */
async function seed(db: Db, urls: string[]): Promise<void> {
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

/** The files the fixture's master lists, on disk for nginx and rsync (the 3 GiB image sparse). */
function writeTree(root: string): void {
  const put = (rel: string, body: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), body);
  };
  put('pub/releases/41/x86_64/os/repodata/repomd.xml', REPOMD_NOW);
  put('pub/releases/41/x86_64/os/Packages/hello-1.0-1.noarch.rpm', 'rpm');
  put('pub/iso/big.iso', '');
  fs.truncateSync(path.join(root, 'pub/iso/big.iso'), BIG);
}

/** A test CA and server certificates signed by it: valid for mirror.test, expired, and for another name. */
function certificates(dir: string): { ca: string; good: { cert: string; key: string }; expired: { cert: string; key: string }; otherName: { cert: string; key: string } } {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=test CA');
  const issue = (name: string, cn: string, days: string) => {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=DNS:${cn}\n`);
    // -days -1: notAfter a day before notBefore, i.e. already expired.
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', days, '-extfile', `${name}.ext`);
    return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
  };
  return { ca: path.join(dir, 'ca.pem'), good: issue('good', 'mirror.test', '2'), expired: issue('expired', 'mirror.test', '-1'), otherName: issue('other', 'other.test', '2') };
}

const REPODATA_CC = 'location ~ /repodata/ { add_header Cache-Control "max-age=60, must-revalidate"; }';

interface RealMirrors {
  ports: Record<'healthy' | 'noKeepAlive' | 'wrongType' | 'tlsGood' | 'tlsExpired' | 'tlsOtherName' | 'rsync', number>;
  ca: string;
  dir: string;
}

/** The real nginx serving the tree as six mirrors (healthy, broken ways), and an rsync daemon with module `pub`. */
async function realMirrors(t: TestContext): Promise<RealMirrors | null> {
  const nginx = requireTool(t, 'nginx', 'nginx-light');
  const rsync = requireTool(t, 'rsync', 'rsync');
  if (!nginx || !rsync || !requireTool(t, 'openssl', 'openssl')) return null;
  const dir = tempDir(t, 'ms-host-test-');
  const tree = path.join(dir, 'tree');
  writeTree(tree);
  const certs = certificates(dir);
  const [healthy, noKeepAlive, wrongType, tlsGood, tlsExpired, tlsOtherName, rsyncPort] = await freePorts(7);
  const server = (port: number, extra: string, tls?: { cert: string; key: string }) => ({ address: '127.0.0.1', port: port!, root: tree, extra, tls });
  const web = await startNginxSim(nginx, path.join(dir, 'nginx'), [
    server(healthy!, `keepalive_timeout 65; ${REPODATA_CC}`),
    server(noKeepAlive!, `keepalive_timeout 0; ${REPODATA_CC}`),
    server(wrongType!, `${REPODATA_CC} location ~ \\.(rpm|iso)$ { types { } default_type text/plain; }`),
    server(tlsGood!, REPODATA_CC, certs.good),
    server(tlsExpired!, REPODATA_CC, certs.expired),
    server(tlsOtherName!, REPODATA_CC, certs.otherName),
  ]);
  t.after(() => web.stop());
  const daemon = await startRsyncSim(rsync, path.join(dir, 'rsyncd'), '127.0.0.1', rsyncPort!, [{ name: 'pub', path: path.join(tree, 'pub') }]);
  t.after(() => daemon.stop());
  return { ports: { healthy: healthy!, noKeepAlive: noKeepAlive!, wrongType: wrongType!, tlsGood: tlsGood!, tlsExpired: tlsExpired!, tlsOtherName: tlsOtherName!, rsync: rsyncPort! }, ca: certs.ca, dir };
}

test('against the real nginx and rsyncd: keep-alive, content type, expired and misnamed certificates, rsync module listable or not', { timeout: 120_000 }, async (t) => {
  const m = await realMirrors(t);
  if (!m) return;
  const { ports } = m;
  const http_ = (p: number) => `http://mirror.test:${p}/pub/`;
  const https_ = (p: number) => `https://mirror.test:${p}/pub/`;
  const urls = [http_(ports.healthy), http_(ports.noKeepAlive), http_(ports.wrongType), https_(ports.tlsGood), https_(ports.tlsExpired), https_(ports.tlsOtherName), `rsync://127.0.0.1:${ports.rsync}/pub/`, `rsync://127.0.0.1:${ports.rsync}/gone/`];
  const db = await fixture(t, urls);
  const v4only = staticResolver({ 'mirror.test': { v4: ['127.0.0.1'], v6: [] } }, null);
  const rs = (await testHost(db, 'mirror.test', { resolver: v4only, timeoutMs: 5000, ca: fs.readFileSync(m.ca) }))!;
  const of = (url: string, check: CheckResult['check']) => rs.find((r) => r.url === url && r.check === check);

  for (const url of [http_(ports.healthy), https_(ports.tlsGood)]) {
    for (const check of ['reachable', 'repomd', 'range', 'large-file', 'keep-alive', 'cache-control', 'content-type'] as const) assert.equal(of(url, check)?.status, 'pass', `${url} ${check}: ${JSON.stringify(of(url, check))}`);
    assert.match(of(url, 'large-file')!.evidence, /Content-Length 3221225472/);
    assert.equal(rs.find((r) => r.url === url && r.check === 'address')?.status, 'warn', 'no AAAA record is a warning');
  }
  assert.equal(of(https_(ports.tlsGood), 'tls')?.status, 'pass');

  assert.equal(of(http_(ports.noKeepAlive), 'keep-alive')?.status, 'warn');
  assert.match(of(http_(ports.noKeepAlive), 'keep-alive')!.evidence, /^Connection: close/);
  assert.equal(of(http_(ports.noKeepAlive), 'repomd')?.status, 'pass', 'the other checks still run');

  assert.equal(of(http_(ports.wrongType), 'content-type')?.status, 'warn');
  assert.match(of(http_(ports.wrongType), 'content-type')!.evidence, /\.(iso|rpm): HTTP 200, Content-Type text\/plain \(application\/octet-stream expected\)/);

  assert.equal(of(https_(ports.tlsExpired), 'tls')?.status, 'fail');
  assert.match(of(https_(ports.tlsExpired), 'tls')!.evidence, /CERT_HAS_EXPIRED|certificate has expired/);
  assert.equal(of(https_(ports.tlsOtherName), 'tls')?.status, 'fail');
  assert.match(of(https_(ports.tlsOtherName), 'tls')!.evidence, /ERR_TLS_CERT_ALTNAME_INVALID|altnames/);
  // A certificate failure ends that URL's checks: nothing after it can be trusted.
  assert.equal(of(https_(ports.tlsExpired), 'repomd'), undefined);

  assert.equal(of(`rsync://127.0.0.1:${ports.rsync}/pub/`, 'rsync')?.status, 'pass');
  assert.match(of(`rsync://127.0.0.1:${ports.rsync}/pub/`, 'rsync')!.evidence, /module listable: \d+ entries/);
  assert.equal(of(`rsync://127.0.0.1:${ports.rsync}/gone/`, 'rsync')?.status, 'fail');
  assert.match(of(`rsync://127.0.0.1:${ports.rsync}/gone/`, 'rsync')!.evidence, /unknown module|gone/i);
});


/** The CLI on the embedded PGlite under dir, with its mirrorsmith.yaml. */
function cli(dir: string, args: string[]) {
  return runMirrorsmith(dir, ['-c', path.join(dir, 'mirrorsmith.yaml'), ...args]);
}

test('mirrorsmith host test NAME and --url: exit codes and --json', { timeout: 180_000 }, async (t) => {
  const m = await realMirrors(t);
  if (!m) return;
  const { ports } = m;
  // The CLI resolves names with the system resolver: URLs by address.
  const healthy = `http://127.0.0.1:${ports.healthy}/pub/`;
  const rsyncOk = `rsync://127.0.0.1:${ports.rsync}/pub/`;
  const rsyncGone = `rsync://127.0.0.1:${ports.rsync}/gone/`;
  fs.writeFileSync(
    path.join(m.dir, 'mirrorsmith.yaml'),
    `database:\n  dataDir: db\ncategories:\n  - { name: Fedora Linux, topdir: linux, source: { type: local, path: master } }\n  - { name: Fedora EPEL, topdir: epel, source: { type: local, path: master } }\n`,
  );
  const db = await openDb({ dataDir: path.join(m.dir, 'db'), holder: 'test seed' });
  try {
    await migrate(db);
    await seed(db, [healthy, rsyncOk]);
    await db.exec(`INSERT INTO category (name, topdir) VALUES ('Fedora EPEL', 'epel')`);
    await db.exec(`INSERT INTO host (site_id, name) VALUES (1, 'broken.test'); INSERT INTO host_category (host_id, category_id) VALUES (2, 1)`);
    await db.query('INSERT INTO host_category_url (host_category_id, url) VALUES (2, $1), (2, $2)', [`http://127.0.0.1:${ports.wrongType}/pub/`, rsyncGone]);
    // Ad-hoc URLs are placed in a category by their last path component, or --category.
    assert.deepEqual(await adHocUrls(db, ['https://m.example.edu/pub/fedora/epel/'], undefined), [{ category: 'Fedora EPEL', url: 'https://m.example.edu/pub/fedora/epel/' }]);
    await assert.rejects(adHocUrls(db, ['https://m.example.edu/pub/'], undefined), /--url https:\/\/m\.example\.edu\/pub\/: which category is it\?.*pass --category \(known: "Fedora EPEL" \(epel\), "Fedora Linux" \(linux\)\)/);
    await assert.rejects(adHocUrls(db, ['gopher://m.example.edu/'], 'linux'), /only http, https and rsync URLs/);
    // An rsync module URL takes the category its sibling URL names.
    assert.deepEqual(
      (await adHocUrls(db, ['https://m.example.edu/pub/fedora/linux/', 'rsync://m.example.edu/fedora-linux/'])).map((u) => u.category),
      ['Fedora Linux', 'Fedora Linux'],
    );
    await assert.rejects(adHocUrls(db, ['https://m.example.edu/pub/linux/', 'https://m.example.edu/pub/epel/', 'rsync://m.example.edu/fedora/']), /--url rsync:\/\/m\.example\.edu\/fedora\/: which category/);
  } finally {
    await db.close();
  }

  const ok = await cli(m.dir, ['host', 'test', 'mirror.test', '--timeout', '5000']);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /PASS +repomd +IPv4 +http:\/\/127\.0\.0\.1:\d+\/pub\/ +releases\/41\/x86_64\/os\/repodata\/repomd\.xml is the master's current version/);
  assert.match(ok.stdout, /PASS +rsync +- +rsync:\/\/127\.0\.0\.1:\d+\/pub\/ +module listable/);

  const broken = await cli(m.dir, ['host', 'test', 'broken.test', '--json', '--timeout', '5000']);
  assert.equal(broken.code, 1, broken.stderr);
  const report = JSON.parse(broken.stdout) as { host: string; failed: number; results: CheckResult[] };
  assert.equal(report.host, 'broken.test');
  assert.equal(report.failed, 1);
  assert.deepEqual(report.results.filter((r) => r.status === 'fail').map((r) => [r.check, r.url]), [['rsync', rsyncGone]]);
  assert.equal(report.results.find((r) => r.check === 'content-type')?.status, 'warn');

  // Before registering: ad-hoc URLs against the scanned master.
  const adHoc = await cli(m.dir, ['host', 'test', '--url', healthy, '--url', rsyncGone, '--category', 'Fedora Linux', '--json', '--timeout', '5000']);
  assert.equal(adHoc.code, 1, adHoc.stderr);
  const adHocReport = JSON.parse(adHoc.stdout) as { host: null; urls: string[]; results: CheckResult[] };
  assert.equal(adHocReport.host, null);
  assert.deepEqual(adHocReport.urls, [healthy, rsyncGone]);
  assert.equal(adHocReport.results.find((r) => r.check === 'repomd')?.status, 'pass');
  assert.equal(adHocReport.results.find((r) => r.check === 'rsync')?.status, 'fail');
  assert.equal((await cli(m.dir, ['host', 'test', '--url', healthy, '--category', 'linux', '--timeout', '5000'])).code, 0);

  for (const [args, message] of [
    [['host', 'test', 'nope.test'], /no host named "nope\.test"/],
    [['host', 'test'], /give a registered host NAME .* or --url URL/],
    [['host', 'test', 'mirror.test', '--url', healthy], /not both/],
    [['host', 'test', '--url', healthy], /which category is it\?/],
    [['host', 'test', '--url', healthy, '--category', 'Fedora Archive'], /--category "Fedora Archive": no such category/],
  ] as const) {
    const r = await cli(m.dir, [...args]);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
  }
});
