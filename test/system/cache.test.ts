// The caching mirror against the real thing: nginx as two upstreams and as the
// cache (proxy_store), createrepo_c repodata, rpmbuild packages, dnf as the client.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseCacheConfig, type CacheConfig } from '../../pipelines/cache/config.ts';
import { expireCache } from '../../pipelines/cache/expire.ts';
import { initCache, renderCacheFiles } from '../../pipelines/cache/init.ts';
import { parseRepomd } from '../../pipelines/cache/repodata.ts';
import { seedFromIso } from '../../pipelines/cache/seed.ts';
import { cacheStatus } from '../../pipelines/cache/status.ts';
import { ValidationError } from '../../pipelines/core/errors.ts';
import { freePort, startNginx, type RunningNginx } from '../../pipelines/serve/nginx.ts';
import { REQUIRE_SYSTEM, requireTool } from '../helpers/system.ts';

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * proxy_store renames its temp file into place when the upstream response ends,
 * which can be just after the client has its bytes (always so for a range cut
 * from a miss), so a stored file is awaited for a bounded time.
 */
async function stored(file: string, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!fs.existsSync(file)) {
    if (Date.now() > deadline) assert.fail(`${file} not stored within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return file;
}

/** A tiny noarch rpm; `payload` changes its content (a "re-signed" rebuild keeps the name). */
function buildRpm(work: string, name: string, payload: string): string {
  const top = fs.mkdtempSync(path.join(work, 'rpmbuild-'));
  fs.mkdirSync(path.join(top, 'SPECS'));
  const spec = path.join(top, 'SPECS', `${name}.spec`);
  fs.writeFileSync(
    spec,
    `Name: ${name}\nVersion: 1.0\nRelease: 1\nSummary: test package ${name}\nLicense: MIT\nBuildArch: noarch\n%description\n${payload}\n` +
      `%install\nmkdir -p %{buildroot}/usr/share/${name}\necho '${payload}' > %{buildroot}/usr/share/${name}/payload.txt\n%files\n/usr/share/${name}/payload.txt\n`,
  );
  execFileSync('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${top}`, '--define', '_build_id_links none', spec], { stdio: 'pipe' });
  return path.join(top, 'RPMS', 'noarch', `${name}-1.0-1.noarch.rpm`);
}

function publish(repoDir: string, rpms: Record<string, string>): void {
  fs.rmSync(repoDir, { recursive: true, force: true });
  fs.mkdirSync(path.join(repoDir, 'Packages'), { recursive: true });
  for (const [name, file] of Object.entries(rpms)) fs.copyFileSync(file, path.join(repoDir, 'Packages', `${name}-1.0-1.noarch.rpm`));
  execFileSync('createrepo_c', ['--quiet', '--general-compress-type=gz', repoDir], { stdio: 'pipe' });
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

function dnfDownload(work: string, baseurl: string, pkg: string): string {
  const dir = fs.mkdtempSync(path.join(work, 'dnf-'));
  fs.mkdirSync(path.join(dir, 'repos.d'));
  fs.writeFileSync(path.join(dir, 'repos.d', 'cached.repo'), `[cached]\nname=cached\nbaseurl=${baseurl}\ngpgcheck=0\nmetadata_expire=0\n`);
  execFileSync(
    'dnf',
    ['-q', `--installroot=${dir}/root`, `--setopt=reposdir=${dir}/repos.d`, `--setopt=cachedir=${dir}/cache`, '--releasever=41', '--disablerepo=*', '--enablerepo=cached', 'install', '-y', '--downloadonly', `--destdir=${dir}/dl`, pkg],
    { stdio: 'pipe', timeout: 120_000 },
  );
  return path.join(dir, 'dl', `${pkg}-1.0-1.noarch.rpm`);
}

interface World {
  work: string;
  up: [string, string];
  servers: RunningNginx[];
  cache: RunningNginx;
  config: CacheConfig;
  cacheUrl: string;
  rpms: Record<string, string>;
}

interface SetUpOptions {
  /** Mount a tmpfs of this many bytes as the cache root (a disk that fills up). */
  tmpfsRootBytes?: number;
}

async function setUp(t: TestContext, opts: SetUpOptions = {}): Promise<World | null> {
  for (const [tool, pkg] of [['nginx', 'nginx-light'], ['createrepo_c', 'createrepo-c'], ['rpmbuild', 'rpm'], ['dnf', 'dnf']] as const) {
    if (!requireTool(t, tool, pkg)) return null;
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-cache-'));
  const servers: RunningNginx[] = [];
  const mounts: string[] = [];
  t.after(async () => {
    for (const s of servers) await s.stop();
    for (const m of mounts) execFileSync('umount', [m], { stdio: 'pipe' });
    fs.rmSync(work, { recursive: true, force: true });
  });
  const rpms = { hello: buildRpm(work, 'hello', 'v1'), world: buildRpm(work, 'world', 'v1'), extra: buildRpm(work, 'extra', 'v1') };
  const up: [string, string] = [path.join(work, 'up1'), path.join(work, 'up2')];
  for (const u of up) publish(path.join(u, 'repo'), rpms);
  // Real mirrors list their directories.
  for (const u of up) servers.push(await startNginx({ outDir: work, root: u, extraServer: 'autoindex on;' }));
  const port = await freePort();
  const root = path.join(work, 'cache');
  if (opts.tmpfsRootBytes) {
    fs.mkdirSync(root);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${opts.tmpfsRootBytes}`, 'tmpfs', root], { encoding: 'utf8', timeout: 10_000 });
    if (mounted.status !== 0) {
      const why = `cannot mount a tmpfs as the cache root (needs root or CAP_SYS_ADMIN): ${(mounted.stderr || mounted.error?.message || '').trim()}`;
      // A missing tool fails under MIRRORSMITH_REQUIRE_SYSTEM; a sandbox that refuses
      // the mount (no CAP_SYS_ADMIN) is a property of the machine, skipped loudly.
      if (REQUIRE_SYSTEM && mounted.error) throw new Error(`${why} (MIRRORSMITH_REQUIRE_SYSTEM=1)`);
      process.stderr.write(`\n*** SYSTEM TEST SKIPPED: ${why}\n`);
      t.skip(why);
      return null;
    }
    mounts.push(root);
  }
  const { config, files } = initCache({
    preset: 'yum',
    upstreams: servers.map((s) => `${s.url}/`),
    root,
    outDir: path.join(work, 'site'),
    listen: `127.0.0.1:${port}`,
  });
  const site = files.find((f) => f.endsWith('mirrorsmith-cache.conf'))!;
  const cache = await startNginx({ outDir: work, root: path.join(work, 'empty'), extraHttp: `include ${site};` });
  servers.push(cache);
  return { work, up, servers, cache, config, cacheUrl: `http://127.0.0.1:${port}`, rpms };
}

test('cache init renders a site that stores what it fetches and answers ranges from disk', async (t) => {
  const w = await setUp(t);
  if (!w) return;
  // A real client through the cache; the package lands at the same relative path.
  const got = dnfDownload(w.work, `${w.cacheUrl}/repo/`, 'hello');
  const hello = await stored(path.join(w.config.root, 'repo', 'Packages', 'hello-1.0-1.noarch.rpm'));
  assert.equal(sha256(hello), sha256(got));
  // repomd.xml is proxied live until the expiry job holds the complete set.
  assert.equal(fs.existsSync(path.join(w.config.root, 'repo', 'repodata', 'repomd.xml')), false);
  const adopted = await expireCache(w.config, { all: true });
  assert.equal(adopted.errors, 0);
  assert.match(adopted.actions.find((a) => a.action === 'repodata-updated')!.reason, /first complete repodata set/);
  const names = parseRepomd(fs.readFileSync(path.join(w.config.root, 'repo', 'repodata', 'repomd.xml'), 'utf8')).entries.map((e) => e.href);
  for (const href of names) assert.ok(fs.existsSync(path.join(w.config.root, 'repo', href)), `${href} on disk`);
  // Content types and metadata revalidation.
  const rpm = await get(`${w.cacheUrl}/repo/Packages/hello-1.0-1.noarch.rpm`);
  assert.equal(rpm.headers.get('content-type'), 'application/octet-stream');
  const repomd = await get(`${w.cacheUrl}/repo/repodata/repomd.xml`);
  assert.match(repomd.headers.get('cache-control') ?? '', /must-revalidate/);
  // Range from the stored file.
  const whole = fs.readFileSync(hello);
  const part = await get(`${w.cacheUrl}/repo/Packages/hello-1.0-1.noarch.rpm`, { Range: 'bytes=10-29' });
  assert.equal(part.status, 206);
  assert.deepEqual(part.body, whole.subarray(10, 30));
  // A range request on a miss still stores the whole file.
  const miss = await get(`${w.cacheUrl}/repo/Packages/world-1.0-1.noarch.rpm`, { Range: 'bytes=0-9' });
  assert.equal(miss.status, 206);
  assert.equal(miss.body.length, 10);
  assert.equal(sha256(await stored(path.join(w.config.root, 'repo', 'Packages', 'world-1.0-1.noarch.rpm'))), sha256(w.rpms.world));
  // Errors are not stored; internal paths are not served.
  assert.equal((await get(`${w.cacheUrl}/repo/Packages/nope.rpm`)).status, 404);
  assert.equal(fs.existsSync(path.join(w.config.root, 'repo', 'Packages', 'nope.rpm')), false);
  assert.equal((await get(`${w.cacheUrl}/.mirrorsmith-cache/state.json`)).status, 404);
  // Directory listings are live: a file just published upstream is listed; a
  // directory only the second upstream has is listed through the 404 fallback.
  fs.writeFileSync(path.join(w.up[0], 'repo', 'Packages', 'new-on-first.txt'), 'x');
  assert.match((await get(`${w.cacheUrl}/repo/Packages/`)).body.toString(), /new-on-first\.txt/);
  fs.mkdirSync(path.join(w.up[1], 'repo', 'only-second'));
  fs.writeFileSync(path.join(w.up[1], 'repo', 'only-second', 'marker-a.txt'), 'x');
  const secondOnly = await get(`${w.cacheUrl}/repo/only-second/`);
  assert.equal(secondOnly.status, 200);
  assert.match(secondOnly.body.toString(), /marker-a\.txt/);
  // First upstream down: the second serves the miss.
  await w.servers[0]!.stop();
  const fallback = await get(`${w.cacheUrl}/repo/Packages/extra-1.0-1.noarch.rpm`);
  assert.equal(fallback.status, 200);
  assert.equal(sha256(await stored(path.join(w.config.root, 'repo', 'Packages', 'extra-1.0-1.noarch.rpm'))), sha256(w.rpms.extra));
  // ... and the listings, still live (never stored): what the second has now.
  fs.writeFileSync(path.join(w.up[1], 'repo', 'Packages', 'new-on-second.txt'), 'x');
  const listing = await get(`${w.cacheUrl}/repo/Packages/`);
  assert.equal(listing.status, 200);
  assert.match(listing.body.toString(), /new-on-second\.txt/);
  assert.doesNotMatch(listing.body.toString(), /new-on-first\.txt/);
  fs.writeFileSync(path.join(w.up[1], 'repo', 'only-second', 'marker-b.txt'), 'x');
  assert.match((await get(`${w.cacheUrl}/repo/only-second/`)).body.toString(), /marker-b\.txt/);
  assert.deepEqual(fs.readdirSync(path.join(w.config.root, 'repo', 'Packages')).filter((f) => !f.endsWith('.rpm')), []);
  assert.equal(fs.existsSync(path.join(w.config.root, 'repo', 'only-second')), false);
  assert.match(fs.readFileSync(w.config.accessLog, 'utf8'), /upstream=/);
  const status = cacheStatus(w.config);
  assert.ok(status.trees[0]!.files >= 4);
  assert.ok(status.requests && status.requests.hits >= 1 && status.requests.misses >= 2);
});

test('cache expire swaps in new repodata, re-fetches re-signed packages, drops removed ones, never serving a dangling repomd.xml', async (t) => {
  const w = await setUp(t);
  if (!w) return;
  const local = (p: string) => path.join(w.config.root, 'repo', p);
  dnfDownload(w.work, `${w.cacheUrl}/repo/`, 'hello');
  await get(`${w.cacheUrl}/repo/Packages/world-1.0-1.noarch.rpm`);
  await stored(local('Packages/hello-1.0-1.noarch.rpm'));
  await stored(local('Packages/world-1.0-1.noarch.rpm'));
  await expireCache(w.config, { all: true }); // adopt: the complete set on disk
  const oldHello = sha256(local('Packages/hello-1.0-1.noarch.rpm'));

  // Nothing changed upstream yet.
  const quiet = await expireCache(w.config, { all: true });
  assert.deepEqual(quiet.actions.filter((a) => a.action !== 'unchanged' && a.action !== 'skipped'), []);

  // Upstream push: hello re-signed (same name, new bytes), world removed.
  const resigned = buildRpm(w.work, 'hello', 'v2-resigned');
  for (const u of w.up) publish(path.join(u, 'repo'), { hello: resigned, extra: w.rpms.extra });

  // While expiry runs, a client keeps reading repomd.xml and every file it names.
  let polling = true;
  const dangling: string[] = [];
  let rounds = 0;
  const poller = (async () => {
    const deadline = Date.now() + 30_000;
    while (polling && Date.now() < deadline && rounds < 2000) {
      rounds++;
      const r = await get(`${w.cacheUrl}/repo/repodata/repomd.xml`);
      if (r.status !== 200) {
        dangling.push(`repomd.xml ${r.status}`);
        continue;
      }
      for (const e of parseRepomd(r.body.toString('utf8')).entries) {
        if (!fs.existsSync(local(e.href)) && r.body.equals(fs.readFileSync(local('repodata/repomd.xml')))) dangling.push(`${e.href} missing while repomd.xml names it`);
      }
    }
  })();
  const result = await expireCache(w.config, { all: true });
  polling = false;
  await poller;
  assert.deepEqual(dangling, []);
  assert.ok(rounds > 0);
  assert.equal(result.errors, 0, JSON.stringify(result.actions));
  const byPath = new Map(result.actions.map((a) => [a.path, a]));
  assert.equal(byPath.get('repo/Packages/hello-1.0-1.noarch.rpm')?.action, 'deleted');
  assert.match(byPath.get('repo/Packages/hello-1.0-1.noarch.rpm')!.reason, /checksum changed upstream/);
  assert.equal(byPath.get('repo/Packages/world-1.0-1.noarch.rpm')?.action, 'deleted');
  assert.match(byPath.get('repo/Packages/world-1.0-1.noarch.rpm')!.reason, /no longer listed/);
  assert.equal(byPath.get('repo/repodata/repomd.xml')?.action, 'repodata-updated');
  assert.equal(sha256(local('repodata/repomd.xml')), sha256(path.join(w.up[0], 'repo', 'repodata', 'repomd.xml')));
  assert.equal(fs.existsSync(local('Packages/world-1.0-1.noarch.rpm')), false);
  // The client sees the new metadata and gets the re-signed package.
  const got = dnfDownload(w.work, `${w.cacheUrl}/repo/`, 'hello');
  assert.equal(sha256(got), sha256(resigned));
  assert.notEqual(sha256(got), oldHello);
  // Old repodata files leave after the grace period, not before.
  const later = await expireCache(w.config, { all: true, now: new Date(Date.now() + 60 * 60_000) });
  assert.ok(later.actions.some((a) => a.action === 'removed-old-metadata'));
  const names = new Set(parseRepomd(fs.readFileSync(local('repodata/repomd.xml'), 'utf8')).entries.map((e) => path.basename(e.href)));
  for (const f of fs.readdirSync(local('repodata'))) assert.ok(f === 'repomd.xml' || names.has(f), `${f} should be gone`);
});

test('cache expire keeps the old metadata when upstream serves a truncated primary', async (t) => {
  const w = await setUp(t);
  if (!w) return;
  await get(`${w.cacheUrl}/repo/repodata/primary.xml.gz`); // creates repodata/ (a 404 is not stored)
  fs.mkdirSync(path.join(w.config.root, 'repo', 'repodata'), { recursive: true });
  await expireCache(w.config, { all: true });
  const before = fs.readFileSync(path.join(w.config.root, 'repo', 'repodata', 'repomd.xml'));
  for (const u of w.up) {
    publish(path.join(u, 'repo'), { hello: buildRpm(w.work, 'hello', 'v3') });
    const repomd = parseRepomd(fs.readFileSync(path.join(u, 'repo', 'repodata', 'repomd.xml'), 'utf8'));
    const primary = path.join(u, 'repo', repomd.entries.find((e) => e.type === 'primary')!.href);
    fs.truncateSync(primary, 20);
  }
  const result = await expireCache(w.config, { all: true });
  assert.equal(result.errors, 1);
  const err = result.actions.find((a) => a.action === 'error')!;
  assert.equal(err.path, 'repo');
  assert.match(err.reason, /primary.*(does not match|cannot decompress)|old metadata kept/);
  assert.deepEqual(fs.readFileSync(path.join(w.config.root, 'repo', 'repodata', 'repomd.xml')), before);
});

test('cache seed places ISO files matching upstream checksums and refuses the rest', async (t) => {
  const w = await setUp(t);
  if (!w) return;
  if (!requireTool(t, 'xorriso', 'xorriso') || !requireTool(t, 'bsdtar', 'libarchive-tools')) return;
  const isoTree = path.join(w.work, 'iso');
  fs.mkdirSync(path.join(isoTree, 'Packages'), { recursive: true });
  fs.copyFileSync(w.rpms.hello, path.join(isoTree, 'Packages', 'hello-1.0-1.noarch.rpm'));
  fs.copyFileSync(buildRpm(w.work, 'world', 'tampered'), path.join(isoTree, 'Packages', 'world-1.0-1.noarch.rpm'));
  fs.writeFileSync(path.join(isoTree, 'README'), 'not in any metadata');
  const iso = path.join(w.work, 'dvd.iso');
  execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-o', iso, isoTree], { stdio: 'pipe' });
  const r = await seedFromIso(w.config, iso, 'repo');
  assert.deepEqual(r.placed, ['Packages/hello-1.0-1.noarch.rpm']);
  assert.deepEqual(r.refused.map((x) => x.path), ['Packages/world-1.0-1.noarch.rpm']);
  assert.equal(r.ignored, 1);
  assert.equal(sha256(path.join(w.config.root, 'repo', 'Packages', 'hello-1.0-1.noarch.rpm')), sha256(w.rpms.hello));
  assert.equal(fs.existsSync(path.join(w.config.root, 'repo', 'Packages', 'world-1.0-1.noarch.rpm')), false);
  await assert.rejects(seedFromIso(w.config, iso, '../etc'), /--tree "\.\.\/etc": must be a relative path/);
});

test('cache config rejects bad upstreams and tree paths, naming the field', () => {
  const base = { root: '/srv/mirror', upstreams: ['https://dl.example.org/pub/'], trees: [{ path: 'fedora', policy: 'never' }] };
  const error = (raw: unknown) => {
    try {
      parseCacheConfig(raw, 'cache.yaml');
    } catch (err) {
      assert.ok(err instanceof ValidationError);
      return err.message;
    }
    assert.fail('accepted');
  };
  assert.match(error({ ...base, upstreams: ['ftp://dl.example.org/pub/'] }), /upstreams\.0: must be an http:\/\/ or https:\/\/ URL/);
  assert.match(error({ ...base, upstreams: ['https://user:pw@dl.example.org/'] }), /upstreams\.0: /);
  assert.match(error({ ...base, upstreams: ['https://dl.example.org/pub;/x'] }), /upstreams\.0: /);
  assert.match(error({ ...base, trees: [{ path: '../etc', policy: 'never' }] }), /trees\.0\.path: must be a relative path/);
  assert.match(error({ ...base, trees: [{ path: 'x', policy: 'sometimes' }] }), /trees\.0\.policy: must be "never" or an interval/);
  assert.match(error({ ...base, root: 'relative/dir' }), /root: must be an absolute path/);
  assert.throws(() => renderCacheFiles({ preset: 'fedora', upstreams: ['https://dl.example.org/pub/'], root: '/srv/my mirror', outDir: '/tmp/x' }), /--root .* only letters/);
  assert.throws(() => renderCacheFiles({ preset: 'nope', upstreams: ['https://dl.example.org/pub/'], root: '/srv/m', outDir: '/tmp/x' }), /unknown preset "nope" \(known: centos, epel, fedora, yum\)/);
  const { files } = renderCacheFiles({ preset: 'fedora', upstreams: ['https://dl.example.org/pub/', 'http://mirror.example.net:8080/fedora/'], root: '/srv/mirror', outDir: '/tmp/x' });
  const site = files['nginx/mirrorsmith-cache.conf']!;
  assert.match(site, /proxy_pass https:\/\/ms_cache_up0\/pub\$uri;/);
  assert.match(site, /proxy_ssl_name dl\.example\.org;/);
  assert.match(site, /error_page 403 404 500 502 503 504 = @fetch1;/);
  assert.match(site, /proxy_pass http:\/\/ms_cache_up1\/fedora\$uri;/);
  assert.match(files['systemd/mirrorsmith-cache-expire.timer']!, /OnUnitInactiveSec=30min/);
  // Listings: first upstream, then the live chain.
  assert.match(site, /location ~ \/\$ \{\n\s+proxy_pass https:\/\/ms_cache_up0\/pub\$uri;[^}]*error_page 403 404 500 502 503 504 = @live1;/);
  const base2 = { preset: 'yum', upstreams: ['https://dl.example.org/pub/'], root: '/srv/m', outDir: '/tmp/x' };
  assert.throws(() => renderCacheFiles({ ...base2, installDir: '/tmp' }), /--install-dir \/tmp: no mirrorsmith install there/);
  assert.throws(() => renderCacheFiles({ ...base2, node: 'node' }), /--node "node": must be an absolute path/);
  assert.throws(() => renderCacheFiles({ ...base2, node: '/nonexistent/node' }), /--node \/nonexistent\/node: not an executable file/);
  assert.throws(() => renderCacheFiles({ ...base2, outDir: '/tmp/my site' }), /--out: the cache config path "\/tmp\/my site\/cache.yaml"/);
  assert.throws(() => renderCacheFiles({ ...base2, user: 'www data' }), /--user "www data": not a user name/);
});

test('install trees: a changed .treeinfo expires images/', async (t) => {
  const w = await setUp(t);
  if (!w) return;
  for (const u of w.up) {
    fs.mkdirSync(path.join(u, 'repo', 'images'), { recursive: true });
    fs.writeFileSync(path.join(u, 'repo', '.treeinfo'), '[general]\nversion = 41\n');
    fs.writeFileSync(path.join(u, 'repo', 'images', 'boot.iso'), 'boot image v1');
  }
  assert.equal((await get(`${w.cacheUrl}/repo/.treeinfo`)).status, 200);
  assert.equal((await get(`${w.cacheUrl}/repo/images/boot.iso`)).body.toString(), 'boot image v1');
  assert.equal((await expireCache(w.config, { all: true })).actions.find((a) => a.path === 'repo/.treeinfo')?.action, 'unchanged');
  for (const u of w.up) {
    fs.writeFileSync(path.join(u, 'repo', '.treeinfo'), '[general]\nversion = 41.1\n');
    fs.writeFileSync(path.join(u, 'repo', 'images', 'boot.iso'), 'boot image v2');
  }
  const r = await expireCache(w.config, { all: true });
  assert.equal(r.actions.find((a) => a.path === 'repo/images/boot.iso')?.action, 'deleted');
  assert.equal(r.actions.find((a) => a.path === 'repo/.treeinfo')?.action, 'treeinfo-updated');
  assert.equal((await get(`${w.cacheUrl}/repo/images/boot.iso`)).body.toString(), 'boot image v2');
});

test('primary metadata compressed with xz (createrepo_c) and zstd (as Fedora publishes it) is read', async (t) => {
  if (!requireTool(t, 'createrepo_c', 'createrepo-c') || !requireTool(t, 'rpmbuild', 'rpm') || !requireTool(t, 'zstd', 'zstd')) return;
  const { decompressByName, parsePrimary } = await import('../../pipelines/cache/repodata.ts');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-cache-xz-'));
  t.after(() => fs.rmSync(work, { recursive: true, force: true }));
  const rpm = buildRpm(work, 'hello', 'v1');
  const repo = path.join(work, 'repo');
  fs.mkdirSync(path.join(repo, 'Packages'), { recursive: true });
  fs.copyFileSync(rpm, path.join(repo, 'Packages', 'hello-1.0-1.noarch.rpm'));
  // Debian's createrepo_c has xz but not zstd; Fedora's primary.xml.zst is plain zstd.
  execFileSync('createrepo_c', ['--quiet', '--general-compress-type=xz', repo], { stdio: 'pipe' });
  const primary = parseRepomd(fs.readFileSync(path.join(repo, 'repodata', 'repomd.xml'), 'utf8')).entries.find((e) => e.type === 'primary')!;
  assert.match(primary.href, /\.xz$/);
  const xml = decompressByName(primary.href, fs.readFileSync(path.join(repo, primary.href)));
  const zst = path.join(work, 'primary.xml.zst');
  execFileSync('zstd', ['-q', '-19', '-o', zst], { input: xml });
  for (const [name, body] of [[primary.href, fs.readFileSync(path.join(repo, primary.href))], ['primary.xml.zst', fs.readFileSync(zst)]] as const) {
    const pkgs = parsePrimary(decompressByName(name, body).toString('utf8'));
    assert.deepEqual(pkgs.map((p) => [p.href, p.checksum]), [['Packages/hello-1.0-1.noarch.rpm', sha256(rpm)]], name);
  }
});

/** Splits an ExecStart= value that needs no systemd quoting or expansion (anything else fails). */
function execStartArgv(unitText: string): { argv: string[]; cwd: string } {
  const service = unitText.slice(unitText.indexOf('[Service]'));
  const value = (key: string) => {
    const lines = service.split('\n').filter((l) => l.startsWith(`${key}=`));
    assert.equal(lines.length, 1, `exactly one ${key}= in [Service]`);
    return lines[0]!.slice(key.length + 1).trim();
  };
  const execStart = value('ExecStart');
  // Quotes, escapes, specifiers, variables and prefixes would change how systemd reads it.
  assert.doesNotMatch(execStart, /["'\\%$;]|^[-@:+!]/, `ExecStart=${execStart} must be a plain word list`);
  const argv = execStart.split(/\s+/);
  assert.ok(path.isAbsolute(argv[0]!), `ExecStart must start with an absolute path: ${execStart}`);
  return { argv, cwd: value('WorkingDirectory') };
}

test('the generated expiry unit runs `cache expire` on the cache config as written', async (t) => {
  const w = await setUp(t);
  if (!w) return;
  const site = path.join(w.work, 'site');
  const serviceFile = path.join(site, 'systemd', 'mirrorsmith-cache-expire.service');
  const timerFile = path.join(site, 'systemd', 'mirrorsmith-cache-expire.timer');
  const service = fs.readFileSync(serviceFile, 'utf8');
  assert.match(fs.readFileSync(timerFile, 'utf8'), /OnUnitInactiveSec=60min/);
  // systemd's own reading of both units: ExecStart executable, WorkingDirectory, User.
  const analyze = requireTool(t, 'systemd-analyze', 'systemd');
  if (!analyze) return;
  const verified = spawnSync(analyze, ['verify', serviceFile, timerFile], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(verified.status, 0, `systemd-analyze verify: ${verified.stderr}`);

  // A cached repository whose repomd.xml only the expiry job may write.
  assert.equal((await get(`${w.cacheUrl}/repo/Packages/hello-1.0-1.noarch.rpm`)).status, 200);
  fs.mkdirSync(path.join(w.config.root, 'repo', 'repodata'), { recursive: true });
  const { argv, cwd } = execStartArgv(service);
  assert.ok(argv.includes(w.config.file), `ExecStart names the cache config ${w.config.file}: ${argv.join(' ')}`);
  // As systemd starts it: that directory, systemd's default PATH, no inherited environment.
  const run = spawnSync(argv[0]!, argv.slice(1), {
    cwd,
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(run.status, 0, `${argv.join(' ')} exited ${run.status ?? run.signal}:\n${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /repodata-updated\s+repo\/repodata\/repomd\.xml\s+first complete repodata set/);
  assert.match(run.stdout, /1 repositories updated, 0 files expired, 0 errors/);
  assert.equal(sha256(path.join(w.config.root, 'repo', 'repodata', 'repomd.xml')), sha256(path.join(w.up[0], 'repo', 'repodata', 'repomd.xml')));
  assert.ok(cacheStatus(w.config).lastRun, 'the run is recorded in the state file');
  // The generated cache.yaml names the option the commands really read.
  const yamlHead = fs.readFileSync(w.config.file, 'utf8').split('\n').slice(0, 2).join('\n');
  assert.match(yamlHead, new RegExp(`--cache-config ${w.config.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.doesNotMatch(yamlHead, /(^|\s)--config\s/);
});

test('a full disk during store leaves no partial file and frees its temp file', async (t) => {
  const disk = 2 * 2 ** 20;
  const w = await setUp(t, { tmpfsRootBytes: disk });
  if (!w) return;
  // Bigger than the whole cache disk, on both upstreams.
  const big = Buffer.alloc(disk * 2);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
  for (const u of w.up) {
    fs.mkdirSync(path.join(u, 'repo', 'images'), { recursive: true });
    fs.writeFileSync(path.join(u, 'repo', 'images', 'big.iso'), big);
  }
  const target = path.join(w.config.root, 'repo', 'images', 'big.iso');
  const tmpDir = path.join(w.config.root, '.mirrorsmith-cache', 'tmp');
  const errorLog = path.join(w.cache.prefixDir, 'logs', 'error.log');
  for (let attempt = 1; attempt <= 2; attempt++) {
    // The client gets the whole file from upstream or an error, never a short 200.
    let outcome: string;
    try {
      const r = await get(`${w.cacheUrl}/repo/images/big.iso`);
      outcome = r.status === 200 ? (r.body.equals(big) ? 'full body' : `200 with ${r.body.length} of ${big.length} bytes`) : `status ${r.status}`;
    } catch (err) {
      outcome = `error: ${(err as Error).message}`;
    }
    assert.match(outcome, /^(full body|status 5\d\d|error: )/, `attempt ${attempt}`);
    // nginx closes (and so frees) the temp file when the request is over, after it
    // would have renamed it into place: wait, bounded, for the space to come back.
    // (The access log cannot tell: it is on the full disk and loses this line.)
    const deadline = Date.now() + 15_000;
    const free = (): number => {
      const st: fs.StatsFs = fs.statfsSync(w.config.root);
      return st.bavail * st.bsize;
    };
    while (free() < disk - 256 * 1024) {
      if (Date.now() > deadline) {
        const tail = fs.readFileSync(errorLog, 'utf8').split('\n').slice(-5).join('\n');
        assert.fail(`attempt ${attempt}: cache disk still holds ${disk - free()} bytes after 15 s (outcome: ${outcome}; temp dir: ${fs.readdirSync(tmpDir).join(', ') || 'empty'}; error log:\n${tail})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(fs.existsSync(target), false, `attempt ${attempt}: no partial big.iso at the target path`);
    assert.deepEqual(fs.readdirSync(tmpDir), [], `attempt ${attempt}: nginx removed its temp file`);
  }
  const shortWrites = fs.readFileSync(errorLog, 'utf8').match(/\/tmp\/\d+" has written only \d+ of \d+ while reading upstream/g) ?? [];
  assert.equal(shortWrites.length, 2, 'both stores really hit the full disk');
  // The space came back: the next miss is stored as usual.
  const hello = await get(`${w.cacheUrl}/repo/Packages/hello-1.0-1.noarch.rpm`);
  assert.equal(hello.status, 200);
  assert.equal(sha256(await stored(path.join(w.config.root, 'repo', 'Packages', 'hello-1.0-1.noarch.rpm'))), sha256(w.rpms.hello));
});
