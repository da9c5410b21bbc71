// startNginx / nginxTest against the real nginx binary: the site defaults, reload,
// clean stop, and nginx's own error messages surfacing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { checkSite, nginxTest, renderSite, startNginx } from '../../pipelines/serve/nginx.ts';
import { get, markedGeneration, tempDir, withNginx } from '../helpers/nginx.ts';
import { requireTool } from '../helpers/system.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('serves a generation with the site defaults', async (t) => {
  if (!requireTool(t, 'nginx', 'nginx-light')) return;
  const out = tempDir(t);
  const root = markedGeneration(out, 'g1', '2026-11-01T00:00:00Z', { files: { 'mirrors.json': '{"hosts":[]}\n', 'status/index.html': '<p>ok</p>\n' } });
  const prefixDir = path.join(out, 'prefix');
  const nginx = (await withNginx(t, { outDir: out, root, prefixDir }))!;
  assert.match(nginx.url, /^http:\/\/127\.0\.0\.1:\d+$/);

  const which = await get(`${nginx.url}/which`);
  assert.equal(which.body, 'g1\n', 'http.d and server.d fragments are included');
  assert.equal(which.headers.get('content-type'), 'text/plain; charset=utf-8');
  assert.equal(which.headers.get('cache-control'), 'public, max-age=60');
  assert.equal(which.headers.get('server'), 'nginx', 'no version in the Server header');

  const json = await get(`${nginx.url}/mirrors.json`);
  assert.equal(json.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.equal((await get(`${nginx.url}/manifest.json`)).status, 200);
  assert.equal((await get(`${nginx.url}/status/`)).body, '<p>ok</p>\n');
  assert.equal((await get(`${nginx.url}/nginx/http.d/which.conf`)).status, 404, 'fragments are config, not content');
  const index = await get(`${nginx.url}/`);
  assert.equal(index.status, 200);
  assert.match(index.body, /\/metalink\?repo=REPO&arch=ARCH/);
  assert.equal((await get(`${nginx.url}/no/such/file`)).status, 404);

  // Access log in the mirrorsmith format, with the request time.
  await nginx.stop();
  const log = fs.readFileSync(path.join(prefixDir, 'logs', 'access.log'), 'utf8');
  assert.match(log, /"GET \/which HTTP\/1\.1" 200 \d+ .* rt=\d+\.\d{3}/);
});

test('stop() ends master and workers; two servers run side by side', async (t) => {
  if (!requireTool(t, 'nginx', 'nginx-light')) return;
  const out = tempDir(t);
  const root = markedGeneration(out, 'g1', '2026-11-01T00:00:00Z');
  const a = await startNginx({ outDir: out, root, workers: 2 });
  const b = await startNginx({ outDir: out, root });
  t.after(() => Promise.all([a.stop(), b.stop()]));
  assert.notEqual(a.port, b.port);
  const workers = fs.readFileSync(`/proc/${a.pid}/task/${a.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
  assert.equal(workers.length, 2);
  assert.equal((await get(`${b.url}/id.txt`)).body, 'g1\n');
  await a.stop();
  assert.equal(alive(a.pid), false);
  for (const w of workers) assert.equal(alive(w), false, `worker ${w} outlived stop()`);
  assert.equal(fs.existsSync(a.prefixDir), false, 'a temp prefix is removed');
  await assert.rejects(get(`${a.url}/id.txt`, {}, 2000));
  assert.equal((await get(`${b.url}/id.txt`)).body, 'g1\n');
});

test('reload picks up new fragments; a bad fragment is refused and the old config keeps serving', async (t) => {
  if (!requireTool(t, 'nginx', 'nginx-light')) return;
  const out = tempDir(t);
  const root = markedGeneration(out, 'g1', '2026-11-01T00:00:00Z');
  const nginx = (await withNginx(t, { outDir: out, root }))!;
  fs.writeFileSync(path.join(root, 'nginx/http.d/which.conf'), 'map $uri $ms_which { default "changed"; }\n');
  await nginx.reload();
  assert.equal((await get(`${nginx.url}/which`)).body, 'changed\n');
  fs.writeFileSync(path.join(root, 'nginx/server.d/broken.conf'), 'location /b { return 200 "unterminated; }\n');
  await assert.rejects(nginx.reload(), /nginx reload refused, the config does not pass nginx -t:[\s\S]*broken\.conf/);
  assert.equal((await get(`${nginx.url}/which`)).body, 'changed\n');
});

test('start failures carry nginx\'s message', async (t) => {
  if (!requireTool(t, 'nginx', 'nginx-light')) return;
  const out = tempDir(t);
  const root = markedGeneration(out, 'g1', '2026-11-01T00:00:00Z', { server: { 'bad.conf': 'bogus_directive 1;\n' } });
  await assert.rejects(startNginx({ outDir: out, root }), /nginx failed to start on 127\.0\.0\.1:\d+: .*unknown directive "bogus_directive"/);

  const root2 = markedGeneration(out, 'g2', '2026-11-01T00:00:00Z');
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.after(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  await assert.rejects(startNginx({ outDir: out, root: root2, port }), /Address already in use/);
});

test('listens on IPv6 loopback', async (t) => {
  if (!requireTool(t, 'nginx', 'nginx-light')) return;
  const probe = net.createServer();
  const has6 = await new Promise<boolean>((r) => {
    probe.once('error', () => r(false));
    probe.listen(0, '::1', () => probe.close(() => r(true)));
  });
  if (!has6) return t.skip('no IPv6 loopback in this container');
  const out = tempDir(t);
  const root = markedGeneration(out, 'g6', '2026-11-01T00:00:00Z');
  const nginx = (await withNginx(t, { outDir: out, root, host: '::1' }))!;
  assert.match(nginx.url, /^http:\/\/\[::1\]:\d+$/);
  assert.equal((await get(`${nginx.url}/id.txt`)).body, 'g6\n');
});

test('nginxTest and checkSite report nginx\'s verdict', async (t) => {
  if (!requireTool(t, 'nginx', 'nginx-light')) return;
  const out = tempDir(t);
  const good = markedGeneration(out, 'good', '2026-11-01T00:00:00Z');
  const ok = await checkSite(good, { prefixDir: path.join(out, 'p1') });
  assert.equal(ok.ok, true, ok.output);
  assert.equal((await nginxTest(ok.confFile, { prefixDir: path.join(out, 'p1') })).ok, true);
  const bad = markedGeneration(out, 'bad', '2026-11-01T00:00:00Z', { http: { 'x.conf': 'geo $x { 10.0.0.0/33 a; }\n' } });
  const res = await checkSite(bad, { prefixDir: path.join(out, 'p2') });
  assert.equal(res.ok, false);
  assert.match(res.output, /\[emerg\] invalid network "10\.0\.0\.0\/33"/);
});

// nginx/mirrorsmith.conf.example is the template rendered for a distribution nginx;
// regenerate with UPDATE_NGINX_EXAMPLE=1 after changing the template.
const EXAMPLE_SITE = {
  root: '/srv/mirrorsmith/out/current',
  generationsDir: '/srv/mirrorsmith/out/generations',
  listen: '80',
  serverName: 'mirrors.example.org',
  accessLog: '/var/log/nginx/mirrorsmith.access.log',
  maxAge: 60,
};

test('nginx/mirrorsmith.conf.example matches the template and passes nginx -t inside a stock http block', async (t) => {
  const file = path.resolve(import.meta.dirname, '../../nginx/mirrorsmith.conf.example');
  const header = '# Rendered from nginx/mirrorsmith.conf.hbs for output.dir /srv/mirrorsmith/out;\n# copy to /etc/nginx/conf.d/mirrorsmith.conf and adjust server_name/listen.\n\n';
  const rendered = header + renderSite(EXAMPLE_SITE);
  if (process.env.UPDATE_NGINX_EXAMPLE === '1') fs.writeFileSync(file, rendered);
  assert.equal(fs.readFileSync(file, 'utf8'), rendered, 'stale example: rerun with UPDATE_NGINX_EXAMPLE=1');
  if (!requireTool(t, 'nginx', 'nginx-light')) return;
  // The same site, pointed at a real generation, inside a minimal main config the
  // way /etc/nginx/nginx.conf includes conf.d/*.conf.
  const out = tempDir(t);
  const gen = markedGeneration(out, 'g1', '2026-11-01T00:00:00Z');
  const prefix = path.join(out, 'p');
  fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
  // The admin creates out/list-store (writable by the nginx user); nginx -t wants its temp dir.
  fs.mkdirSync(path.join(out, 'list-store', '.tmp'), { recursive: true });
  const site = path.join(prefix, 'site.conf');
  fs.writeFileSync(site, renderSite({ ...EXAMPLE_SITE, root: gen, generationsDir: path.dirname(gen), accessLog: path.join(prefix, 'logs', 'access.log') }));
  const main = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(main, `pid ${prefix}/nginx.pid;\nevents {}\nhttp {\n  include /etc/nginx/mime.types;\n  include ${site};\n}\n`);
  const res = await nginxTest(main, { prefixDir: prefix });
  assert.equal(res.ok, true, res.output);
});

// Reads the template file, hence here and not in test/unit.
test('the site config refuses paths and names that would break nginx syntax', () => {
  const ok = renderSite({ root: '/srv/mirrorsmith/out/current', listen: '127.0.0.1:8080' });
  assert.match(ok, /^\s*root \/srv\/mirrorsmith\/out\/current;$/m);
  assert.match(ok, /^include \/srv\/mirrorsmith\/out\/current\/nginx\/http\.d\/\*\.conf;$/m);
  assert.match(ok, /^\s*include \/srv\/mirrorsmith\/out\/current\/nginx\/server\.d\/\*\.conf;$/m);
  assert.match(ok, /^\s*sendfile off;$/m);
  assert.match(ok, /^\s*open_file_cache off;$/m);
  // Serving out/: fragments from current at load time, files from the generation they name.
  const pinned = renderSite({ root: '/srv/mirrorsmith/out/current', generationsDir: '/srv/mirrorsmith/out/generations', listen: '80' });
  assert.match(pinned, /^\s*root \/srv\/mirrorsmith\/out\/generations\/\$ms_generation;$/m);
  assert.match(pinned, /^geo \$ms_generation \{ default "\.none"; \}\n\n(?:#.*\n)*include \/srv\/mirrorsmith\/out\/current\/nginx\/http\.d\/\*\.conf;$/m, 'the fallback comes before the fragments, which override it');
  assert.throws(() => renderSite({ root: '/srv/out/current', generationsDir: '/srv/my out/generations', listen: '80' }), /generations dir .* cannot be used in nginx config/);
  for (const root of ['/srv/my out/current', '/srv/x;evil', '/srv/{x}', 'relative/out', '/srv/"q"', '/srv/$var']) {
    assert.throws(() => renderSite({ root, listen: '80' }), /cannot be used in nginx config/, root);
  }
  assert.throws(() => renderSite({ root: '/srv/out', listen: '80; include /etc/passwd' }), /invalid listen address/);
  assert.throws(() => renderSite({ root: '/srv/out', listen: '80', serverName: 'a b' }), /invalid server_name/);
  assert.match(renderSite({ root: '/srv/out', listen: '[::1]:8080' }), /listen \[::1\]:8080;/);
});
