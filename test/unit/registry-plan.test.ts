import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatPlan, planCounts, planIsEmpty, planRegistry, type DbSite } from '../../pipelines/registry/apply.ts';
import type { HostEntry, SiteFile } from '../../pipelines/registry/schema.ts';
import { convertLegacyCsv, parseBandwidth, slugSiteName } from '../../pipelines/registry/legacy-csv.ts';
import { ValidationError } from '../../pipelines/core/errors.ts';

function host(name: string, extra: Partial<HostEntry> = {}): HostEntry {
  return {
    name, country: 'DE', bandwidth_mbps: 1000, private: false, internet2: false, internet2_clients: false, asn_clients: false,
    countries_allowed: [], netblocks: [], acl_ips: [], max_connections: 1, admin_active: true, user_active: true, comment: '',
    categories: { 'Fedora Linux': { always_up2date: false, urls: [`https://${name}/fedora/`], private_urls: [] } }, ...extra,
  };
}
function site(name: string, hosts: HostEntry[], extra: Partial<SiteFile> = {}): SiteFile {
  return { site: name, private: false, admin_active: true, user_active: true, admins: [], comment: '', hosts, ...extra };
}
/** The database view of the same sites (ids and overrides added). */
function asDb(sites: SiteFile[], overrides: Record<string, DbSite['hosts'][number]['overrides']> = {}): DbSite[] {
  let id = 1;
  return sites.map((s) => ({ ...s, id: id++, hosts: s.hosts.map((h) => ({ ...h, id: id++, overrides: overrides[h.name] ?? {} })) }));
}

test('an empty database gets every site and host added', () => {
  const plan = planRegistry([site('uni', [host('a.uni.example'), host('b.uni.example')])], []);
  assert.deepEqual(planCounts(plan), { add: 3, change: 0, remove: 0, kept: 0, cleared: 0 });
  assert.deepEqual([...plan.upsertHosts].sort(), ['a.uni.example', 'b.uni.example']);
  assert.match(formatPlan(plan), /^\+ site uni \(2 hosts\)\n\+ host a\.uni\.example \(site uni; DE; 1000 Mbit\/s; public; categories: Fedora Linux\)/);
});

test('identical state plans nothing; set-valued fields ignore order', () => {
  const want = [site('uni', [host('a.uni.example', { netblocks: ['192.0.2.0/24', '198.51.100.0/24'], countries_allowed: ['DE', 'AT'] })], { admins: ['x', 'y'] })];
  const have = asDb([site('uni', [host('a.uni.example', { netblocks: ['198.51.100.0/24', '192.0.2.0/24'], countries_allowed: ['AT', 'DE'] })], { admins: ['y', 'x'] })]);
  const plan = planRegistry(want, have);
  assert.ok(planIsEmpty(plan));
  assert.equal(formatPlan(plan), 'no changes: the database matches the registry\n0 to add, 0 to change, 0 to remove');
});

test('changes are listed by site, host and field', () => {
  const have = asDb([site('uni', [host('a.uni.example'), host('gone.uni.example')]), site('old', [host('x.old.example')])]);
  const want = [
    site('uni', [host('a.uni.example', { bandwidth_mbps: 10000, netblocks: ['192.0.2.0/24'], categories: { 'Fedora Linux': { always_up2date: true, urls: ['https://a.uni.example/fedora/', 'rsync://a.uni.example/fedora/'], private_urls: [] }, 'Fedora EPEL': { always_up2date: false, urls: [], private_urls: [] } } })], { comment: 'new comment' }),
    site('new', [host('x.old.example')]),
  ];
  const plan = planRegistry(want, have);
  const text = formatPlan(plan);
  assert.match(text, /~ site uni: comment "" → "new comment"/);
  assert.match(text, /~ host a\.uni\.example: bandwidth_mbps 1000 → 10000/);
  assert.match(text, /~ host a\.uni\.example: netblocks \+192\.0\.2\.0\/24/);
  assert.match(text, /~ host a\.uni\.example: categories\["Fedora Linux"\]\.always_up2date false → true/);
  assert.match(text, /~ host a\.uni\.example: categories\["Fedora Linux"\]\.urls \+rsync:\/\/a\.uni\.example\/fedora\//);
  assert.match(text, /~ host a\.uni\.example: categories\["Fedora EPEL"\] added \(0 URLs\)/);
  assert.match(text, /\+ site new \(1 host\)/);
  assert.match(text, /~ host x\.old\.example: site old → new/);
  assert.match(text, /- host gone\.uni\.example \(site uni; its crawl history goes with it\)/);
  assert.match(text, /- site old$/m);
  assert.deepEqual(plan.removeHosts, ['gone.uni.example']);
  assert.deepEqual(plan.removeSites, ['old']);
});

test('a CLI override the file disagrees with is kept and the plan says so', () => {
  const at = '2026-11-20T10:00:00.000Z';
  const have = asDb([site('uni', [host('a.uni.example', { admin_active: false })])], { 'a.uni.example': { admin_active: { value: false, at, by: 'host disable', reason: 'disk failure' } } });
  const plan = planRegistry([site('uni', [host('a.uni.example')])], have);
  assert.ok(planIsEmpty(plan), 'nothing is written');
  assert.equal(plan.items.length, 1);
  assert.equal(
    plan.items[0]!.text,
    `! host a.uni.example: admin_active kept false (set by 'host disable' at ${at}, reason "disk failure"); registry says true — edit the file or run 'mirrorsmith host enable'`,
  );
  assert.equal(plan.effective[0]!.hosts[0]!.admin_active, false);
});

test('a CLI override is cleared once the file agrees; other changes still apply around it', () => {
  const at = '2026-11-20T10:00:00.000Z';
  const have = asDb([site('uni', [host('a.uni.example', { admin_active: false, comment: 'via cli' })])], {
    'a.uni.example': { admin_active: { value: false, at, by: 'host disable' }, comment: { value: 'via cli', at, by: 'host comment' } },
  });
  const plan = planRegistry([site('uni', [host('a.uni.example', { admin_active: false, bandwidth_mbps: 100 })])], have);
  const c = planCounts(plan);
  assert.deepEqual(c, { add: 0, change: 1, remove: 0, kept: 1, cleared: 1 });
  assert.deepEqual(plan.overrides.get('a.uni.example'), { comment: { value: 'via cli', at, by: 'host comment' } });
  assert.equal(plan.effective[0]!.hosts[0]!.comment, 'via cli');
  assert.match(formatPlan(plan), /= host a\.uni\.example: admin_active override from 'host disable' cleared: the registry now agrees \(false\)/);
});

test('legacy CSV: a row with the wrong column count is an error naming the line', () => {
  const csv = 'name,http,cc\nm1.example.org,http://m1.example.org/,de\nm2.example.org,http://m2.example.org/\nm3.example.org,http://m3.example.org/,fr,extra\n';
  assert.throws(
    () => convertLegacyCsv(csv, { file: 'mirrors.csv', category: 'CentOS' }),
    (err: unknown) =>
      err instanceof ValidationError &&
      err.issues.length === 2 &&
      err.issues[0] === 'mirrors.csv: line 3: expected 3 columns (as in the header), got 2' &&
      err.issues[1] === 'mirrors.csv: line 4: expected 3 columns (as in the header), got 4',
  );
  assert.throws(() => convertLegacyCsv('host,http\na,b\n', { file: 'm.csv', category: 'CentOS' }), /no "name" column/);
  assert.throws(() => convertLegacyCsv('name,http\n"unclosed,x\n', { file: 'm.csv', category: 'CentOS' }), (err: unknown) => err instanceof ValidationError && /m\.csv: .*(quote|line)/i.test(err.issues[0]!));
});

test('legacy CSV: values map and problems are reported per row', () => {
  const csv = 'name,http,rsync,bandwidth,status,cc,use-in-mirror-list,speed,contact-tel\n' +
    'm1.example.org,http://m1.example.org/centos/,rsync://m1.example.org/centos/,1Gbit,Dead,uk,no,T1,555\n' +
    'm1.example.org,http://m1.example.org/centos/,,100,Active,de,yes,,\n';
  const r = convertLegacyCsv(csv, { file: 'm.csv', category: 'CentOS' });
  assert.equal(r.sites.length, 1);
  const h = r.sites[0]!.hosts[0]!;
  assert.equal(h.country, 'GB');
  assert.equal(h.bandwidth_mbps, 1000);
  assert.equal(h.admin_active, false);
  assert.equal(h.user_active, false);
  assert.deepEqual(h.categories.CentOS!.urls, ['http://m1.example.org/centos/', 'rsync://m1.example.org/centos/']);
  assert.deepEqual(r.rows[0]!.dropped.map((d) => d.column), ['speed', 'contact-tel']);
  assert.match(r.rows[1]!.errors[0]!, /site "m1\.example\.org" already came from line 2/);
});

test('bandwidth and site-name helpers', () => {
  assert.equal(parseBandwidth('100'), 100);
  assert.equal(parseBandwidth('100Mbit'), 100);
  assert.equal(parseBandwidth('1 Gbps'), 1000);
  assert.equal(parseBandwidth('10G'), 10000);
  assert.equal(parseBandwidth('T3'), undefined);
  assert.equal(parseBandwidth('0'), undefined);
  assert.equal(slugSiteName('Example Mirror Co.'), 'example-mirror-co');
});
