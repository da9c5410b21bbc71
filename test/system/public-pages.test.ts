// The public emitters on a fixture database, on PGlite and on a real Postgres: the
// public list, mirrors.json (validated against its schema), status pages, map,
// metrics (parsed by a real exposition-format parser), determinism and escaping.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { describeBackends, freshDb } from '../helpers/db.ts';
import { emitInto, listFiles, read, stageContext } from '../helpers/public-build.ts';
import { loadFixture, XSS } from '../helpers/public-fixture.ts';
import { loadPublicData } from '../../pipelines/public/data.ts';
import { loadSnapshot } from '../../pipelines/build/snapshot.ts';
import { planLists } from '../../pipelines/build/lists.ts';
import { PUBLIC_EMITTERS } from '../../pipelines/public/index.ts';
import { MirrorsJsonSchema, mirrorsJsonSchemaDocument } from '../../pipelines/public/mirrors-json.ts';
import { rsyncAclEmitter, type Resolver } from '../../pipelines/public/rsync-acl.ts';

const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Array<{
  name: string; help: string; type: string; metrics: Array<{ labels?: Record<string, string>; value?: string }>;
}>;

const SCHEMA_FILE = fileURLToPath(new URL('../../docs/mirrors.schema.json', import.meta.url));

const fakeDns: Resolver = async (name) => {
  if (name === 'rsync.example.edu') return ['192.0.2.30', '2001:db8::30', '192.0.2.31'];
  throw new Error(`getaddrinfo ENOTFOUND ${name}`);
};
const emitters = () => PUBLIC_EMITTERS.map((e) => (e.name === 'rsync-acl' ? rsyncAclEmitter(fakeDns) : e));

const PUBLIC = ['mirror.example.edu', 'ftp.nordic.example.net', 'fi.nordic.example.net', 'syd.pacific.example.org'];
const NEVER_PUBLIC = ['mirror.acme.example.com', 'old.gone.example.org', 'admin-off.example.edu'];

function decodeEntities(html: string): string {
  const named: Record<string, string> = { lt: '<', gt: '>', quot: '"', amp: '&', apos: "'" };
  return html.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) =>
    e[0] === '#' ? String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1))) : (named[e] ?? m),
  );
}

function htmlFiles(dir: string, under: string): string[] {
  return listFiles(dir).filter((f) => f.startsWith(under) && f.endsWith('.html'));
}

describeBackends('public pages', (backend) => {
  it('loads the snapshot the same way on this backend', async (t) => {
    const { db } = await freshDb(t, backend);
    const ids = await loadFixture(db);
    const data = await loadPublicData(db);
    assert.equal(data.hosts.length, 7);
    const edu = data.hosts.find((h) => h.name === 'mirror.example.edu')!;
    assert.deepEqual(edu.aclIps.sort(), ['192.0.2.10', '2001:db8::10', 'rsync.example.edu']);
    assert.equal(edu.lastCrawled?.toISOString(), '2026-11-20T11:00:00.000Z');
    assert.equal(edu.categories.length, 2);
    const acme = data.hosts.find((h) => h.name === 'mirror.acme.example.com')!;
    assert.deepEqual(acme.categories[0]!.privateUrls, ['http://mirror.acme.example.com/fedora/']);
    assert.deepEqual(acme.categories[0]!.urls, []);
    assert.equal(data.propagation.length, 24);
    assert.equal(data.runs.length, 2, 'the running run is not loaded');
    assert.equal(data.runs[0]!.stages.find((s) => s.stage === 'build')?.durationMs, 5100);
    assert.deepEqual(data.ingestTotals, { ok: 4, failed: 2 });
    assert.equal(data.repositories.find((r) => r.id === ids.repos['fedora-42/x86_64'])?.readable, false);
    const log = data.crawlLogs.get(ids.hosts['ftp.nordic.example.net']!)!;
    assert.deepEqual(log.map((l) => [l.ok, l.errorKind, l.dirsStale]), [[true, null, 3], [false, 'refused', 0]], 'newest first');
    assert.equal(log[0]!.lines[0], 'listed 5 directories over rsync');
  });

  it('writes the public list, JSON, status, map, ACL and metrics; private and inactive hosts never public', async (t) => {
    const { db } = await freshDb(t, backend);
    await loadFixture(db);
    const ctx = stageContext(db);
    const { dir, results } = await emitInto(t, ctx, emitters());
    const files = listFiles(dir);
    for (const f of ['index.html', 'publiclist/index.html', 'publiclist/Fedora-Linux/41/x86_64/index.html', 'mirrors.json', 'mirrors.schema.json', 'rsync_acl', 'rsync_acl.conf', 'status/index.html', 'status/status.json', 'status/hosts/mirror.example.edu.html', 'status/propagation/fedora-41.x86_64.svg', 'map.svg', 'metrics/mirrorsmith.prom', 'nginx/server.d/20-public.conf']) {
      assert.ok(files.includes(f), `missing ${f}`);
    }
    // Public pages: every public host on the index, no private/inactive host anywhere.
    const index = read(dir, 'publiclist/index.html');
    for (const h of PUBLIC) assert.match(index, new RegExp(`data-host="${h.replace(/\./g, '\\.')}"`));
    for (const page of [...htmlFiles(dir, 'publiclist/'), 'mirrors.json', 'map.svg', 'index.html']) {
      const text = read(dir, page);
      for (const h of NEVER_PUBLIC) assert.ok(!text.includes(h), `${h} appears in ${page}`);
      assert.ok(!text.includes('acme'), `private site appears in ${page}`);
    }
    // Grouped by continent then country, with counts.
    assert.match(index, /<h2>Europe <small>\(2\)<\/small><\/h2>[\s\S]*<h3 id="cc-EU-FI">Finland <small>\(1\)<\/small><\/h3>[\s\S]*<h3 id="cc-EU-SE">Sweden/);
    assert.ok(index.indexOf('id="c-EU"') < index.indexOf('id="c-NA"') && index.indexOf('id="c-NA"') < index.indexOf('id="c-OC"'));
    assert.match(index, /mirror\.example\.edu<\/a> <span class="badge"[^>]*>Internet2/);
    assert.match(index, /Bandwidth 10 Gbit\/s/);
    assert.match(index, /<dt>rsync<\/dt><dd><a href="rsync:\/\/mirror\.example\.edu\/fedora\/linux\/"/);
    assert.match(index, /Not handed out now: disabled by the crawler: four failed crawls/);
    assert.match(index, /href="\.\.\/map\.svg"/);
    // Pre-bitflip fedora-42 has no page.
    assert.ok(!files.some((f) => f.includes('/42/')));
    assert.deepEqual(results.get('publiclist')?.counts, { publiclistPages: 12, publicHosts: 4 });

    // mirrors.json validates and agrees with the pages.
    const json = JSON.parse(read(dir, 'mirrors.json'));
    const parsed = MirrorsJsonSchema.safeParse(json);
    assert.ok(parsed.success, parsed.success ? '' : JSON.stringify(parsed.error.issues));
    assert.deepEqual(json.hosts.map((h: { name: string }) => h.name), [...PUBLIC].sort());
    const edu = json.hosts.find((h: { name: string }) => h.name === 'mirror.example.edu');
    assert.deepEqual(edu.categories.find((c: { name: string }) => c.name === 'Fedora Linux').urls.rsync, ['rsync://mirror.example.edu/fedora/linux/']);
    assert.equal(json.hosts.find((h: { name: string }) => h.name === 'syd.pacific.example.org').serving, false);
    assert.deepEqual(json.countries.map((c: { code: string }) => c.code), ['AU', 'FI', 'SE', 'US']);

    // rsync_acl: active hosts only (private ones too: they pull), names resolved, unresolvable reported.
    assert.equal(read(dir, 'rsync_acl'), ['192.0.2.10', '192.0.2.30', '192.0.2.31', '198.51.100.0/28', '198.51.100.7', '203.0.113.5', '2001:db8::10', '2001:db8::30', ''].join('\n'));
    assert.deepEqual(results.get('rsync-acl')?.notes, ['syd.pacific.example.org: acl name syd-gw.pacific.example.org did not resolve (getaddrinfo ENOTFOUND syd-gw.pacific.example.org); left out of rsync_acl']);
    assert.ok(!read(dir, 'rsync_acl').includes('203.0.113.99'), 'inactive site in the ACL');
    assert.ok(!read(dir, 'rsync_acl').includes('192.0.2.200'), 'admin-disabled host in the ACL');

    // Status: overview and per-host pages, private host with its check-in, no URL of it.
    const status = read(dir, 'status/index.html');
    assert.match(status, /<td>Fedora Linux<\/td><td>5<\/td><td>4<\/td><td class="ok">2<\/td><td class="partial">1<\/td><td class="stale">0<\/td><td>1<\/td>/);
    assert.match(status, /<img src="propagation\/fedora-41\.x86_64\.svg"/);
    assert.match(status, /fedora-41\/x86_64: 3 current, 0 one behind, 0 two behind, 0 older, 1 unreachable \(of 4/);
    assert.match(status, /<h2>Private mirrors<\/h2>[\s\S]*mirror\.acme\.example\.com[\s\S]*2026-11-20 09:00 UTC/);
    const ftp = read(dir, 'status/hosts/ftp.nordic.example.net.html');
    assert.match(ftp, /2\/5 repositories up to date \(40%\)/);
    assert.match(ftp, /updates-released-f41\/x86_64<\/td><td>stale at 2026-11-20 10:30 UTC: repomd\.xml sha256 matches the version 2 pushes ago/);
    assert.match(ftp, /rawhide\/x86_64<\/a><\/td><td>stale at/);
    assert.match(ftp, /<h3>2026-11-20 10:30 UTC · rsync · <span class="ok">ok<\/span><\/h3>\s*<p>2 of 5 directories up to date — 61\.0 s, 1 of a budget of 27 requests, 2 up to date, 3 stale<\/p>/);
    assert.match(ftp, /<span class="stale">failed \(refused\)<\/span>[\s\S]*<pre>rsync:\/\/ftp\.nordic\.example\.net\/fedora\/: error in socket IO \(code 10\)<\/pre>/);
    const syd = read(dir, 'status/hosts/syd.pacific.example.org.html');
    assert.match(syd, /disabled by the crawler<\/th><td class="stale">four failed crawls: connection refused/);
    assert.match(syd, /consecutive failed crawls<\/th><td>4</);
    const acme = read(dir, 'status/hosts/mirror.acme.example.com.html');
    assert.match(acme, /private mirror/);
    assert.match(acme, /last report check-in<\/th><td>2026-11-20 09:00 UTC/);
    assert.ok(!acme.includes('http://mirror.acme.example.com/'), 'private URL published');
    const sj = JSON.parse(read(dir, 'status/status.json'));
    assert.deepEqual(sj.categories.find((c: { name: string }) => c.name === 'Fedora Linux'), { name: 'Fedora Linux', repositories: 5, hosts: 4, fresh: 2, partial: 1, stale: 0, not_serving: 1 });
    assert.deepEqual(sj.propagation.find((p: { repository: string; arch: string }) => p.repository === 'fedora-41' && p.arch === 'x86_64').latest, {
      current: 3, behind1: 0, behind2: 0, older: 0, unreachable: 1, total: 4, at: '2026-11-20T12:00:00.000Z',
    });

    // Propagation plot: a real SVG with one area per bucket.
    const svg = read(dir, 'status/propagation/fedora-41.x86_64.svg');
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal(svg.match(/<polygon /g)?.length, 5);
    assert.match(svg, /current 3/);

    // Map: countries with public mirrors shaded, the private host's country not.
    const map = read(dir, 'map.svg');
    for (const cc of ['US', 'SE', 'FI', 'AU']) assert.match(map, new RegExp(`fill="#c6dbef"[^>]*data-country="${cc}"`));
    assert.match(map, /fill="#e6e8ec"[^>]*data-country="DE"/);
    assert.match(map, /4 mirrors in 4 countries/);

    // Metrics parse with a real exposition-format parser; values agree with the pages.
    const families = parsePrometheus(read(dir, 'metrics/mirrorsmith.prom'));
    const fam = (name: string) => families.find((m) => m.name === name)!;
    const value = (name: string, labels: Record<string, string> = {}) =>
      Number(fam(name).metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value);
    assert.equal(fam('mirrorsmith_mirrors').type, 'GAUGE');
    assert.equal(value('mirrorsmith_mirrors', { category: 'Fedora Linux', visibility: 'public' }), 4);
    assert.equal(value('mirrorsmith_mirrors_active', { category: 'Fedora Linux', visibility: 'public' }), 3);
    assert.equal(value('mirrorsmith_mirrors_fresh', { category: 'Fedora Linux', visibility: 'public' }), 2);
    assert.equal(value('mirrorsmith_mirrors', { category: 'Fedora Linux', visibility: 'private' }), 1);
    assert.equal(fam('mirrorsmith_reports_ingested_total').type, 'COUNTER');
    assert.equal(value('mirrorsmith_reports_ingested_total', { result: 'accepted' }), 4);
    assert.equal(value('mirrorsmith_build_duration_seconds'), 5.1);
    assert.equal(value('mirrorsmith_last_successful_run_timestamp_seconds'), Date.parse('2026-11-20T11:06:00Z') / 1000);
    assert.equal(value('mirrorsmith_last_publish_timestamp_seconds'), Date.parse('2026-11-20T11:06:00Z') / 1000);
    assert.equal(value('mirrorsmith_host_last_crawl_duration_seconds', { host: 'ftp.nordic.example.net' }), 61);
    assert.equal(value('mirrorsmith_stage_duration_seconds', { stage: 'crawl' }), 65);
    assert.equal(value('mirrorsmith_propagation_mirrors', { repository: 'fedora-41/x86_64', versions_behind: 'unreachable' }), 1);
    assert.ok(value('mirrorsmith_generation_size_bytes') > 10_000);
    for (const f of families) {
      assert.match(f.name, /^mirrorsmith_[a-z0-9_]+$/);
      assert.ok(f.help.length > 10, `${f.name} has help`);
      if (f.type === 'COUNTER') assert.match(f.name, /_total$/);
      else assert.doesNotMatch(f.name, /_total$/);
    }

    // nginx locations for everything above.
    const conf = read(dir, 'nginx/server.d/20-public.conf');
    for (const loc of ['location ^~ /publiclist/', 'location = /mirrors.json', 'location = /rsync_acl', 'location ^~ /status/', 'location = /map.svg', 'location ^~ /metrics/']) assert.ok(conf.includes(loc), loc);
  });

  it('shows a host as up to date for a repository exactly when the lists hand it out', async (t) => {
    const { db } = await freshDb(t, backend);
    await loadFixture(db);
    const { dir } = await emitInto(t, stageContext(db), emitters());
    // The build's own plan with no GeoIP data and a huge minimum: every client lands in
    // the global group, which then holds every public host listed for the repository.
    const plan = planLists(await loadSnapshot(db, { retentionDays: 3 }), { countries: [], asns: [], research: [] }, [], { minimum: 1000, maxVariants: 1 });
    const listedBy = new Map<string, Set<string>>();
    for (const r of plan.repos) {
      const hosts = new Set<string>();
      for (const b of plan.blobs) {
        if (!b.key.endsWith(`|${r.sig}|a`)) continue;
        for (const g of plan.index.lists[b.list]?.groups ?? []) for (const h of g.hosts) hosts.add(h);
      }
      listedBy.set(`${r.prefix}/${r.arch}`, r.disabled ? new Set() : hosts);
    }
    let checked = 0;
    for (const page of htmlFiles(dir, 'publiclist/')) {
      const html = read(dir, page);
      // Arch pages list repositories one by one: compare each host's set.
      if (!/<h2>Repositories<\/h2>/.test(html)) continue;
      const scope = [...html.matchAll(/<tr><td>([^<]+)<\/td><td>(\d+)<\/td><\/tr>/g)];
      const shownBy = new Map<string, Set<string>>(scope.map((m) => [m[1]!, new Set<string>()]));
      for (const m of html.matchAll(/class="host" data-host="([^"]+)">[\s\S]*?data-fresh="([^"]*)"/g)) {
        for (const key of m[2]!.split(' ').filter(Boolean)) shownBy.get(key)!.add(m[1]!);
      }
      for (const [key, count] of scope.map((m) => [m[1]!, Number(m[2])] as const)) {
        const listed = listedBy.get(key);
        assert.ok(listed, `${key} on ${page} is not a repository the lists serve`);
        assert.deepEqual([...shownBy.get(key)!].sort(), [...listed].sort(), `${key} on ${page}`);
        assert.equal(count, listed.size, `count of ${key} on ${page}`);
        checked++;
      }
    }
    assert.ok(checked >= 5, `compared ${checked} repositories`);
    assert.ok([...listedBy.values()].some((s) => s.size >= 2), 'the plan lists hosts');
  });

  it('is deterministic: two builds of the same database are byte-identical', async (t) => {
    const { db } = await freshDb(t, backend);
    await loadFixture(db);
    const a = await emitInto(t, stageContext(db), emitters());
    const b = await emitInto(t, stageContext(db), emitters());
    const files = listFiles(a.dir);
    assert.deepEqual(listFiles(b.dir), files);
    for (const f of files) assert.ok(fs.readFileSync(path.join(a.dir, f)).equals(fs.readFileSync(path.join(b.dir, f))), `${f} differs between builds`);
  });

  it('escapes hostile text from every free-text registry field', async (t) => {
    const { db } = await freshDb(t, backend);
    await loadFixture(db, { xss: true });
    const { dir } = await emitInto(t, stageContext(db), emitters());
    const pages = [...htmlFiles(dir, 'publiclist/'), ...htmlFiles(dir, 'status/'), 'index.html'];
    let seen = 0;
    for (const page of pages) {
      const html = read(dir, page);
      assert.ok(!/<script\b/i.test(html), `${page} has a script element`);
      assert.ok(!/<img src=x/i.test(html) && !/<svg onload/i.test(html), `${page} has an injected element`);
      assert.ok(!/\son[a-z]+=/i.test(html.replace(/&[a-z#0-9]+;/g, '')), `${page} has an event handler attribute`);
      assert.ok(!/href="javascript:/i.test(html), `${page} links to javascript:`);
      const text = decodeEntities(html);
      for (const attack of XSS) {
        assert.ok(!html.includes(attack) || !/[<>"']/.test(attack), `${page} contains ${attack} unescaped`);
        if (text.includes(attack)) seen++;
      }
    }
    assert.ok(seen >= XSS.length, `the escaped corpus is visible on the pages (${seen})`);
    const index = read(dir, 'publiclist/index.html');
    // The site with a javascript: sponsor URL is shown without a link.
    assert.match(index, /Site: pacific-mirrors <span class="muted">/);
    assert.ok(index.includes('&quot;&gt;&lt;img src&#x3D;x onerror&#x3D;&quot;window.__xss&#x3D;2&quot;&gt;'));
    const json = JSON.parse(read(dir, 'mirrors.json'));
    assert.ok(MirrorsJsonSchema.safeParse(json).success);
    assert.equal(json.sites.find((s: { name: string }) => s.name === 'pacific-mirrors').url, null);
    assert.ok(json.sites.some((s: { name: string }) => s.name === `example-university ${XSS[0]}`), 'JSON keeps the text as data');
    assert.doesNotMatch(read(dir, 'map.svg'), /<script/);
    // A hostile host name: shown as text, its status page under a safe file name, its URL not linked.
    assert.ok(index.includes('evil&quot;&gt;&lt;svg onload&#x3D;window.__xss&#x3D;6&gt;.example.org'));
    assert.ok(listFiles(dir).includes('status/hosts/evil___svg-onload_window.__xss_6_.example.org.html'));
    assert.ok(!index.includes('href="https://evil.example.org/'), 'a URL with quotes and brackets is not linked');
  });
});

it('docs/mirrors.schema.json is the schema generated from the zod contract', () => {
  const generated = JSON.stringify(mirrorsJsonSchemaDocument(), null, 2) + '\n';
  if (process.env.UPDATE_MIRRORS_SCHEMA === '1') fs.writeFileSync(SCHEMA_FILE, generated);
  assert.equal(fs.readFileSync(SCHEMA_FILE, 'utf8'), generated, 'run UPDATE_MIRRORS_SCHEMA=1 node --import tsx --test test/system/public-pages.test.ts');
});
