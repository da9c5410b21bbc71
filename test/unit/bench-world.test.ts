// Pure parts of the benchmark world and harness: the master plan's shape and rule
// mapping, the network plan on a small hand-made GeoIP table, netblock alignment,
// the PRNG's determinism, and reading wrk's output.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Address4, Address6 } from 'ip-address';
import { parseWrk, verdict } from '../../bench/harness.ts';
import type { GeoTables } from '../../pipelines/bench/geo.ts';
import { v4BlockIn, v6BlockIn, v6ToString } from '../../pipelines/bench/geo.ts';
import { baseRepoCount, planMaster, repoPackages } from '../../pipelines/bench/master-plan.ts';
import { planNetwork } from '../../pipelines/bench/network-plan.ts';
import { Rng } from '../../pipelines/bench/rng.ts';
import { normalizeNetblock } from '../../pipelines/registry/schema.ts';

describe('master plan', () => {
  test('scale 1 is Fedora-sized: ~1,200 unique repo/arch pairs over four categories', () => {
    const plan = planMaster(1, 1);
    assert.equal(plan.repos.length, baseRepoCount());
    assert.ok(plan.repos.length > 1100 && plan.repos.length < 1300, String(plan.repos.length));
    assert.equal(new Set(plan.repos.map((r) => `${r.prefix}/${r.arch}`)).size, plan.repos.length);
    assert.deepEqual([...new Set(plan.repos.map((r) => r.category))].sort(), ['Fedora Archive', 'Fedora EPEL', 'Fedora Linux', 'Fedora Secondary']);
    for (const a of ['x86_64', 'aarch64', 'ppc64le', 's390x', 'source', 'riscv64', 'i386']) assert.ok(plan.repos.some((r) => r.arch === a), a);
    for (const p of ['rawhide', 'fedora-42', 'updates-released-f42', 'updates-testing-f42', 'fedora-debug-42', 'epel-9', 'epel-10.1', 'fedora-server-42']) assert.ok(plan.repos.some((r) => r.prefix === p), p);
  });

  test('about 400,000 files at scale 1 (packages + repodata + images)', () => {
    const plan = planMaster(1, 1);
    const packages = plan.repos.reduce((n, r) => n + r.packages, 0);
    const files = packages + plan.repos.length * 4 + plan.isoDirs.reduce((n, d) => n + d.images.length + 1, 0);
    assert.ok(Math.abs(files - 400_000) < 20_000, String(files));
  });

  test('every repository path maps, by the first matching config rule, to its own repo/arch', () => {
    const plan = planMaster(2, 3);
    for (const r of plan.repos) {
      const cat = plan.categories.find((c) => c.name === r.category)!;
      const rule = cat.rules.find((x) => new RegExp(x.match).test(r.path));
      assert.ok(rule, `${r.category}: ${r.path}`);
      const m = new RegExp(rule.match).exec(r.path)!;
      const sub = (t: string) => t.replace(/\$(\d)/g, (_, i: string) => m[Number(i)] ?? '');
      assert.deepEqual([sub(rule.repo), sub(rule.arch)], [r.prefix, r.arch], `${r.category}: ${r.path}`);
    }
  });

  test('scales truncate or extend the repositories; packages are deterministic per repo', () => {
    assert.ok(planMaster(0.01, 1).repos.length >= 8);
    assert.equal(planMaster(4, 1).repos.length, Math.round(baseRepoCount() * 4));
    const r = planMaster(1, 5).repos[3]!;
    assert.deepEqual(repoPackages(r, 5), repoPackages(r, 5));
    assert.notDeepEqual(repoPackages(r, 5).map((p) => p.file), repoPackages(r, 6).map((p) => p.file));
    assert.equal(new Set(repoPackages(r, 5).map((p) => p.file)).size, repoPackages(r, 5).length);
  });
});

// A hand-made GeoIP table: two countries with one IPv4 and one IPv6 range each.
const GEO: GeoTables = {
  v4: new Map([
    ['US', [[0x0a000000, 0x0affffff] as [number, number]]],
    ['DE', [[0xc0a80000, 0xc0a8ffff] as [number, number]]],
  ]),
  v6: new Map([
    ['US', [[0x20010db8n << 96n, (0x20010db8n << 96n) + (1n << 96n) - 1n] as [bigint, bigint]]],
    ['DE', [[0x2a000000n << 96n, (0x2a000000n << 96n) + (1n << 96n) - 1n] as [bigint, bigint]]],
  ]),
  asns: new Map([
    ['US', [{ asn: 64500, start: 0x0a000000, end: 0x0a00ffff }]],
    ['DE', [{ asn: 64501, start: 0xc0a80000, end: 0xc0a8ffff }]],
  ]),
  files: { countryV4: 'c4.csv', countryV6: 'c6.csv', asnV4: 'a4.csv', asnV6: 'a6.csv' },
};

describe('network plan', () => {
  const master = planMaster(0.2, 1);
  const net = planNetwork(0.2, 1, master, GEO);
  const hosts = net.sites.flatMap((s) => s.hosts);

  test('counts follow the scale: 450/150 hosts, 2,000 netblocks, 100 asn_clients, 30 Internet2 per 1', () => {
    assert.equal(net.counts.publicHosts, 90);
    assert.equal(net.counts.privateHosts, 30);
    assert.equal(net.counts.netblocks, 400);
    assert.equal(net.counts.asnClientHosts, 20);
    assert.equal(net.counts.internet2Hosts, 6);
    assert.ok(hosts.filter((h) => h.internet2).every((h) => h.country === 'US'));
  });

  test('netblocks are normalized CIDRs inside the host country ranges; private hosts always have some', () => {
    for (const h of hosts) {
      if (h.private) assert.ok(h.netblocks.length > 0, h.name);
      for (const nb of h.netblocks) {
        assert.equal(normalizeNetblock(nb).value, nb, `${nb} is not normalized`);
        if (nb.includes(':')) {
          const start = BigInt(`0x${new Address6(nb).startAddress().canonicalForm().replace(/:/g, '')}`);
          const [lo, hi] = GEO.v6.get(h.country)![0]!;
          assert.ok(start >= lo && start <= hi, `${nb} outside ${h.country}`);
        } else {
          const start = Number(new Address4(nb).startAddress().bigInt());
          const [lo, hi] = GEO.v4.get(h.country)![0]!;
          assert.ok(start >= lo && start <= hi, `${nb} outside ${h.country}`);
        }
      }
    }
  });

  test('crawl state has a freshness spread and rows only for categories a host carries', () => {
    const states = new Set(net.crawl.hosts.map((h) => h.freshness));
    for (const s of ['fresh', 'behind-one', 'dead']) assert.ok(states.has(s as never), s);
    const carried = new Set(hosts.flatMap((h) => Object.keys(h.categories).map((c) => `${h.name}\0${c}`)));
    for (const [host, cat] of net.crawl.dirs) assert.ok(carried.has(`${host}\0${cat}`));
    const dead = new Set(net.crawl.hosts.filter((h) => h.freshness === 'dead').map((h) => h.host));
    assert.ok(net.crawl.dirs.filter(([h]) => dead.has(h)).every(([, , , up]) => up === 0));
  });

  test('same seed, same network', () => {
    assert.deepEqual(planNetwork(0.2, 1, master, GEO), net);
    assert.notDeepEqual(planNetwork(0.2, 2, master, GEO).sites, net.sites);
  });
});

describe('helpers', () => {
  test('aligned blocks stay inside the range', () => {
    const b = v4BlockIn(0x0a000100, 0x0a0003ff, 16, 0.99);
    assert.ok(b.first >= 0x0a000100 && b.last <= 0x0a0003ff && b.first % (b.last - b.first + 1) === 0, b.cidr);
    assert.equal(v6ToString(0x20010db8n << 96n), '2001:db8::');
    assert.match(v6BlockIn(0x20010db8n << 96n, (0x20010db8n << 96n) + (1n << 80n) - 1n, 32, 0.5), /^2001:db8:[0-9a-f:]*\/48$/);
  });

  test('the PRNG is deterministic and forks independent streams', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    assert.deepEqual(Array.from({ length: 5 }, () => a.uint32()), Array.from({ length: 5 }, () => b.uint32()));
    assert.notEqual(new Rng(42).fork('x').uint32(), new Rng(42).fork('y').uint32());
  });

  test('wrk output is read, including non-2xx answers and latency percentiles', () => {
    const out = `Running 2s test @ http://127.0.0.1:8080
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.01ms  812.44us  14.94ms   87.03%
  Latency Distribution
     50%    1.86ms
     75%    2.20ms
     90%    2.74ms
     99%  512.00us
  27184 requests in 2.00s, 99.93MB read
  Non-2xx or 3xx responses: 12
Requests/sec:  13585.27
Transfer/sec:     49.94MB
`;
    const r = parseWrk(out);
    assert.equal(r.requestsPerSec, 13585.27);
    assert.equal(r.requests, 27184);
    assert.equal(r.non2xx, 12);
    assert.equal(r.latencyP50Ms, 1.86);
    assert.equal(r.latencyP99Ms, 0.512);
    assert.throws(() => parseWrk('garbage'), /cannot read wrk output/);
  });

  test('targets: <=, >= and ≈ (within 25%)', () => {
    const f = (value: number, op: '<=' | '>=' | '≈', t: number) => verdict({ benchmark: 'b', name: 'n', value, unit: '', target: { op, value: t } });
    assert.equal(f(1, '<=', 2), 'ok');
    assert.equal(f(3, '<=', 2), 'MISS');
    assert.equal(f(3, '>=', 2), 'ok');
    assert.equal(f(1100, '≈', 1200), 'ok');
    assert.equal(f(700, '≈', 1200), 'MISS');
  });
});
