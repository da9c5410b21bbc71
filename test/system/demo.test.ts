// `mirrorsmith demo` (npm start) end to end, as a newcomer runs it: a fresh demo
// directory, the whole pipeline over the simulated mirrors, and the output the
// issues ask for — the scanned repositories, per mirror which repositories it is
// fresh for and why not, and example URLs whose ip= values land in different
// client classes. The example URLs are then asked of real nginx through the
// printed `mirrorsmith serve` command: the first group printed is what nginx lists first.
// The same nginx then serves the public list, status pages, map, rsync ACL and
// metrics of the demo's own data, checked against what the crawl found.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { openDb } from '../../pipelines/core/db.ts';
import { listRepositories } from '../../pipelines/master/queries.ts';
import { createRequire } from 'node:module';
import { DEMO_SITES, demoHosts } from '../../pipelines/demo/network.ts';
import { slug } from '../../pipelines/public/model.ts';
import { freePort } from '../../pipelines/simnet/daemons.ts';
import { demoPublishOptions } from '../../pipelines/commands/demo.ts';
import { REQUIRE_SYSTEM, whichTool } from '../helpers/system.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(ROOT, 'pipelines/cli.ts');
const TSX = import.meta.resolve('tsx');
const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Array<{ name: string; metrics: unknown[] }>;

const nginxMissing = whichTool('nginx') ? false : 'SYSTEM TEST SKIPPED: nginx not installed (apt-get install nginx-light)';
if (nginxMissing && REQUIRE_SYSTEM) throw new Error('nginx is required (MIRRORSMITH_REQUIRE_SYSTEM=1)');

function cliEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true' };
  delete env.DATABASE_URL;
  return env;
}

function runCli(cwd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], { cwd, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (err += b));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/** A port whose next one is free too (the demo's rsync daemon takes port + 1). */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const p = await freePort();
    const nextFree = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(p + 1, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (p < 65534 && nextFree) return p;
  }
  throw new Error('no two adjacent free ports on 127.0.0.1');
}

test('without nginx the demo (only the demo) publishes without nginx -t, and says so loudly', () => {
  assert.deepEqual(demoPublishOptions('/usr/sbin/nginx'), { options: {}, note: null });
  const absent = demoPublishOptions(null);
  assert.deepEqual(absent.options, { skipNginxTest: true });
  assert.match(absent.note!, /nginx is not installed.*WITHOUT checking it with `nginx -t`/s);
  assert.match(absent.note!, /`mirrorsmith run` refuses/);
});

test('npm start: scanned repositories, freshness per mirror with reasons, example URLs that nginx answers as printed', { skip: nginxMissing, timeout: 420_000 }, async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-demo-'));
  // One hook, in this order: stop `serve` (and its nginx, which writes below work/), then remove work/.
  let stopServe = async () => {};
  t.after(async () => {
    await stopServe();
    fs.rmSync(work, { recursive: true, force: true });
  });
  const mirrorPort = await freePortPair();
  const demo = await runCli(work, ['demo', '--dir', 'demo', '--out', 'out', '--mirror-port', String(mirrorPort)], 300_000);
  assert.equal(demo.code, 0, `demo failed:\n${demo.out}\n${demo.err.slice(-4000)}`);
  const out = demo.out;
  const stages = /pipeline run \d+: (.*)/.exec(out)?.[1]?.split(', ') ?? [];
  for (const st of ['registry', 'scan-master', 'crawl', 'probe', 'ingest', 'build', 'publish']) assert.ok(stages.includes(`${st} ok`), `${st} ok in ${stages.join(', ')}`);
  assert.ok(stages.every((st) => st.endsWith(' ok')), stages.join(', '));
  assert.ok(fs.existsSync(path.join(work, 'out/current/lists/index.json')), 'out/current published');

  // 1. The scanned repositories: every repository scan-master stored has its row (repo, arch, directory).
  const db = await openDb({ dataDir: path.join(work, 'demo/var/db') });
  const repos = await listRepositories(db);
  const { rows: hostRows } = await db.query<{ name: string }>('SELECT name FROM host ORDER BY name');
  await db.close();
  assert.ok(repos.length >= 20, `the demo tree has many repositories (${repos.length})`);
  const table = out.slice(out.indexOf('What scan-master found'), out.indexOf('What the crawler'));
  assert.match(table, new RegExp(`${repos.length} repositories`));
  for (const r of repos) {
    const row = table.split('\n').find((l) => l.startsWith(`${r.repo} `));
    assert.ok(row, `no row for ${r.repo}`);
    assert.ok(row.includes(r.arch), `${r.repo}: arch ${r.arch} missing in ${row}`);
    assert.ok(row.includes(r.path) || row.includes(r.path.replace(`/${r.arch}`, '/<arch>')), `${r.repo}: directory ${r.path} missing in ${row}`);
  }

  // 2. Per mirror: which repositories it is fresh for, and why the others are not.
  const listed = repos.filter((r) => r.readable && !r.disabled).length;
  const fresh = out.slice(out.indexOf('What the crawler'), out.indexOf('Example lists'));
  const lineOf = (host: string) => fresh.split('\n').find((l) => l.startsWith(`${host} (`)) ?? assert.fail(`no freshness line for ${host}`);
  const reasonsOf = (host: string) => {
    const lines = fresh.split('\n');
    const i = lines.findIndex((l) => l.startsWith(`${host} (`));
    const rest = lines.slice(i + 1);
    const end = rest.findIndex((l) => !l.startsWith('    '));
    return rest.slice(0, end < 0 ? rest.length : end).join('\n');
  };
  assert.equal(hostRows.length, demoHosts().length);
  for (const h of demoHosts()) {
    const line = lineOf(h.name);
    assert.ok(line.includes(`acts ${h.behaviour}`), line);
    if (h.behaviour === 'fresh') assert.ok(line.includes(`fresh for all ${listed} repositories`), line);
    if (h.behaviour === 'stale-1' || h.behaviour === 'stale-3') {
      assert.match(line, new RegExp(`fresh for ${listed - 1} of ${listed} repositories`));
      assert.match(reasonsOf(h.name), h.behaviour === 'stale-1' ? /not fresh: updates-released-f41 x86_64 — repomd.xml sha256 is the previous push/ : /not fresh: updates-released-f41 x86_64 — repomd.xml sha256 is 3 pushes old/);
    }
    if (h.behaviour === 'missing-dir') assert.match(reasonsOf(h.name), /not fresh: .* — repomd.xml missing \(HTTP 404\)/);
    if (h.behaviour === 'dead') {
      assert.ok(line.includes(`fresh for none of its ${listed} repositories`), line);
      assert.match(reasonsOf(h.name), /not fresh: .* — crawl failed: /);
    }
    // The private mirror is fresh because its report was ingested, never crawled.
    if (h.private) assert.match(line, /private, by report \(checked in \d{4}-/);
  }

  // 3. Example URLs: one ip= per kind of class, each a different class, and real nginx
  // (started with the printed serve command) lists first exactly the first group printed.
  const examples = [...out.matchAll(/^ {2}([a-z ]+): ip=(\S+) — .*\n {4}curl '(\S+)'\n {4}→ (.*)$/gm)].map((m) => ({ kind: m[1]!, ip: m[2]!, url: m[3]!, groups: m[4]! }));
  assert.deepEqual(examples.map((e) => e.kind).sort(), ['asn', 'continent redirect', 'country', 'global fallback', 'netblock', 'private netblock']);
  assert.equal(new Set(examples.map((e) => e.ip)).size, examples.length);
  const serveLine = /npx mirrorsmith --config (\S+) serve --port 8080/.exec(out);
  assert.ok(serveLine, 'prints how to run mirrorsmith serve');
  assert.match(out, /The published generation is out\/current/);

  const port = await freePort();
  const serve = spawn(process.execPath, ['--import', TSX, CLI, '--config', serveLine[1]!, 'serve', '--port', String(port), '--prefix', path.join(work, 'nginx')], { cwd: work, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let serveErr = '';
  serve.stderr.on('data', (b) => (serveErr += b));
  const serveExited = new Promise<void>((r) => serve.on('close', () => r()));
  stopServe = async () => {
    serve.kill('SIGINT'); // serve stops its nginx on SIGINT
    await Promise.race([serveExited, new Promise((r) => setTimeout(r, 15_000))]);
    serve.kill('SIGKILL');
  };
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${serveErr}`)), 60_000);
    serve.stdout.on('data', (b) => {
      buf += b;
      if (buf.includes('serving ')) {
        clearTimeout(timer);
        resolve();
      }
    });
    serve.on('close', (code) => reject(new Error(`serve exited ${code}: ${serveErr}`)));
  });
  for (const e of examples) {
    const first = /^(\w[\w ]*) \((\d+)\): ([^→]*?)(?: →|$)/.exec(e.groups);
    assert.ok(first, `cannot read the groups of ${e.kind}: ${e.groups}`);
    const [, kind, count, names] = first;
    const expected = { netblock: ['netblock'], 'private netblock': ['netblock'], asn: ['asn'], country: ['country'], 'continent redirect': ['country', 'continent'], 'global fallback': ['global'] }[e.kind];
    assert.ok(expected?.includes(kind!), `${e.kind}: first group ${kind}`);
    if (e.kind === 'continent redirect') assert.match(e.groups, /continent \(\d+\)/);
    const url = new URL(e.url.replace('http://127.0.0.1:8080', `http://127.0.0.1:${port}`).replace('/metalink?', '/mirrorlist?'));
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200, `${url}`);
    const urls = (await res.text()).split('\n').filter((l) => l && !l.startsWith('#'));
    const hostsInOrder = urls.map((u) => demoHosts().find((h) => u.includes(`/${h.name}/`))?.name ?? u);
    const firstGroup = hostsInOrder.slice(0, Number(count));
    const shown = names!.replace(/, …$/, '').split(', ');
    for (const n of shown) assert.ok(firstGroup.includes(n), `${e.kind} ip=${e.ip}: nginx lists first ${firstGroup.join(', ')}, the demo printed ${names}`);
    assert.equal(new Set(firstGroup).size, Number(count));
  }

  // 4. The public list, status pages, map, ACL and metrics of the demo's own data,
  // through the same nginx: private mirrors never appear, freshness is the crawl's.
  const base = `http://127.0.0.1:${port}`;
  const page = async (p: string) => {
    const res = await fetch(`${base}${p}`, { signal: AbortSignal.timeout(10_000) });
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
  };
  const privateNames = DEMO_SITES.flatMap((s) => s.hosts.filter((h) => s.private || h.private).map((h) => h.name));
  const publicHosts = demoHosts().filter((h) => !privateNames.includes(h.name));
  assert.ok(privateNames.length > 0 && publicHosts.length > 0);
  const mirrorsJson = await page('/mirrors.json');
  assert.equal(mirrorsJson.status, 200);
  assert.match(mirrorsJson.type, /json/);
  const doc = JSON.parse(mirrorsJson.body) as { hosts: Array<{ name: string; categories: Array<{ up_to_date: string[] }> }> };
  assert.deepEqual(doc.hosts.map((h) => h.name).sort(), publicHosts.map((h) => h.name).sort());
  for (const h of publicHosts) {
    const upToDate = doc.hosts.find((x) => x.name === h.name)!.categories.flatMap((c) => c.up_to_date);
    if (h.behaviour === 'fresh') assert.equal(upToDate.length, listed, `${h.name} fresh for every repository in mirrors.json`);
    if (h.behaviour === 'stale-1' || h.behaviour === 'stale-3') assert.ok(upToDate.length === listed - 1 && !upToDate.includes('updates-released-f41/x86_64'), `${h.name}: ${upToDate.length}`);
    if (h.behaviour === 'dead') assert.equal(upToDate.length, 0, h.name);
  }
  // Every public list page (bounded crawl of the links below /publiclist/).
  const pages = ['/publiclist/index.html'];
  let listText = '';
  for (let i = 0; i < pages.length && i < 200; i++) {
    const p = await page(pages[i]!);
    assert.equal(p.status, 200, pages[i]);
    assert.match(p.type, /text\/html/);
    listText += p.body;
    for (const m of p.body.matchAll(/href="([^"#?]+)"/g)) {
      const next = new URL(m[1]!, `${base}${pages[i]}`).pathname;
      if (next.startsWith('/publiclist/') && next.endsWith('.html') && !pages.includes(next)) pages.push(next);
    }
  }
  assert.ok(pages.length > 3, `the public list has per-category pages (${pages.length})`);
  for (const h of publicHosts) assert.ok(listText.includes(h.name), `${h.name} on the public list`);
  for (const n of privateNames) {
    assert.ok(!listText.includes(n), `private ${n} never on the public list`);
    assert.ok(!mirrorsJson.body.includes(n), `private ${n} never in mirrors.json`);
  }
  const stale = publicHosts.find((h) => h.behaviour === 'stale-1')!;
  const statusPage = await page(`/status/hosts/${slug(stale.name)}.html`);
  assert.equal(statusPage.status, 200);
  assert.ok(statusPage.body.includes('updates-released-f41'), `${stale.name}'s status page names its stale repository`);
  assert.equal((await page('/status/index.html')).status, 200);
  const map = await page('/map.svg');
  assert.equal(map.status, 200);
  assert.match(map.type, /image\/svg\+xml/);
  assert.match(map.body, /<svg[\s>]/);
  const acl = await page('/rsync_acl');
  assert.equal(acl.status, 200);
  assert.match(acl.type, /text\/plain/);
  const aclLines = acl.body.split('\n').filter(Boolean);
  assert.ok(aclLines.length > 0 && aclLines.every((l) => net.isIP(l) !== 0), acl.body);
  assert.equal(new Set(aclLines).size, aclLines.length, 'no duplicates in rsync_acl');
  const metrics = await page('/metrics/mirrorsmith.prom');
  assert.equal(metrics.status, 200);
  const families = parsePrometheus(metrics.body);
  const freshFamily = families.find((f) => f.name === 'mirrorsmith_mirrors_fresh');
  assert.ok(freshFamily && freshFamily.metrics.length > 0, 'mirrorsmith_mirrors_fresh in the metrics');
});
