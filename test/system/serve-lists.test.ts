// End to end on the real nginx: build → publish → serve, then ask /mirrorlist and
// /metalink as clients from many addresses (via ip= and via X-Forwarded-For from
// a trusted proxy) and compare the groups and their order with a reference
// written here from DESIGN.md's selection rules (independent of pipelines/build);
// measure the bandwidth weighting over many requests; walk every error path.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseConfig, type Config } from '../../pipelines/core/config.ts';
import { syncConfigTables } from '../../pipelines/core/context.ts';
import type { Db } from '../../pipelines/core/db.ts';
import { memoryLogger } from '../../pipelines/core/log.ts';
import type { StageContext } from '../../pipelines/core/types.ts';
import { startNginx, type RunningNginx } from '../../pipelines/serve/nginx.ts';
import { run as build } from '../../pipelines/stages/build.ts';
import { run as publish } from '../../pipelines/stages/publish.ts';
import { freshDb } from '../helpers/db.ts';
import { REQUIRE_SYSTEM, whichTool } from '../helpers/system.ts';

// ---- the network ------------------------------------------------------------

const COUNTRY_CSV = [
  '2.0.0.0,2.255.255.255,FR',
  '3.0.0.0,3.255.255.255,US',
  '5.0.0.0,5.255.255.255,DE',
  '31.0.0.0,31.255.255.255,IL',
  '43.0.0.0,43.255.255.255,JP',
  '177.0.0.0,177.255.255.255,BR',
  '186.0.0.0,186.255.255.255,AR',
  '2001:200::,2001:3ff:ffff:ffff:ffff:ffff:ffff:ffff,JP',
  '2003::,2003:ff:ffff:ffff:ffff:ffff:ffff:ffff,DE',
  '2600::,2600:ffff:ffff:ffff:ffff:ffff:ffff:ffff,US',
];
const ASN_CSV = ['5.10.0.0,5.10.255.255,680,DFN Verein', '2003:10::,2003:10:ffff:ffff:ffff:ffff:ffff:ffff,680,DFN Verein', '3.50.0.0,3.50.255.255,7018,ATT'];
const RESEARCH = ['3.200.0.0/16', '2600:200::/32'];
const CONTINENT: Record<string, string> = { FR: 'EU', DE: 'EU', IL: 'EU' /* redirected from AS */, US: 'NA', JP: 'AS', BR: 'SA', AR: 'SA' };

interface H {
  name: string;
  country: string;
  bw: number;
  private?: boolean;
  netblocks?: string[];
  asn?: number;
  asnClients?: boolean;
  i2?: boolean;
  allowed?: string[];
  v6?: boolean;
  stale?: boolean;
}
const HOSTS: H[] = [
  { name: 'us-big.example', country: 'US', bw: 10000 },
  { name: 'us-small.example', country: 'US', bw: 100 },
  { name: 'us-re.example', country: 'US', bw: 1000, i2: true },
  { name: 'de-asn.example', country: 'DE', bw: 1000, asn: 680, asnClients: true },
  { name: 'de-plain.example', country: 'DE', bw: 1000 },
  { name: 'fr-only.example', country: 'FR', bw: 1000, allowed: ['FR'] },
  { name: 'jp-v4.example', country: 'JP', bw: 1000, v6: false },
  { name: 'br-big.example', country: 'BR', bw: 1000 },
  { name: 'br-small.example', country: 'BR', bw: 10 },
  { name: 'priv-campus.example', country: 'US', bw: 1000, private: true, netblocks: ['3.3.0.0/16', '2600:3::/32'] },
  { name: 'priv-dept.example', country: 'US', bw: 1000, private: true, netblocks: ['3.3.3.0/24'] },
  { name: 'att-nb.example', country: 'US', bw: 1000, netblocks: ['3.50.7.0/24'], asn: 7018, asnClients: true },
  { name: 'stale-us.example', country: 'US', bw: 5000, stale: true },
];
const MINIMUM = 5;
const REPO = { prefix: 'fedora-41', arch: 'x86_64', dir: 'releases/41/Everything/x86_64/os' };
const SHA256 = 'ab'.repeat(32);
const SHA512 = 'cd'.repeat(64);

// ---- the reference (DESIGN.md "Selection"), deliberately naive --------------

function ipToBig(ip: string): { fam: 4 | 6; v: bigint } {
  if (ip.includes(':')) {
    const [head, tail] = ip.split('::') as [string, string | undefined];
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const parts = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    return { fam: 6, v: parts.reduce((a, p) => (a << 16n) + BigInt(parseInt(p || '0', 16)), 0n) };
  }
  return { fam: 4, v: ip.split('.').reduce((a, p) => (a << 8n) + BigInt(Number(p)), 0n) };
}
function inRange(ip: string, from: string, to: string): boolean {
  const a = ipToBig(ip);
  const f = ipToBig(from);
  return a.fam === f.fam && a.v >= f.v && a.v <= ipToBig(to).v;
}
function inCidr(ip: string, cidr: string): boolean {
  const [base, len] = cidr.split('/') as [string, string];
  const b = ipToBig(base);
  const a = ipToBig(ip);
  if (a.fam !== b.fam) return false;
  const bits = BigInt(b.fam === 4 ? 32 : 128);
  const shift = bits - BigInt(Number(len));
  return a.v >> shift === b.v >> shift;
}

/** Expected groups (as sets of host names, in order) for a client address. */
function reference(ip: string): string[][] {
  const fam = ipToBig(ip).fam;
  const country = COUNTRY_CSV.map((r) => r.split(',')).find(([f, t]) => inRange(ip, f!, t!))?.[2] ?? null;
  const asn = ASN_CSV.map((r) => r.split(',')).find(([f, t]) => inRange(ip, f!, t!))?.[2];
  const research = RESEARCH.some((c) => inCidr(ip, c));
  const usable = HOSTS.filter((h) => !h.stale && (fam === 4 || h.v6 !== false));
  const allowed = (h: H) => !country || !h.allowed || h.allowed.includes(country);
  const groups: string[][] = [];
  const seen = new Set<string>();
  const add = (names: string[]) => {
    const fresh = names.filter((n) => !seen.has(n));
    fresh.forEach((n) => seen.add(n));
    if (fresh.length) groups.push(fresh.sort());
  };
  // 1. netblocks, most specific first
  const matches = usable.flatMap((h) => (h.netblocks ?? []).filter((c) => inCidr(ip, c)).map((c) => ({ h, len: Number(c.split('/')[1]) })));
  for (const len of [...new Set(matches.map((m) => m.len))].sort((a, b) => b - a)) add(matches.filter((m) => m.len === len).map((m) => m.h.name));
  // 2. ASN
  if (asn) add(usable.filter((h) => h.asnClients && String(h.asn) === asn).map((h) => h.name));
  const pub = usable.filter((h) => !h.private && allowed(h));
  // 3. research networks, same country
  if (research && country) add(pub.filter((h) => h.i2 && h.country === country).map((h) => h.name));
  // 4. country, 5. continent
  if (country) {
    add(pub.filter((h) => h.country === country).map((h) => h.name));
    add(pub.filter((h) => h.country !== country && CONTINENT[h.country] === CONTINENT[country]).map((h) => h.name));
  }
  // 6. global while fewer than minimum
  if (seen.size < MINIMUM) add(pub.map((h) => h.name));
  return groups;
}

/** Checks `got` (host names in response order) is the groups' concatenation, any order inside a group. */
function assertGroups(got: string[], want: string[][], what: string): void {
  assert.equal(got.length, new Set(got).size, `${what}: a host listed twice: ${got.join(' ')}`);
  let i = 0;
  for (const [n, g] of want.entries()) {
    const slice = got.slice(i, i + g.length).sort();
    assert.deepEqual(slice, g, `${what}: group ${n + 1} of ${JSON.stringify(want)}; got ${JSON.stringify(got)}`);
    i += g.length;
  }
  assert.equal(got.length, i, `${what}: extra hosts ${JSON.stringify(got.slice(i))}`);
}

// ---- fixture loading ----------------------------------------------------------

async function load(db: Db, config: Config): Promise<void> {
  await db.transaction(async (q) => {
    await syncConfigTables(q, config);
    const cat = (await q.query<{ id: number }>(`SELECT id FROM category WHERE name = 'Fedora Linux'`)).rows[0]!.id;
    const dirs: number[] = [];
    for (const d of [REPO.dir, 'releases/41/Everything/aarch64/os', 'updates/testing/41/Everything/x86_64', 'releases/42/Everything/x86_64/os']) {
      dirs.push((await q.query<{ id: number }>('INSERT INTO directory (category_id, name, readable) VALUES ($1, $2, true) RETURNING id', [cat, d])).rows[0]!.id);
    }
    await q.query('INSERT INTO repository (prefix, arch, category_id, directory_id) VALUES ($1, $2, $3, $4)', [REPO.prefix, REPO.arch, cat, dirs[0]]);
    await q.query(`INSERT INTO repository (prefix, arch, category_id, directory_id) VALUES ('fedora-41', 'aarch64', $1, $2)`, [cat, dirs[1]]);
    await q.query(`INSERT INTO repository (prefix, arch, category_id, directory_id, disabled) VALUES ('updates-testing-f41', 'x86_64', $1, $2, true)`, [cat, dirs[2]]);
    // Pushed to the master, carried by no mirror yet.
    await q.query(`INSERT INTO repository (prefix, arch, category_id, directory_id) VALUES ('fedora-42', 'x86_64', $1, $2)`, [cat, dirs[3]]);
    for (const d of dirs) {
      await q.query(
        `INSERT INTO file_detail (directory_id, filename, size, md5, sha1, sha256, sha512, "timestamp", created_at) VALUES ($1, 'repodata/repomd.xml', 4321, $2, $3, $4, $5, 1763900000, now())`,
        [d, 'e'.repeat(32), 'f'.repeat(40), SHA256, SHA512],
      );
    }
    for (const h of HOSTS) {
      const site = (await q.query<{ id: number }>('INSERT INTO site (name) VALUES ($1) RETURNING id', [`site-${h.name}`])).rows[0]!.id;
      const id = (
        await q.query<{ id: number }>(
          `INSERT INTO host (site_id, name, country, bandwidth_int, private, asn, asn_clients, internet2_clients, countries_allowed, reachable_ipv4, reachable_ipv6)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, true, $10) RETURNING id`,
          [site, h.name, h.country, h.bw, h.private ?? false, h.asn ?? null, h.asnClients ?? false, h.i2 ?? false, h.allowed ?? [], h.v6 ?? true],
        )
      ).rows[0]!.id;
      for (const nb of h.netblocks ?? []) await q.query(`INSERT INTO host_netblock (host_id, netblock, kind) VALUES ($1, $2, 'cidr')`, [id, nb]);
      const hc = (await q.query<{ id: number }>('INSERT INTO host_category (host_id, category_id) VALUES ($1, $2) RETURNING id', [id, cat])).rows[0]!.id;
      await q.query('INSERT INTO host_category_url (host_category_id, url) VALUES ($1, $2)', [hc, `https://${h.name}/pub/fedora/linux`]);
      await q.query('INSERT INTO host_category_url (host_category_id, url) VALUES ($1, $2)', [hc, `http://${h.name}/pub/fedora/linux`]);
      for (const d of dirs) await q.query('INSERT INTO host_category_dir (host_category_id, directory_id, up2date) VALUES ($1, $2, $3)', [hc, d, !h.stale && d !== dirs[3]]);
    }
  });
}

// ---- the served generation ----------------------------------------------------

let nginx: RunningNginx | null = null;
let skipReason = '';
const cleanups: Array<() => unknown> = [];

function hostsOf(body: string): string[] {
  return body
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => new URL(l).hostname);
}

// One keep-alive connection, as a dnf client or a proxy would use it (and faster than fetch here).
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function quick(pathAndQuery: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${nginx!.url}${pathAndQuery}`, { agent, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${pathAndQuery}`)));
    req.on('error', reject);
  });
}

async function get(pathAndQuery: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${nginx!.url}${pathAndQuery}`, { headers, redirect: 'manual', signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

const SAMPLES = [
  // countries and their edges, unknown space
  '3.1.2.3', '3.0.0.0', '3.255.255.255', '2.255.255.255', '2.0.0.0', '1.255.255.255', '4.0.0.0', '5.1.1.1', '2.5.5.5',
  '31.1.1.1', '43.1.1.1', '177.1.1.1', '186.1.1.1', '100.64.0.1', '127.0.0.1', '255.255.255.254', '0.0.0.0',
  // netblocks ±1 (nested /16 and /24)
  '3.2.255.255', '3.3.0.0', '3.3.2.255', '3.3.3.0', '3.3.3.128', '3.3.3.255', '3.3.4.0', '3.3.255.255', '3.4.0.0',
  // ASN ranges ±1, a netblock inside an ASN
  '5.9.255.255', '5.10.0.0', '5.10.200.1', '5.10.255.255', '5.11.0.0', '3.50.0.1', '3.50.7.0', '3.50.7.255', '3.50.8.0', '3.49.255.255',
  // research prefix ±1
  '3.199.255.255', '3.200.0.0', '3.200.255.255', '3.201.0.0',
  // IPv6
  '2600::1', '2600:3::1', '2600:2:ffff:ffff:ffff:ffff:ffff:ffff', '2600:4::', '2600:200::1', '2003::1', '2003:10::5', '2003:11::', '2001:200::1', '2001:400::', '2a00::1', '::1',
];

describe('mirrorlists and metalinks served by the real nginx', () => {
  before(async () => {
    if (!whichTool('nginx')) {
      if (REQUIRE_SYSTEM) throw new Error('"nginx" is required (MIRRORSMITH_REQUIRE_SYSTEM=1): apt-get install nginx-light');
      skipReason = 'SYSTEM TEST SKIPPED: nginx not installed (apt-get install nginx-light)';
      process.stderr.write(`\n*** ${skipReason}\n`);
      return;
    }
    const work = fs.mkdtempSync(path.join((await import('node:os')).tmpdir(), 'mirrorsmith-lists-'));
    cleanups.push(() => fs.rmSync(work, { recursive: true, force: true }));
    fs.writeFileSync(path.join(work, 'country.csv'), COUNTRY_CSV.join('\n') + '\n');
    fs.writeFileSync(path.join(work, 'asn.csv'), ASN_CSV.join('\n') + '\n');
    fs.writeFileSync(path.join(work, 'research.txt'), '# R&E prefixes\n' + RESEARCH.join('\n') + '\n');
    const config = parseConfig(
      {
        output: { dir: path.join(work, 'out') },
        categories: [{ name: 'Fedora Linux', topdir: 'linux', source: { type: 'local', path: work } }],
        repositoryAliases: [{ from: 'fedora-alias', to: 'fedora-41' }],
        countryContinentRedirects: { IL: 'EU' },
        geoip: { country: [path.join(work, 'country.csv')], asn: [path.join(work, 'asn.csv')], researchPrefixes: path.join(work, 'research.txt') },
        selection: { minimum: MINIMUM, variants: 64 },
        build: { trustedProxies: ['127.0.0.1'] },
      },
      '',
      {},
    );
    const { db } = await freshDb(undefined, 'pglite');
    cleanups.push(() => db.close());
    await load(db, config);
    const ctx = (stage: string): StageContext => ({
      db,
      config,
      log: memoryLogger('info').child({ stage }),
      signal: AbortSignal.timeout(120_000),
      run: { id: 1, startedAt: new Date(), generationId: 'g-lists', force: false, dryRun: false },
      options: {},
      progress: () => ({ tick() {}, done() {} }),
    });
    await build(ctx('build'));
    const pub = await publish(ctx('publish'));
    assert.equal(pub.stats?.generation, 'g-lists');
    // Debian's nginx.conf turns sendfile and tcp_nopush on at http level: the site must cope.
    nginx = await startNginx({ outDir: config.output.dir, extraHttp: 'sendfile on;\ntcp_nopush on;' });
    cleanups.push(() => nginx?.stop());
    cleanups.push(() => agent.destroy());
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  test('the reference itself follows the rules on hand-checked cases', (t) => {
    if (skipReason) return t.skip(skipReason);
    // US client: country (3), then the global fill-up because 3 < minimum.
    assert.deepEqual(reference('3.1.2.3')[0], ['att-nb.example', 'us-big.example', 'us-re.example', 'us-small.example']);
    // The department /24 before the campus /16, then the country.
    assert.deepEqual(reference('3.3.3.3').slice(0, 2), [['priv-dept.example'], ['priv-campus.example']]);
    // IL is redirected to Europe: DE mirrors are its continent; FR allows only FR clients.
    assert.deepEqual(reference('31.1.1.1')[0], ['de-asn.example', 'de-plain.example']);
    assert.ok(!reference('31.1.1.1').flat().includes('fr-only.example'));
    // IPv6 JP client: the JP mirror is IPv4-only.
    assert.ok(!reference('2001:200::1').flat().includes('jp-v4.example'));
  });

  test('groups and order match the reference for a broad sample of clients via ip=', async (t) => {
    if (skipReason) return t.skip(skipReason);
    // Fixed samples plus seeded random addresses inside and around the ranges.
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const randoms = Array.from({ length: 60 }, () => {
      const first = [2, 3, 3, 3, 5, 5, 31, 43, 177, 186, 9, 200][Math.floor(rnd() * 12)]!;
      const second = first === 3 && rnd() < 0.5 ? [3, 50, 200][Math.floor(rnd() * 3)]! : first === 5 && rnd() < 0.5 ? 10 : Math.floor(rnd() * 256);
      return `${first}.${second}.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}`;
    });
    let checked = 0;
    for (const ip of [...SAMPLES, ...randoms]) {
      // Literal colons: nginx does not URL-decode $arg_ip (an encoded %3A is refused with 400).
      const res = await get(`/mirrorlist?repo=fedora-41&arch=x86_64&ip=${ip}`);
      assert.equal(res.status, 200, `${ip}: ${res.body}`);
      assert.match(res.body, /^# repo = fedora-41 arch = x86_64 /, ip);
      assertGroups(hostsOf(res.body), reference(ip), `ip=${ip}`);
      for (const line of res.body.split('\n').filter((l) => l && !l.startsWith('#'))) {
        assert.match(line, /^https:\/\/[a-z0-9.-]+\/pub\/fedora\/linux\/releases\/41\/Everything\/x86_64\/os\/$/, 'https preferred, the repository path appended');
      }
      checked++;
    }
    assert.equal(checked, SAMPLES.length + 60);
  });

  test('X-Forwarded-For from the trusted proxy is the client; a spoofed left part is not', async (t) => {
    if (skipReason) return t.skip(skipReason);
    for (const ip of ['3.3.3.3', '5.10.0.1', '3.200.1.1', '31.1.1.1', '2600:3::1', '2003:10::5', '186.1.1.1']) {
      const res = await get('/mirrorlist?repo=fedora-41&arch=x86_64', { 'X-Forwarded-For': ip });
      assert.equal(res.status, 200, res.body);
      assertGroups(hostsOf(res.body), reference(ip), `X-Forwarded-For: ${ip}`);
      const ml = await get('/metalink?repo=fedora-41&arch=x86_64', { 'X-Forwarded-For': ip });
      const mlHosts = [...new Set([...ml.body.matchAll(/<url [^>]*>[a-z]+:\/\/([^/]+)\//g)].map((m) => m[1]!))];
      assertGroups(mlHosts, reference(ip), `metalink X-Forwarded-For: ${ip}`);
    }
    // A client cannot claim a private netblock by prepending it: the rightmost
    // untrusted address (the one our proxy saw) decides.
    const spoof = await get('/mirrorlist?repo=fedora-41&arch=x86_64', { 'X-Forwarded-For': '3.3.3.3, 177.1.1.1' });
    assertGroups(hostsOf(spoof.body), reference('177.1.1.1'), 'spoofed X-Forwarded-For');
    assert.ok(!spoof.body.includes('priv-'), 'no private mirror for a spoofed address');
  });

  test('metalink: MirrorManager format, hashes, preference, private flag', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const res = await get('/metalink?repo=fedora-41&arch=x86_64&ip=3.3.3.3');
    assert.equal(res.status, 200, res.body);
    assert.match(res.headers.get('content-type') ?? '', /^application\/metalink\+xml/);
    assert.match(res.body, /^<\?xml version="1\.0" encoding="utf-8"\?>\n<metalink version="3\.0" xmlns="http:\/\/www\.metalinker\.org\/" type="dynamic" pubdate="[^"]+ GMT" generator="mirrormanager" xmlns:mm0="http:\/\/fedorahosted\.org\/mirrormanager">/);
    assert.match(res.body, /<file name="repomd\.xml">/);
    assert.match(res.body, /<mm0:timestamp>1763900000<\/mm0:timestamp>/);
    assert.match(res.body, /<size>4321<\/size>/);
    for (const [alg, hex] of [['md5', 'e'.repeat(32)], ['sha1', 'f'.repeat(40)], ['sha256', SHA256], ['sha512', SHA512]]) {
      assert.match(res.body, new RegExp(`<hash type="${alg}">${hex}</hash>`));
    }
    const urls = [...res.body.matchAll(/<url protocol="(\w+)" type="\w+" location="([A-Z]{2})" preference="(\d+)"( mm0:private="True")?>([^<]+)<\/url>/g)];
    assert.ok(urls.length >= 2);
    const prefs = [...new Set(urls.map((u) => Number(u[3])))];
    assert.equal(prefs[0], 100, 'preference starts at 100');
    assert.deepEqual(prefs, [...prefs].sort((a, b) => b - a), 'preference decreases per host');
    const firstHosts = urls.slice(0, 4).map((u) => [new URL(u[5]!).hostname, u[4] ?? '']);
    assert.deepEqual(firstHosts.slice(0, 2).map((h) => h[0]), ['priv-dept.example', 'priv-dept.example'], 'https and http of the first host');
    assert.ok(firstHosts.every(([h, p]) => !h!.startsWith('priv-') || p === ' mm0:private="True"'), 'private hosts are flagged');
    assert.ok(urls.every((u) => u[5]!.endsWith('/releases/41/Everything/x86_64/os/repodata/repomd.xml')));
  });

  test('metalink variants: whichever host nginx moves to the front, every line is whole and the order follows the groups', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const line = /^    <url protocol="(https|http)" type="\1" location="[A-Z]{2}" preference="(\d+)"( mm0:private="True")?>\1:\/\/([a-z0-9.-]+)\/pub\/fedora\/linux\/releases\/41\/Everything\/x86_64\/os\/repodata\/repomd\.xml<\/url>$/;
    for (const ip of ['3.1.2.3', '177.1.2.3', '186.1.1.1', '5.1.1.1', '2600::1', '9.1.1.1']) {
      const firsts = new Set<string>();
      // No GeoIP country (9.1.1.1): the world is the lead and last group, so the moved host is sometimes the blob's last.
      for (let i = 0; i < (ip === '9.1.1.1' ? 300 : 60); i++) {
        const body = await quick(`/metalink?repo=fedora-41&arch=x86_64&ip=${ip}`);
        assert.doesNotMatch(body, /@@/);
        const lines = body.split('\n').filter((l) => l.includes('<url') || l.includes('</url>'));
        const parsed = lines.map((l) => l.match(line));
        assert.ok(parsed.every(Boolean), `${ip}: malformed url line in ${lines.join('\n')}`);
        const prefs = [...new Map(parsed.map((m) => [m![4]!, Number(m![2])])).entries()];
        assert.equal(prefs[0]![1], 100);
        assert.ok(prefs.every(([, p], j) => j === 0 || p < prefs[j - 1]![1]), `${ip}: preferences ${prefs.map((x) => x[1]).join(' ')}`);
        assertGroups(prefs.map(([h]) => h), reference(ip), `metalink ip=${ip}`);
        firsts.add(prefs[0]![0]);
      }
      if (ip === '9.1.1.1') assert.ok(firsts.size >= 5, `the world's first hosts: ${[...firsts].join(' ')}`);
      // Shares comparable enough that 60 requests see more than one first host (BR's 1000:10 is not).
      if (['3.1.2.3', '5.1.1.1', '2600::1', '9.1.1.1'].includes(ip)) assert.ok(firsts.size > 1, `${ip}: only ${[...firsts].join(' ')} ever came first`);
    }
  });

  test('composed lists do not stall on a keep-alive connection', async (t) => {
    if (skipReason) return t.skip(skipReason);
    // With the distribution's sendfile + tcp_nopush, each composed (sub_filter)
    // response waited ~45 ms for the delayed ACK: 200 requests took ≥ 9 s.
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) await quick('/metalink?repo=fedora-41&arch=x86_64&ip=3.1.2.3');
    const ms = performance.now() - t0;
    assert.ok(ms < 4000, `200 keep-alive metalink requests took ${ms.toFixed(0)} ms`);
  });

  test('bandwidth weighting: first place follows bandwidth share over many requests', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const N = 3000;
    const deadline = Date.now() + 90_000;
    const firsts = new Map<string, number>();
    let n = 0;
    for (; n < N && Date.now() < deadline; n++) {
      // BR clients: br-big (1000 Mbit/s) and br-small (10 Mbit/s) form the country group.
      const first = hostsOf(await quick('/mirrorlist?repo=fedora-41&arch=x86_64&ip=177.1.2.3'))[0]!;
      firsts.set(first, (firsts.get(first) ?? 0) + 1);
    }
    assert.equal(n, N, 'all requests ran within the time bound');
    assert.deepEqual([...firsts.keys()].sort(), ['br-big.example', 'br-small.example'], 'only the country group comes first');
    const small = firsts.get('br-small.example') ?? 0;
    const big = firsts.get('br-big.example') ?? 0;
    // Expected small share 10/1010 ≈ 0.99%: ≈ 30 of 3000, sd ≈ 5.4.
    const p = 10 / 1010;
    const sd = Math.sqrt(N * p * (1 - p));
    assert.ok(Math.abs(small - N * p) <= 4 * sd + 3, `br-small first ${small} times of ${N}, expected ≈ ${(N * p).toFixed(1)}`);
    assert.ok(big / Math.max(small, 1) > 40, `ratio ${big}:${small}`);

    // Four US hosts (10000 / 1000 / 1000 / 100 Mbit/s): each one's first-place share.
    const us = new Map<string, number>();
    let m = 0;
    for (; m < N && Date.now() < deadline + 60_000; m++) {
      const first = hostsOf(await quick('/mirrorlist?repo=fedora-41&arch=x86_64&ip=3.1.2.3'))[0]!;
      us.set(first, (us.get(first) ?? 0) + 1);
    }
    assert.equal(m, N, 'all requests ran within the time bound');
    const total = 12100;
    for (const [name, bw] of [['us-big.example', 10000], ['us-re.example', 1000], ['att-nb.example', 1000], ['us-small.example', 100]] as const) {
      const q = bw / total;
      const got = us.get(name) ?? 0;
      const s = Math.sqrt(N * q * (1 - q));
      assert.ok(Math.abs(got - N * q) <= 4 * s + 0.01 * N, `${name} first ${got} of ${N}, expected ≈ ${(N * q).toFixed(0)}`);
    }
  });

  test('parameters: country=, netblock=0, protocol=, redirect=1, aliases, aarch64', async (t) => {
    if (skipReason) return t.skip(skipReason);
    // country=DE skips GeoIP and netblocks: DE hosts, then (fewer than 5) the rest.
    const de = await get('/mirrorlist?repo=fedora-41&arch=x86_64&country=DE&ip=3.3.3.3');
    assert.deepEqual(hostsOf(de.body).slice(0, 2).sort(), ['de-asn.example', 'de-plain.example']);
    assert.ok(!de.body.includes('priv-'), 'country= never lists private netblock hosts');
    // country=AR has no mirrors: its continent (BR).
    const ar = await get('/mirrorlist?repo=fedora-41&arch=x86_64&country=ar');
    assert.deepEqual(hostsOf(ar.body).slice(0, 2).sort(), ['br-big.example', 'br-small.example']);
    // netblock=0: the campus client is treated as plain US.
    const nonb = await get('/mirrorlist?repo=fedora-41&arch=x86_64&ip=3.3.3.3&netblock=0');
    assertGroups(hostsOf(nonb.body), reference('3.1.2.3'), 'netblock=0');
    // protocol=http: http URLs only.
    const http = await get('/mirrorlist?repo=fedora-41&arch=x86_64&ip=3.1.2.3&protocol=http');
    assert.ok(http.body.split('\n').filter((l) => l && !l.startsWith('#')).every((l) => l.startsWith('http://')));
    // redirect=1: 302 to the first mirror's directory.
    const redir = await get('/mirrorlist?repo=fedora-41&arch=x86_64&ip=3.3.3.3&redirect=1');
    assert.equal(redir.status, 302);
    assert.equal(redir.headers.get('location'), 'https://priv-dept.example/pub/fedora/linux/releases/41/Everything/x86_64/os/');
    // …and when the weighted variant picks the first host (moved to the front by nginx), to that host.
    const brFirst = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const r = await get('/mirrorlist?repo=fedora-41&arch=x86_64&ip=186.1.1.1&redirect=1');
      assert.equal(r.status, 302);
      const host = new URL(r.headers.get('location')!).hostname;
      assert.ok(['br-big.example', 'br-small.example'].includes(host), host);
      brFirst.add(host);
    }
    assert.ok(brFirst.has('br-big.example'));
    // An alias answers like its target; another arch has its own path.
    const alias = await get('/mirrorlist?repo=fedora-alias&arch=x86_64&ip=3.3.3.3');
    assertGroups(hostsOf(alias.body), reference('3.3.3.3'), 'alias');
    const arm = await get('/mirrorlist?repo=fedora-41&arch=aarch64&ip=5.1.1.1');
    assert.match(arm.body, /\/releases\/41\/Everything\/aarch64\/os\/\n/);
  });

  test('errors: unknown repo/arch 404 with valid pairs, disabled repo, hostile input never reflected', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const unknown = await get('/mirrorlist?repo=fedora-99&arch=x86_64');
    assert.equal(unknown.status, 404);
    assert.match(unknown.body, /^# repo = \S+ arch = x86_64 error: invalid repo or arch\n/);
    assert.match(unknown.body, /^# repo=fedora-41&arch=x86_64$/m);
    assert.match(unknown.body, /^# repo=fedora-41&arch=aarch64$/m);
    assert.doesNotMatch(unknown.body, /updates-testing-f41/, 'a disabled repository is not offered as valid');
    const mlUnknown = await get('/metalink?repo=fedora-41&arch=sparc');
    assert.equal(mlUnknown.status, 404);
    assert.match(mlUnknown.body, /<!--[\s\S]*error: invalid repo or arch[\s\S]*# repo=fedora-41&arch=x86_64[\s\S]*-->/);

    // A repository no mirror carries yet: a clear 404, never an empty 200.
    for (const q of ['/mirrorlist?repo=fedora-42&arch=x86_64&ip=3.1.2.3', '/metalink?repo=fedora-42&arch=x86_64&ip=3.1.2.3', '/mirrorlist?repo=fedora-42&arch=x86_64&redirect=1', '/mirrorlist?repo=fedora-42&arch=x86_64&country=global']) {
      const none = await get(q);
      assert.equal(none.status, 404, `${q}: ${none.status} ${none.body}`);
      assert.match(none.body, /no mirror currently carries this repository/, q);
      assert.doesNotMatch(none.body, /^https?:\/\/|<url /m, q);
    }
    // Missing parameters: MirrorManager's message, no list.
    const missing = await get('/mirrorlist?repo=fedora-41');
    assert.match(missing.body, /^# either path=, or repo= and arch= must be specified\n$/);

    const disabled = await get('/mirrorlist?repo=updates-testing-f41&arch=x86_64');
    assert.match(disabled.body, /repo disabled/);

    const hostile: Array<[string, string]> = [
      ['repo=../../etc/passwd&arch=x86_64', 'passwd'],
      ['repo=fedora-41&arch=%0d%0aSet-Cookie:%20x=1', 'Set-Cookie'],
      ['repo=%3Cscript%3Ealert(1)%3C/script%3E&arch=x86_64', '<script'],
      [`repo=${'A'.repeat(10_000)}&arch=x86_64`, 'AAAAAAAAAA'],
      ['repo=fedora-41&repo=fedora-99&arch=x86_64', 'fedora-99'],
      ['repo=fedora-41&arch=x86_64&ip=1.2.3.4.5%0a', '1.2.3.4.5'],
      ['repo=fedora-41&arch=x86_64&ip=not-an-ip', 'not-an-ip'],
      ['repo=fedora-41&arch=x86_64&country=%22%3E%3Cx', '"><x'],
      ['repo=fedora-41&arch=x86_64&protocol=gopher', 'gopher'],
      ['repo=fedora-41&arch=x86_64&netblock=%24%7Bjndi%7D', 'jndi'],
      ['repo=fedora-41%00&arch=x86_64', '\0'],
    ];
    for (const [query, needle] of hostile) {
      for (const ep of ['/mirrorlist', '/metalink']) {
        const res = await get(`${ep}?${query}`);
        assert.ok(res.status >= 400 && res.status < 500, `${ep}?${query.slice(0, 60)} → ${res.status}`);
        assert.ok(!res.body.includes(needle), `${ep}?${query.slice(0, 60)} reflected ${JSON.stringify(needle)}: ${res.body.slice(0, 200)}`);
        assert.equal(res.headers.get('set-cookie'), null);
      }
    }
  });
});
