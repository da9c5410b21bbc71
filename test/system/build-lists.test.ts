// The build stage end to end on the fixture network: a deterministic generation,
// and its list fragments answering on a real nginx (composition, classes,
// weighting, every error path).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compose, moveFirst } from '../../pipelines/build/formats.ts';
import { listsEmitter } from '../../pipelines/build/lists-emitter.ts';
import { createGenerationWriter } from '../../pipelines/core/generation.ts';
import { run } from '../../pipelines/stages/build.ts';
import { checkSite, freePort, startNginx, type RunningNginx } from '../../pipelines/serve/nginx.ts';
import { GENERATION_FRAGMENT, generationFragment } from '../../pipelines/serve/generations.ts';
import type { Db } from '../../pipelines/core/db.ts';
import { freshDb } from '../helpers/db.ts';
import { requireTool, whichTool } from '../helpers/system.ts';
import { buildContext } from '../fixtures/build/context.ts';
import { loadFixture } from '../fixtures/build/registry.ts';

function listFiles(dir: string, rel = ''): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(dir, path.join(rel, e.name)) : [path.join(rel, e.name)])).sort();
}

describe('build stage', () => {
  let tmp: string;
  let db: Db;
  let gen1: string;
  let gen2: string;
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-build-'));
    db = (await freshDb(undefined, 'pglite')).db;
    await loadFixture(db);
    const r1 = await run(buildContext(db, tmp, {}, 'g1'));
    const r2 = await run(buildContext(db, tmp, {}, 'g2'));
    assert.equal(r1.stats?.generation, 'g1');
    assert.equal(r2.stats?.generation, 'g2');
    gen1 = path.join(tmp, 'generations', 'g1');
    gen2 = path.join(tmp, 'generations', 'g2');
  });
  after(async () => {
    await db.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('same snapshot → byte-identical generation except the files naming it', () => {
    const files = listFiles(gen1);
    assert.deepEqual(listFiles(gen2), files);
    assert.ok(files.includes('nginx/http.d/10-lists.conf') && files.includes('nginx/server.d/10-lists.conf') && files.includes('report.json'));
    const differing = files.filter((f) => !fs.readFileSync(path.join(gen1, f)).equals(fs.readFileSync(path.join(gen2, f))));
    assert.deepEqual(differing, ['manifest.json', 'nginx/http.d/00-generation.conf']);
    const manifest = JSON.parse(fs.readFileSync(path.join(gen1, 'manifest.json'), 'utf8'));
    assert.equal(manifest.id, 'g1');
    assert.equal(manifest.counts.hosts, 7);
    assert.equal(manifest.counts.repositories, 3);
    assert.ok(manifest.counts.classes > 0 && manifest.counts.lists > 0);
    assert.equal(fs.readdirSync(path.join(tmp, 'generations')).filter((d) => d.includes('.tmp-')).length, 0);
  });

  test('a generation is never rebuilt in place', async () => {
    await assert.rejects(run(buildContext(db, tmp, {}, 'g1')), /already exists/);
  });
});

const V6_URL = 'http://[2001:db8:5::1]/fedora/linux';

// The lists emitter alone, so that this exercises exactly the request path it owns.
describe('lists emitter', () => {
  let tmp: string;
  let db: Db;
  let gen1: string;
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-lists-'));
    fs.chmodSync(tmp, 0o755); // nginx workers drop root privileges and must read the generation
    db = (await freshDb(undefined, 'pglite')).db;
    const ids = await loadFixture(db);
    // Host URLs with IPv6 literals: one valid (listed), hostile ones the registry would
    // refuse, written past it (never listed, and nginx -t must still pass).
    const jp = await db.query<{ id: number }>('SELECT id FROM host_category WHERE host_id = $1', [ids.hosts['mirror.jp.example']]);
    for (const u of [V6_URL, 'http://[2001:db8:5::2%25eth0]/fedora/linux', 'http://[2001:db8:5::3]";return 200 "x/fedora', 'http://[2001:db8:5::4]/<x>/fedora']) {
      await db.query('INSERT INTO host_category_url (host_category_id, url) VALUES ($1, $2)', [jp.rows[0].id, u]);
    }
    gen1 = path.join(tmp, 'gen');
    const writer = createGenerationWriter(gen1, 'gen');
    await listsEmitter.emit(buildContext(db, tmp, { selection: { countrySets: [['de', 'JP'], ['CA', 'MX', 'AQ']] } }), writer);
    // What the build stage adds around its emitters: the fragment naming the generation.
    writer.write(GENERATION_FRAGMENT, generationFragment('gen'));
  });
  after(async () => {
    await db.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe('served by a real nginx', () => {
    let nginx: RunningNginx | undefined;
    let base = '';
    let composePort = 0;
    let skip = false;
    before(async () => {
      if (!whichTool('nginx')) {
        skip = true;
        return;
      }
      // The site config a deployment uses (the composer, the list store), on this generation.
      composePort = await freePort();
      nginx = await startNginx({ outDir: tmp, root: gen1, prefixDir: path.join(tmp, 'nginx'), accessLog: 'off', composePort });
      base = nginx.url;
    });
    after(() => nginx?.stop());
    const get = async (q: string, headers: Record<string, string> = {}) => {
      const r = await fetch(`${base}${q}`, { headers, redirect: 'manual' });
      return { status: r.status, type: r.headers.get('content-type'), location: r.headers.get('location'), body: await r.text() };
    };
    const hostsOf = (body: string) => body.split('\n').filter((l) => /^[a-z]+:\/\//.test(l)).map((l) => new URL(l).hostname);

    test('nginx -t accepts the fragments', (t) => {
      if (!requireTool(t, 'nginx', 'nginx-light') || skip) return;
      assert.ok(nginx);
    });

    test('each client class gets its MirrorManager list, composed from a precomputed variant', async (t) => {
      if (!requireTool(t, 'nginx', 'nginx-light') || skip) return;
      const blobs = listFiles(path.join(gen1, 'lists/o')).map((f) => fs.readFileSync(path.join(gen1, 'lists/o', f), 'utf8'));
      // A response is a blob (from the lead group on) after the hosts nginx puts in front
      // of it (the list's prefix and the variant's moved host), which the blob then lacks.
      const urlLines = (t: string) => t.split('\n').filter((l) => /^[a-z]+:\/\//.test(l));
      const fromBlob = (body: string) => {
        const got = urlLines(body);
        return blobs.some((b) => {
          const own = urlLines(compose(moveFirst(b, '', '', ''), repo));
          for (let cut = 0; cut <= got.length; cut++) {
            const moved = new Set(got.slice(0, cut));
            if (JSON.stringify(own.filter((l) => !moved.has(l))) === JSON.stringify(got.slice(cut))) return true;
          }
          return false;
        });
      };
      const repo = { repo: 'fedora-41 arch = x86_64', path: 'releases/41/Everything/x86_64/os' };
      const cases: Array<[string, string, string[]]> = [
        ['192.0.2.7', 'Using preferred netblock country = US country = global ', ['private.campus.example']], // netblock: private mirror first
        ['198.51.100.5', 'Using ASN 680 country = DE country = FR country = global ', ['mirror.de.example']], // ASN
        ['100.64.0.9', 'Using Internet2 country = FR country = DE country = global ', ['mirror.fr.example']], // R&E, same country
        ['203.0.113.200', 'country = DE country = FR country = global ', []], // IL redirected to EU (FR allows FR only)
        ['8.8.8.8', 'country = global ', []], // no GeoIP country: global
        ['2001:dba::1', 'country = global ', []], // JP over IPv6: the JP mirror is IPv4-only
      ];
      for (const [ip, header, first] of cases) {
        const r = await get(`/mirrorlist?repo=fedora-41&arch=x86_64&ip=${ip}`);
        assert.equal(r.status, 200, `${ip}: ${r.body.slice(0, 300)}`);
        assert.equal(r.type, 'text/plain');
        assert.equal(r.body.split('\n')[0], `# repo = fedora-41 arch = x86_64 ${header}`, ip);
        assert.deepEqual(hostsOf(r.body).slice(0, first.length), first, ip);
        assert.ok(fromBlob(r.body), `${ip}: body is not composed from a generated blob`);
        if (ip === '2001:dba::1') assert.ok(!hostsOf(r.body).includes('mirror.jp.example'));
        if (!ip.startsWith('192.0.2.')) assert.ok(!hostsOf(r.body).includes('private.campus.example'), `${ip} got the private mirror`);
        assert.ok(!hostsOf(r.body).includes('down.example'));
      }
      // The stale mirror is not listed for the directory it lags on.
      assert.ok(!hostsOf((await get('/mirrorlist?repo=updates-released-f41&arch=x86_64&ip=8.8.8.8')).body).includes('stale.example'));
      // A netblock given as a DNS name (resolved at build time): localhost → 127.0.0.1.
      assert.deepEqual(hostsOf((await get('/mirrorlist?repo=fedora-41&arch=x86_64&ip=127.0.0.1')).body).slice(0, 1), ['private.campus.example']);
      // X-Forwarded-For from the trusted proxy (127.0.0.1) is the client.
      const xff = await get('/mirrorlist?repo=fedora-41&arch=x86_64', { 'X-Forwarded-For': '198.51.100.5' });
      assert.deepEqual(hostsOf(xff.body).slice(0, 1), ['mirror.de.example']);
      assert.match(xff.body, /^# repo = fedora-41 arch = x86_64 Using ASN 680 /);
      // netblock=0, country=, protocol=, alias, redirect=1.
      assert.ok(!hostsOf((await get('/mirrorlist?repo=fedora-41&arch=x86_64&ip=192.0.2.7&netblock=0')).body).includes('private.campus.example'));
      const de = await get('/mirrorlist?repo=fedora-41&arch=x86_64&country=de&ip=192.0.2.7');
      assert.equal(de.body, '# repo = fedora-41 arch = x86_64 country = DE \nhttps://mirror.de.example/fedora/linux/releases/41/Everything/x86_64/os/\n');
      // country= lists of selection.countrySets: their countries' mirrors together, the
      // header in request order; any spelling (`,` or %2C, any case) of any order.
      for (const [q, header] of [['DE,JP', 'country = DE country = JP '], ['jp%2Cde', 'country = JP country = DE '], ['JP%2cDE', 'country = JP country = DE ']]) {
        const r = await get(`/mirrorlist?repo=fedora-41&arch=x86_64&country=${q}&ip=192.0.2.7`);
        assert.equal(r.status, 200, `${q}: ${r.body}`);
        assert.equal(r.body.split('\n')[0], `# repo = fedora-41 arch = x86_64 ${header}`, q);
        assert.deepEqual(hostsOf(r.body).sort(), ['mirror.de.example', 'mirror.jp.example'], q);
        assert.ok(fromBlob(r.body), `${q}: body is not composed from a generated blob`);
      }
      // None of those countries has mirrors: the rest of their continents (NA; AQ's AN has none).
      const na = await get('/mirrorlist?repo=fedora-41&arch=x86_64&country=MX,AQ,CA');
      assert.equal(na.body.split('\n')[0], '# repo = fedora-41 arch = x86_64 country = US ');
      // Another list of known codes: its first country alone (so says the header); unknown codes: 400.
      assert.equal((await get('/mirrorlist?repo=fedora-41&arch=x86_64&country=de,fr&ip=192.0.2.7')).body, de.body);
      assert.equal((await get('/mirrorlist?repo=fedora-41&arch=x86_64&country=DE%2CFR,US')).body, de.body);
      for (const bad of ['DE,XX', 'XX,DE', 'DE,', ',DE', 'DE,,FR', 'DE;FR', `DE${',FR'.repeat(12)}`]) {
        assert.equal((await get(`/mirrorlist?repo=fedora-41&arch=x86_64&country=${bad}`)).status, 400, bad);
      }
      const glob = await get('/mirrorlist?repo=fedora-41&arch=x86_64&country=global');
      assert.equal(glob.body.split('\n')[0], '# repo = fedora-41 arch = x86_64 country = global ');
      const http = await get('/mirrorlist?repo=fedora-41&arch=x86_64&protocol=http&ip=8.8.8.8');
      assert.ok(http.body.split('\n')[0].endsWith('protocol = http'));
      assert.ok(http.body.split('\n').slice(1).filter(Boolean).every((l) => l.startsWith('http://')));
      const alias = await get('/mirrorlist?repo=fedora-rawhide-alias&arch=x86_64&ip=8.8.8.8');
      assert.equal(alias.body.split('\n')[0], '# repo = fedora-41 arch = x86_64 country = global ');
      const legacy = await get('/mirrormanager/metalink?repo=fedora-41&arch=x86_64&ip=8.8.8.8');
      assert.equal(legacy.status, 200);
      assert.equal(legacy.type, 'application/metalink+xml');
      const redir = await get('/mirrorlist?repo=fedora-41&arch=x86_64&ip=100.64.0.9&redirect=1');
      assert.equal(redir.status, 302);
      assert.equal(redir.location, 'https://mirror.fr.example/fedora/linux/releases/41/Everything/x86_64/os/');
    });

    test('protocol=: every subset in any order, `,` or %2C; stored sets exact, others by their https/http part; the header names the set listed; repeated or unknown names are 400', async (t) => {
      if (!requireTool(t, 'nginx', 'nginx-light') || skip) return;
      const urlsOf = (body: string, metalink: boolean) => (metalink ? [...body.matchAll(/<url [^>]*>([^<]+)<\/url>/g)].map((m) => m[1]) : body.split('\n').filter((l) => /^[a-z]+:\/\//.test(l)));
      // Global class (8.8.8.8): every public host is listed, so the URLs under a set are
      // exactly the unrestricted metalink's URLs of those protocols (at most one per protocol per host here).
      const all = urlsOf((await get('/metalink?repo=fedora-41&arch=x86_64&ip=8.8.8.8')).body, true);
      const names = ['https', 'http', 'ftp', 'rsync'];
      let checkedSets = 0;
      for (let mask = 1; mask < 16; mask++) {
        const asked = names.filter((_, b) => mask & (1 << b));
        // selection.protocolSets common: none of the fixture's other sets lists the same
        // URLs as a stored one (us-small has ftp, us-big rsync), so each is answered by
        // its https/http part, else ftp, else rsync.
        const web = asked.filter((p) => p.startsWith('http'));
        const stored = asked.length === 1 || (asked.length === 2 && web.length === 2);
        const set = stored ? asked : web.length ? web : asked.includes('ftp') ? ['ftp'] : ['rsync'];
        const canonical = [...set].sort().join(',');
        const want = all.filter((u) => set.includes(u.slice(0, u.indexOf(':')))).sort();
        // Reversed order, and %2C for the first separator.
        const spelled = [...asked].reverse().join(',').replace(',', '%2C');
        for (const metalink of [false, true]) {
          const r = await get(`/${metalink ? 'metalink' : 'mirrorlist'}?repo=fedora-41&arch=x86_64&ip=8.8.8.8&protocol=${spelled}`);
          if (!want.length) {
            assert.equal(r.status, 404, `${spelled}: ${r.body.slice(0, 200)}`);
            continue;
          }
          assert.equal(r.status, 200, `${spelled}: ${r.body.slice(0, 200)}`);
          if (!metalink) assert.equal(r.body.split('\n')[0], `# repo = fedora-41 arch = x86_64 country = global protocol = ${canonical}`);
          const got = urlsOf(r.body, metalink).map((u) => (metalink ? u : `${u}repodata/repomd.xml`)).sort();
          assert.deepEqual(got, want, `${metalink ? 'metalink' : 'mirrorlist'} protocol=${spelled}`);
          assert.doesNotMatch(r.body, /@@/);
          checkedSets++;
        }
      }
      assert.ok(checkedSets >= 20, String(checkedSets));
      for (const bad of ['http,http', 'https,gopher', 'https,', ',https', 'https%2C%2Chttp', 'http;https', 'https,http,ftp,rsync,http']) {
        const r = await get(`/mirrorlist?repo=fedora-41&arch=x86_64&protocol=${bad}`);
        assert.equal(r.status, 400, bad);
        assert.equal(r.body, '# error: protocol= must be a comma list of distinct https, http, ftp, rsync\n');
      }
    });

    test('host URLs with an IPv6 literal reach the mirrorlist, the metalink and redirect=1; hostile variants never do', async (t) => {
      if (!requireTool(t, 'nginx', 'nginx-light') || skip) return;
      const dir = 'releases/41/Everything/x86_64/os';
      // JP (203.0.113.5): the JP mirror alone in its country group, i.e. inserted from the prefix map.
      const ml = await get('/mirrorlist?repo=fedora-41&arch=x86_64&ip=203.0.113.5&protocol=http');
      assert.equal(ml.status, 200);
      assert.equal(ml.body.split('\n')[1], `${V6_URL}/${dir}/`);
      const redir = await get('/mirrorlist?repo=fedora-41&arch=x86_64&ip=203.0.113.5&protocol=http&redirect=1');
      assert.equal(redir.status, 302);
      assert.equal(redir.location, `${V6_URL}/${dir}/`);
      // Global (8.8.8.8): in a blob.
      const mt = await get('/metalink?repo=fedora-41&arch=x86_64&ip=8.8.8.8');
      assert.match(mt.body, new RegExp(`<url protocol="http" type="http" location="JP" preference="\\d+">${V6_URL.replace(/[[\].]/g, '\\$&')}/${dir}/repodata/repomd\\.xml</url>`));
      for (const body of [ml.body, mt.body, (await get('/mirrorlist?repo=fedora-41&arch=x86_64&ip=8.8.8.8&protocol=http')).body]) {
        assert.doesNotMatch(body, /2001:db8:5::[234]|eth0|return 200|<x>/);
      }
    });

    test('metalink: content type, hashes, alternates, preference per host, private flag', async (t) => {
      if (!requireTool(t, 'nginx', 'nginx-light') || skip) return;
      const r = await get('/metalink?repo=fedora-41&arch=x86_64&ip=192.0.2.7');
      assert.equal(r.status, 200);
      assert.equal(r.type, 'application/metalink+xml');
      assert.match(r.body, /^<\?xml version="1.0" encoding="utf-8"\?>\n<metalink version="3.0" xmlns="http:\/\/www.metalinker.org\/" type="dynamic" pubdate="Sat, 21 Nov 2026 00:00:00 GMT" generator="mirrormanager" xmlns:mm0="http:\/\/fedorahosted.org\/mirrormanager">\n <files>\n  <file name="repomd.xml">\n   <mm0:timestamp>1732300000<\/mm0:timestamp>\n   <size>4321<\/size>\n/);
      assert.match(r.body, /<hash type="sha256">c{64}<\/hash>/);
      assert.match(r.body, /<mm0:alternates>\n    <mm0:alternate>\n      <mm0:timestamp>1732200000<\/mm0:timestamp>/);
      assert.doesNotMatch(r.body, /e{64}/, 'a version beyond retention is not an alternate');
      assert.match(r.body, /<url protocol="http" type="http" location="US" preference="100" mm0:private="True">http:\/\/private\.campus\.example\/fedora\/releases\/41\/Everything\/x86_64\/os\/repodata\/repomd\.xml<\/url>/);
      assert.match(r.body, /preference="99">/);
      assert.ok(r.body.endsWith('   </resources>\n  </file>\n </files>\n</metalink>\n'));
      assert.doesNotMatch(r.body, /@@/);
    });

    test('bandwidth weighting holds over many requests from one class', async (t) => {
      if (!requireTool(t, 'nginx', 'nginx-light') || skip) return;
      // US over IPv6: country group us-big (10000), stale (1000), us-small (100).
      const n = 3000;
      const firsts = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const h = hostsOf((await get('/mirrorlist?repo=fedora-41&arch=x86_64&ip=2001:db8::1')).body)[0];
        firsts.set(h, (firsts.get(h) ?? 0) + 1);
      }
      const total = 10000 + 1000 + 100;
      for (const [host, w] of [['mirror.us-big.example', 10000], ['stale.example', 1000], ['mirror.us-small.example', 100]] as const) {
        const p = w / total;
        const sigma = Math.sqrt(n * p * (1 - p));
        const got = firsts.get(host) ?? 0;
        assert.ok(Math.abs(got - n * p) < 5 * sigma + 1, `${host} first ${got}/${n}, expected ${(n * p).toFixed(1)} ± ${sigma.toFixed(1)}`);
      }
    });

    test('an answer is composed once, stored, then served from the store; the composer takes only its own keys', async (t) => {
      if (!requireTool(t, 'nginx', 'nginx-light') || skip) return;
      const store = path.join(tmp, 'nginx', 'list-store', 'gen');
      const q = '/mirrorlist?repo=fedora-41&arch=x86_64&country=DE';
      const first = await get(q);
      assert.equal(first.status, 200);
      const storedFiles = () => (fs.existsSync(path.join(store, 'ml')) ? listFiles(path.join(store, 'ml')) : []);
      // The store is written when the reply is complete: wait for it, bounded.
      for (let i = 0; i < 100 && !storedFiles().some((f) => fs.readFileSync(path.join(store, 'ml', f), 'utf8') === first.body); i++) await new Promise((r) => setTimeout(r, 20));
      const key = storedFiles().find((f) => fs.readFileSync(path.join(store, 'ml', f), 'utf8') === first.body);
      assert.ok(key, `the answer is stored under ${store}/ml (found: ${storedFiles().join(', ')})`);
      assert.match(key, /^[0-9a-z]+\/v\d*\/[a-z]+\/[0-9a-z]+$/, 'list/variant/protocol word/repository tokens only');
      // Mark every stored answer: a marked reply can only come from the store.
      for (const f of storedFiles()) fs.appendFileSync(path.join(store, 'ml', f), '# from the store\n');
      let marked = 0;
      const fresh = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const r = await get(q);
        assert.equal(r.status, 200);
        if (r.body.endsWith('# from the store\n')) marked++;
        else fresh.add(r.body);
      }
      assert.ok(marked > 0, 'some replies came from the store');
      // A reply not from the store was composed for a variant not stored yet: each such body once or a few times.
      assert.ok(fresh.size <= 16, `${fresh.size} distinct composed bodies`);

      // The composer: only well-formed keys of its own generation.
      const composer = async (key?: string) => {
        const r = await fetch(`http://127.0.0.1:${composePort}/mirrorlist`, { headers: key === undefined ? {} : { 'x-ms-key': key } });
        return { status: r.status, body: await r.text() };
      };
      const own = await composer(`gen/ml/${key}`);
      assert.equal(own.status, 200);
      assert.equal(own.body, first.body, 'the composer recomposes exactly the stored answer');
      assert.equal((await composer(`other-gen/ml/${key}`)).status, 503, 'another generation: 503 (the front retries)');
      for (const bad of [undefined, '', '../../etc/passwd', `gen/mt/${key}`, `gen/ml/${key}/../x`, `gen/ml/${key}\\`, 'gen/ml/a/v1/a/r0;x']) {
        assert.equal((await composer(bad)).status, 400, `key ${JSON.stringify(bad)}`);
      }
      assert.equal((await composer(`gen/ml/zzzz/v0/a/r0`)).status, 404, 'an unknown list: no blob');
    });

    test('beyond the store rate, answers are composed and not stored; every reply is whole', async (t) => {
      if (!requireTool(t, 'nginx', 'nginx-light') || skip) return;
      const prefixDir = path.join(tmp, 'nginx-rate');
      const slow = await startNginx({ outDir: tmp, root: gen1, prefixDir, accessLog: 'off', storeRate: 1 });
      t.after(() => slow.stop());
      const started = Date.now();
      const bodies = new Set<string>();
      for (const ip of ['192.0.2.7', '198.51.100.5', '100.64.0.9', '203.0.113.200', '8.8.8.8', '2001:dba::1', '9.9.9.9', '1.1.1.1']) {
        for (const repo of ['fedora-41&arch=x86_64', 'fedora-41&arch=aarch64', 'updates-released-f41&arch=x86_64']) {
          for (const kind of ['mirrorlist', 'metalink']) {
            for (let i = 0; i < 3; i++) {
              const r = await fetch(`${slow.url}/${kind}?repo=${repo}&ip=${ip}`);
              const body = await r.text();
              assert.equal(r.status, 200, `${kind} ${repo} ${ip}: ${body.slice(0, 200)}`);
              assert.ok(kind === 'mirrorlist' ? body.startsWith('# repo = ') && body.endsWith('\n') : body.startsWith('<?xml') && body.endsWith('</metalink>\n'), `${kind} ${repo} ${ip}: a whole answer`);
              bodies.add(body);
            }
          }
        }
      }
      const seconds = Math.ceil((Date.now() - started) / 1000);
      const stored = listFiles(path.join(prefixDir, 'list-store', 'gen'));
      // burst 20, then 1 per second (+1 for a second boundary)
      assert.ok(stored.length <= 21 + seconds + 1, `${stored.length} answers stored in ${seconds} s at storeRate 1`);
      assert.ok(bodies.size > stored.length, `${bodies.size} distinct answers, ${stored.length} stored: some were served without storing`);
    });

    test('a full list store (its own file system) stops storing; every answer stays whole', async (t) => {
      if (!requireTool(t, 'nginx', 'nginx-light') || skip) return;
      const storeDir = path.join(tmp, 'tiny-store');
      fs.mkdirSync(storeDir);
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', storeDir], { stdio: 'pipe' });
      } catch (err) {
        t.skip(`SKIPPED: cannot mount a small tmpfs for the store (needs root): ${(err as Error).message.split('\n')[0]}`);
        return;
      }
      t.after(() => execFileSync('umount', ['-l', storeDir]));
      fs.writeFileSync(path.join(storeDir, 'filler'), Buffer.alloc(40 * 1024)); // leaves room for a few answers
      const full = await startNginx({ outDir: tmp, root: gen1, prefixDir: path.join(tmp, 'nginx-full'), accessLog: 'off', storeDir, storeRate: 1000 });
      t.after(() => full.stop());
      let served = 0;
      for (const ip of ['192.0.2.7', '198.51.100.5', '100.64.0.9', '203.0.113.200', '8.8.8.8', '2001:dba::1', '9.9.9.9', '1.1.1.1']) {
        for (const repo of ['fedora-41&arch=x86_64', 'fedora-41&arch=aarch64', 'updates-released-f41&arch=x86_64']) {
          for (const kind of ['mirrorlist', 'metalink']) {
            for (const country of ['', '&country=DE', '&country=US', '&country=global']) {
              const r = await fetch(`${full.url}/${kind}?repo=${repo}&ip=${ip}${country}`);
              const body = await r.text();
              assert.equal(r.status, 200, `${kind} ${repo} ${ip}${country}`);
              assert.ok(kind === 'mirrorlist' ? body.startsWith('# repo = ') && body.endsWith('\n') : body.endsWith('</metalink>\n'), `${kind} ${repo} ${ip}${country}: a whole answer`);
              served++;
            }
          }
        }
      }
      assert.equal(fs.statfsSync(storeDir).bavail, 0, 'the store filled up');
      // Every answer under its own name is whole. (nginx leaves a copy it could not finish
      // as <name>.<10 digits>, a name no request reads; publish's prune removes it with its generation.)
      const stored = listFiles(storeDir).filter((f) => f !== 'filler' && !/\.\d{10}$/.test(f));
      assert.ok(stored.length > 0);
      for (const f of stored) assert.ok(fs.readFileSync(path.join(storeDir, f), 'utf8').endsWith('\n'), `${f} is whole`);
      assert.ok(served >= 190);
      assert.match(fs.readFileSync(path.join(tmp, 'nginx-full', 'logs', 'error.log'), 'utf8'), /No space left on device/);
    });

    test('errors: MirrorManager bodies, 4xx for hostile input, nothing reflected raw', async (t) => {
      if (!requireTool(t, 'nginx', 'nginx-light') || skip) return;
      const inv = await get('/mirrorlist?repo=../../etc/passwd&arch=x86_64');
      assert.equal(inv.status, 404);
      assert.equal(inv.body, '# repo = (invalid) arch = x86_64 error: invalid repo or arch\n# following repositories are available:\n# repo=fedora-41&arch=aarch64\n# repo=fedora-41&arch=x86_64\n# repo=updates-released-f41&arch=x86_64\n');
      const crlf = await get('/mirrorlist?repo=fedora-41&arch=%0d%0aX-Evil:%201');
      assert.equal(crlf.status, 404);
      assert.ok(crlf.body.startsWith('# repo = fedora-41 arch = (invalid) error'));
      assert.doesNotMatch(crlf.body, /Evil|%0d/i);
      const minv = await get('/metalink?repo=<script>&arch=x86_64');
      assert.equal(minv.status, 404);
      assert.equal(minv.type, 'application/metalink+xml');
      assert.match(minv.body, /<!-- # repo = \(invalid\) arch = x86_64 error: invalid repo or arch\n/);
      assert.doesNotMatch(minv.body, /<script>/);
      assert.equal((await get('/mirrorlist?repo=fedora-41&repo=fedora-42&arch=x86_64')).status, 400);
      assert.equal((await get(`/mirrorlist?repo=fedora-41&arch=x86_64&x=${'a'.repeat(3_000)}`)).status, 400);
      const huge = (await get(`/mirrorlist?repo=fedora-41&arch=x86_64&x=${'a'.repeat(10_000)}`)).status; // nginx itself: 414
      assert.ok(huge >= 400 && huge < 500, String(huge));
      assert.equal((await get('/mirrorlist?repo=fedora-41&arch=x86_64&ip=999.1.1.1')).status, 400);
      assert.equal((await get('/mirrorlist?repo=fedora-41&arch=x86_64&ip=../../x')).status, 400);
      // geo parses ip=: what it cannot parse has no class, with country= too; its body is fixed.
      for (const ip of ['255.255.255.255', '1.2.3', '1.2.3.4%0a', 'fe80::1%25eth0', '%3Cscript%3E', ':::']) {
        for (const extra of ['', '&country=US']) {
          const bad = await get(`/mirrorlist?repo=fedora-41&arch=x86_64&ip=${ip}${extra}`);
          assert.deepEqual([bad.status, bad.body], [400, 'Cannot parse client IP address. Aborting.\n'], `ip=${ip}${extra}`);
        }
      }
      const noArch = await get('/mirrorlist?repo=fedora-41&arch=');
      assert.deepEqual([noArch.status, noArch.body], [200, '# either path=, or repo= and arch= must be specified\n']);
      assert.equal((await get('/mirrorlist?repo=fedora-41&arch=x86_64&country=XX')).status, 400);
      assert.equal((await get('/mirrorlist?repo=fedora-41&arch=x86_64&protocol=gopher')).status, 400);
      assert.equal((await get('/mirrorlist?repo=fedora-41&arch=x86_64&netblock=2')).status, 400);
      const dis = await get('/mirrorlist?repo=updates-testing-f41&arch=x86_64');
      assert.deepEqual([dis.status, dis.body], [200, 'repo disabled']);
      const miss = await get('/metalink?repo=fedora-41');
      assert.equal(miss.status, 200);
      assert.match(miss.body, /<!-- # either path=, or repo= and arch= must be specified\n-->/);
      // The blobs are internal.
      assert.equal((await get('/lists/o/')).status, 404);
    });
  });
});

// selection.protocolSets: all — every set gets lists of its own; nginx must load them.
describe('lists emitter, every protocol set stored', () => {
  test('nginx -t accepts the fragments; https,ftp has its own lists and the http fragment no fallback', async (t) => {
    if (!requireTool(t, 'nginx', 'nginx-light')) return;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-lists-all-'));
    const { db } = await freshDb(undefined, 'pglite');
    try {
      await loadFixture(db);
      const gen = path.join(tmp, 'gen');
      const writer = createGenerationWriter(gen, 'gen');
      await listsEmitter.emit(buildContext(db, tmp, { selection: { protocolSets: 'all' } }), writer);
      writer.write(GENERATION_FRAGMENT, generationFragment('gen'));
      const http = fs.readFileSync(path.join(gen, 'nginx/http.d/10-lists.conf'), 'utf8');
      assert.match(http, /^"c[0-9a-z]+\|s\d+\|sf" [0-9a-z]+;$/m);
      assert.match(http, /map \$ms_proto \$ms_pfb \{\n    default \$ms_proto;\n\}/);
      // The site config a deployment uses, with these fragments.
      const checked = await checkSite(gen, { prefixDir: path.join(tmp, 'nginx-t') });
      assert.equal(checked.ok, true, checked.output);
    } finally {
      await db.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
