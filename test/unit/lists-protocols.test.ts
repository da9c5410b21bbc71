// protocol= sets and host URLs in the list plan (lists.ts): every subset of
// https/http/ftp/rsync, sets that list the same URLs sharing their lists, and which
// host URLs reach the blobs (IPv6 literals yes, anything that could break nginx
// config or XML no). The plan is built from a small in-memory snapshot with no
// GeoIP data and a huge minimum: every client gets one global group.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compose, moveFirst } from '../../pipelines/build/formats.ts';
import { COMMON_PROTOSETS, isSafeUrl, planLists, PROTOSETS, type ListPlan } from '../../pipelines/build/lists.ts';
import type { Snapshot, SnapshotHost } from '../../pipelines/build/snapshot.ts';

const NAMES = ['https', 'http', 'ftp', 'rsync'];

function host(id: number, name: string): SnapshotHost {
  return {
    id, name, siteId: id, siteName: `site-${id}`, country: 'US', bandwidth: 100, private: false, internet2: false, internet2Clients: false,
    asn: null, asnClients: false, countriesAllowed: [], maxConnections: 1, reachableIpv4: null, reachableIpv6: null, netblocks: [],
    lastCrawled: null, lastCheckedIn: null, crawlFailures: 0, comment: '',
  };
}

function snapshot(urls: string[][]): Snapshot {
  return {
    hosts: urls.map((_, i) => host(i + 1, `h${i + 1}.example`)),
    inactiveHosts: [],
    categories: [{ id: 1, name: 'Fedora Linux', topdir: 'linux' }],
    hostCategories: urls.map((u, i) => ({ id: i + 1, hostId: i + 1, categoryId: 1, alwaysUp2date: true, urls: u, privateUrls: [] })),
    directories: [{ id: 1, categoryId: 1, name: 'releases/41/os' }],
    repositories: [{ id: 1, prefix: 'fedora-41', arch: 'x86_64', categoryId: 1, directoryId: 1, directory: 'releases/41/os', disabled: false, repomd: [] }],
    aliases: [],
    upToDate: new Set(),
    continentRedirects: new Map(),
  };
}

const plan = (urls: string[][], protocolSets: 'common' | 'all' = 'all') => planLists(snapshot(urls), { countries: [], asns: [], research: [] }, [], { minimum: 1000, maxVariants: 1, protocolSets });

/** The URLs nginx would list for the global IPv4 class under a protocol token, in document order. */
function served(p: ListPlan, token: string, ext: 'ml' | 'mt'): string[] | null {
  const sig = p.repos[0].sig;
  const canon = p.protoCanon.find((c) => c.key === `${sig}|${token}`)?.token ?? p.protoFallback.find((f) => f.token === token)?.served ?? token;
  const cls = p.countryClasses.find((c) => c.key === 'GLOBAL4')!.cls;
  const row = p.blobs.find((b) => b.key === `${cls}|${sig}|${canon}`);
  if (!row) return null;
  const text = compose(moveFirst(p.files.get(`lists/o/${row.blob}.${ext}`)!, '', '', ''), { repo: 'fedora-41 arch = x86_64', path: 'releases/41/os', pubdate: 'd', head: '' });
  return ext === 'ml' ? text.split('\n').filter((l) => /^[a-z]+:\/\//.test(l)) : [...text.matchAll(/<url [^>]*>([^<]+)<\/url>/g)].map((m) => m[1]);
}

/** Reference, written apart from formats.ts: MirrorManager keeps a host's URLs of the requested protocols, at most one per requested protocol. */
function expected(urls: string[][], protocols: string[], suffix: string): string[] {
  return urls.flatMap((u) => u.filter((x) => protocols.includes(x.slice(0, x.indexOf(':')))).slice(0, protocols.length)).map((x) => `${x}/releases/41/os${suffix}`);
}

test('PROTOSETS: no protocol= plus all 15 non-empty subsets, every order of each spelled out, the canonical spelling alphabetical', () => {
  assert.equal(PROTOSETS.length, 16);
  assert.equal(new Set(PROTOSETS.map((p) => p.token)).size, 16);
  const subsets = PROTOSETS.filter((p) => p.protocols).map((p) => p.protocols!.join(','));
  assert.equal(new Set(subsets).size, 15);
  for (const p of PROTOSETS.filter((x) => x.protocols)) {
    assert.deepEqual(p.protocols, [...p.protocols!].sort());
    const fact = [1, 1, 2, 6, 24][p.protocols!.length];
    assert.equal(new Set(p.spellings).size, fact, p.token);
    for (const s of p.spellings) assert.deepEqual(s.split(',').sort(), p.protocols);
  }
  assert.ok(PROTOSETS.some((p) => p.protocols?.join(',') === 'http,https' && p.spellings.includes('https,http')));
});

test('every protocol set lists exactly the requested protocols per host; sets listing the same URLs share one list', () => {
  const urls = [
    ['https://a.example/pub', 'http://a.example/pub', 'rsync://a.example/pub'],
    ['http://b.example/pub'],
    ['https://c.example/pub', 'https://c2.example/pub'],
    ['rsync://d.example/pub'],
    ['https://[2001:db8::1]/pub/fedora', 'http://[2001:db8::1]:8080/pub/fedora'],
  ];
  const p = plan(urls);
  for (const set of PROTOSETS.filter((x) => x.protocols)) {
    const ml = served(p, set.token, 'ml');
    const mt = served(p, set.token, 'mt');
    const want = expected(urls, set.protocols!, '/');
    if (!want.length) {
      assert.equal(ml, null, set.token);
      continue;
    }
    assert.deepEqual([...ml!].sort(), [...want].sort(), `mirrorlist ${set.token}`);
    assert.deepEqual([...mt!].sort(), expected(urls, set.protocols!, '/repodata/repomd.xml').sort(), `metalink ${set.token}`);
  }
  // No host has ftp: a set with ftp lists what the set without it lists, and maps to it —
  // unless the extra name raises the per-host cap (c has two https URLs: `s` lists one, `sf` both).
  const sig = p.repos[0].sig;
  const canon = new Map(p.protoCanon.map((c) => [c.key, c.token]));
  assert.equal(canon.get(`${sig}|hf`), 'h');
  assert.equal(canon.get(`${sig}|shfr`), 'shr');
  assert.equal(canon.get(`${sig}|sf`), undefined);
  assert.equal(canon.get(`${sig}|f`), undefined, 'the first set listing nothing is its own');
  assert.ok(!p.blobs.some((b) => b.key.endsWith('|hf') || b.key.endsWith('|shfr')));
  // The header words of a list carry no protocol word (nginx appends the requested set's).
  assert.ok(p.listRows.every((l) => !l.header.includes('protocol')));
});

test('protocolSets common: six stored sets; another set is answered exactly where a stored one lists the same URLs, else by its https/http part (or ftp, or rsync)', () => {
  const urls = [
    ['https://a.example/pub', 'http://a.example/pub', 'rsync://a.example/pub'],
    ['http://b.example/pub', 'ftp://b.example/pub'],
    ['rsync://d.example/pub'],
  ];
  const p = plan(urls, 'common');
  assert.deepEqual([...new Set(p.blobs.map((b) => b.key.split('|')[2]))].sort(), ['a', 'f', 'h', 'r', 's', 'sh']);
  assert.deepEqual(Object.fromEntries(p.protoFallback.map((f) => [f.token, f.served])), { fr: 'f', hf: 'h', hr: 'h', sf: 's', sr: 's', hfr: 'h', sfr: 's', shf: 'sh', shr: 'sh', shfr: 'sh' });
  const sig = p.repos[0].sig;
  for (const set of PROTOSETS.filter((x) => x.protocols)) {
    const exact = COMMON_PROTOSETS.includes(set.token) || p.protoCanon.some((c) => c.key === `${sig}|${set.token}`);
    const got = served(p, set.token, 'mt')!;
    // Never a URL of a protocol not asked for; exactly the requested URLs where answered exactly.
    assert.ok(got.every((u) => set.protocols!.includes(u.slice(0, u.indexOf(':')))), set.token);
    if (exact) assert.deepEqual([...got].sort(), expected(urls, set.protocols!, '/repodata/repomd.xml').sort(), set.token);
  }
  // sf: b's ftp URL makes it differ from s, so it is answered by s (https only).
  assert.deepEqual(served(p, 'sf', 'mt'), ['https://a.example/pub/releases/41/os/repodata/repomd.xml']);
});

test('protocol sets share blobs where their URLs agree, and the order of the same hosts is the same', () => {
  // Every host offers https and nothing else: every set with https lists the same.
  const urls = Array.from({ length: 6 }, (_, i) => [`https://m${i}.example/pub`]);
  const p = plan(urls);
  const a = served(p, 'a', 'ml')!;
  for (const set of PROTOSETS.filter((x) => x.protocols?.includes('https'))) assert.deepEqual(served(p, set.token, 'ml'), a, set.token);
  assert.deepEqual([...new Set(p.blobs.map((b) => b.key.split('|')[2]))].sort(), ['a', 's'], 'every set with https is `s`; the others list nothing');
  // Per selection (global, or the hosts' country): one blob for no protocol=, one for every set with https.
  const selections = new Set(Object.values(p.index.lists).map((l) => JSON.stringify(l.groups)));
  assert.equal(p.counts.blobs, 2 * selections.size);
});

test('host URLs: bracketed IPv6 literals are listed; zone ids, malformed literals and config/XML metacharacters are not', () => {
  const good = ['https://[2001:db8::1]/pub', 'http://[2001:DB8:0:0:0:0:0:2]:8080/pub', 'https://[::ffff:192.0.2.1]/pub', 'rsync://[::1]/fedora'];
  const bad = [
    'https://[fe80::1%25eth0]/pub', // zone id
    'https://[fe80::1%eth0]/pub',
    'https://[2001:db8::1/pub',
    'https://2001:db8::1/pub',
    'https://[192.0.2.1]/pub', // IPv4 in brackets
    'https://[2001:db8::1::2]/pub',
    'https://[2001:db8:0:0:0:0:0:0:1]/pub',
    'https://[v1.fe]/pub',
    'https://[]/pub',
    'https://[2001:db8::1]]/pub',
    'https://[2001:db8::1]"; return 200 "x/pub',
    'https://[2001:db8::1]/p;ub{}',
    'https://[2001:db8::<x>]/pub',
    'https://[2001:db8::1]$host/pub',
    'https://[2001:db8::1]/a\nb',
  ];
  for (const u of good) assert.ok(isSafeUrl(u), u);
  for (const u of bad) assert.ok(!(isSafeUrl(u)), u);
  const p = plan([...good.map((u) => [u]), ...bad.map((u) => [u])]);
  const listed = served(p, 'a', 'mt')!;
  assert.deepEqual(listed.map((u) => u.replace(/\/releases\/41\/os\/repodata\/repomd\.xml$/, '')).sort(), good.sort());
  assert.equal(p.notes.filter((n) => n.includes('unsafe for nginx/XML')).length, bad.length);
});
