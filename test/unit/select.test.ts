// Selection against a naive reference written independently from MirrorManager's
// rules (DESIGN.md "Selection"), over random registries and clients.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { NetblockRange } from '../../pipelines/build/partition.ts';
import { select, type ClientQuery, type SelectHost, type SelectWorld } from '../../pipelines/build/select.ts';

const CONTINENT: Record<string, string> = { US: 'NA', CA: 'NA', MX: 'NA', DE: 'EU', FR: 'EU', IL: 'EU', JP: 'AS', CN: 'AS' };
const CCS = Object.keys(CONTINENT);

function world(hosts: SelectHost[], netblocks: NetblockRange[], minimum: number): SelectWorld {
  return {
    hosts: new Map(hosts.map((h) => [h.id, h])),
    netblocks: new Map(netblocks.map((n) => [n.id, n])),
    continentOf: (cc) => CONTINENT[cc],
    countriesOf: (c) => CCS.filter((cc) => CONTINENT[cc] === c).sort(),
    minimum,
  };
}

interface RefResult {
  groups: Array<{ kind: string; hosts: number[] }>;
  header: string;
}

// The reference: classify each host into the first group that takes it.
function reference(hosts: SelectHost[], netblocks: NetblockRange[], minimum: number, eligible: Set<number>, q: ClientQuery): RefResult {
  const usable = hosts.filter((h) => eligible.has(h.id) && (q.family === 4 ? h.reachable4 : h.reachable6));
  const isPublic = (h: SelectHost) => !h.private;
  const allowedFor = (cc: string | null) => (h: SelectHost) => cc === null || h.countriesAllowed.length === 0 || h.countriesAllowed.includes(cc);
  const groups: Array<{ kind: string; hosts: number[] }> = [];
  const taken = new Set<number>();
  let header = '';
  const add = (kind: string, hs: SelectHost[]) => {
    const ids = [...new Set(hs.map((h) => h.id))].filter((id) => !taken.has(id)).sort((a, b) => a - b);
    ids.forEach((id) => taken.add(id));
    if (ids.length) groups.push({ kind, hosts: ids });
  };
  const countryHeader = (cc: string) => (usable.some((h) => isPublic(h) && h.country === cc) ? `country = ${cc} ` : '');
  if (!q.requested) {
    const matching = netblocks.filter((n) => q.netblocks.includes(n.id) && usable.some((h) => h.id === n.hostId));
    if (matching.length) header += 'Using preferred netblock ';
    for (const len of [...new Set(matching.map((n) => n.prefix))].sort((a, b) => b - a)) {
      add('netblock', usable.filter((h) => matching.some((n) => n.prefix === len && n.hostId === h.id)));
    }
    const asnHosts = q.asn === null ? [] : usable.filter((h) => h.asnClients && h.asn === q.asn);
    if (asnHosts.length) header += `Using ASN ${q.asn} `;
    add('asn', asnHosts);
    const re = q.research && q.country ? usable.filter((h) => isPublic(h) && h.internet2Clients && h.country === q.country).filter(allowedFor(q.country)) : [];
    if (re.length) header += 'Using Internet2 ';
    add('research', re);
    if (q.country) {
      header += countryHeader(q.country);
      add('country', usable.filter((h) => isPublic(h) && h.country === q.country).filter(allowedFor(q.country)));
      const others = CCS.filter((cc) => cc !== q.country && CONTINENT[cc] === CONTINENT[q.country!]).sort();
      for (const cc of others) header += countryHeader(cc);
      add('continent', usable.filter((h) => isPublic(h) && h.country !== null && others.includes(h.country)).filter(allowedFor(q.country)));
    }
    if (taken.size < minimum) {
      header += 'country = global ';
      add('global', usable.filter(isPublic).filter(allowedFor(q.country)));
    }
  } else if (q.requested === 'GLOBAL') {
    header += 'country = global ';
    add('global', usable.filter(isPublic).filter(allowedFor(q.country)));
  } else {
    // country=CC or CC,CC…: their hosts together; if none at all, the other countries of their continents.
    const asked = q.requested.split(',');
    const mayServe = (h: SelectHost) => asked.some((cc) => allowedFor(cc)(h));
    const own = usable.filter((h) => isPublic(h) && h.country !== null && asked.includes(h.country));
    if (own.length) {
      for (const cc of asked) header += countryHeader(cc);
      add('country', own.filter((h) => allowedFor(h.country)(h)));
    } else {
      const others: string[] = [];
      for (const cc of asked) for (const o of CCS.filter((o) => CONTINENT[o] === CONTINENT[cc]).sort()) if (!asked.includes(o) && !others.includes(o)) others.push(o);
      for (const o of others) header += countryHeader(o);
      add('continent', usable.filter((h) => isPublic(h) && h.country !== null && others.includes(h.country)).filter(mayServe));
    }
    if (taken.size === 0) {
      header += 'country = global ';
      add('global', usable.filter(isPublic).filter(mayServe));
    }
  }
  return { groups, header };
}

const arbHost = (id: number) =>
  fc.record({
    id: fc.constant(id),
    country: fc.option(fc.constantFrom(...CCS), { freq: 6 }),
    weight: fc.integer({ min: 1, max: 10000 }),
    private: fc.integer({ min: 0, max: 6 }).map((n) => n === 0),
    asn: fc.option(fc.constantFrom(680, 2497), { freq: 2 }),
    asnClients: fc.boolean(),
    internet2Clients: fc.boolean(),
    countriesAllowed: fc.subarray(CCS, { maxLength: 2 }),
    reachable4: fc.integer({ min: 0, max: 9 }).map((n) => n > 0),
    reachable6: fc.boolean(),
  });

const arbCase = fc
  .integer({ min: 1, max: 14 })
  .chain((n) =>
    fc.record({
      hosts: fc.tuple(...Array.from({ length: n }, (_, i) => arbHost(i + 1))),
      netblocks: fc.array(fc.record({ hostId: fc.integer({ min: 1, max: n }), prefix: fc.integer({ min: 8, max: 32 }) }), { maxLength: 5 }),
      eligibleMask: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
      minimum: fc.integer({ min: 1, max: 6 }),
      q: fc.record({
        family: fc.constantFrom(4 as const, 6 as const),
        country: fc.option(fc.constantFrom(...CCS)),
        nbMask: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
        asn: fc.option(fc.constantFrom(680, 2497, 3320)),
        research: fc.boolean(),
        requested: fc.option(
          fc.oneof(
            fc.constantFrom(...CCS, 'GLOBAL'),
            fc.shuffledSubarray(CCS, { minLength: 2, maxLength: 3 }).map((l) => l.join(',')),
          ),
          { freq: 4 },
        ),
      }),
    }),
  );

test('select() equals the naive reference on random registries and clients', () => {
  fc.assert(
    fc.property(arbCase, (c) => {
      const hosts = c.hosts as SelectHost[];
      const netblocks: NetblockRange[] = c.netblocks.map((n, i) => ({ id: i + 1, hostId: n.hostId, prefix: n.prefix, family: 4, start: 0n, end: 0n }));
      const eligible = new Set(hosts.filter((_, i) => c.eligibleMask[i]).map((h) => h.id));
      const q: ClientQuery = {
        family: c.q.family,
        country: c.q.requested && c.q.requested !== 'GLOBAL' ? c.q.requested.split(',')[0]! : c.q.country,
        netblocks: netblocks.filter((_, i) => c.q.nbMask[i]).map((n) => n.id),
        asn: c.q.asn,
        research: c.q.research,
        ...(c.q.requested ? { requested: c.q.requested } : {}),
      };
      if (q.requested === 'GLOBAL') q.country = c.q.country;
      const got = select(world(hosts, netblocks, c.minimum), eligible, q);
      const want = reference(hosts, netblocks, c.minimum, eligible, q);
      assert.equal(got.header, want.header);
      assert.deepEqual(
        got.groups.map((g) => ({ kind: g.kind, hosts: [...g.hosts].sort((a, b) => a - b) })),
        want.groups,
      );
      // Canonical order inside a group: weight descending, then id.
      for (const g of got.groups) for (let i = 1; i < g.hosts.length; i++) {
        const a = hosts.find((h) => h.id === g.hosts[i - 1])!;
        const b = hosts.find((h) => h.id === g.hosts[i])!;
        assert.ok(a.weight > b.weight || (a.weight === b.weight && a.id < b.id));
      }
    }),
    { numRuns: 1500 },
  );
});

test('private hosts only through netblock or ASN; IPv6 clients only get IPv6-reachable hosts', () => {
  const h = (id: number, extra: Partial<SelectHost>): SelectHost => ({ id, country: 'US', weight: 100, private: false, asn: null, asnClients: false, internet2Clients: false, countriesAllowed: [], reachable4: true, reachable6: true, ...extra });
  const hosts = [h(1, { private: true }), h(2, {}), h(3, { reachable6: false }), h(4, { private: true, asn: 680, asnClients: true })];
  const nb: NetblockRange[] = [{ id: 1, hostId: 1, prefix: 24, family: 4, start: 0n, end: 0n }];
  const w = world(hosts, nb, 5);
  const all = new Set([1, 2, 3, 4]);
  const plain = select(w, all, { family: 4, country: 'US', netblocks: [], asn: null, research: false });
  assert.deepEqual(plain.groups.flatMap((g) => g.hosts).sort(), [2, 3]);
  const inNb = select(w, all, { family: 4, country: 'US', netblocks: [1], asn: 680, research: false });
  assert.deepEqual(inNb.groups.map((g) => [g.kind, g.hosts]), [['netblock', [1]], ['asn', [4]], ['country', [2, 3]]]);
  assert.equal(inNb.header, 'Using preferred netblock Using ASN 680 country = US country = global ');
  const v6 = select(w, all, { family: 6, country: 'US', netblocks: [], asn: null, research: false });
  assert.deepEqual(v6.groups.flatMap((g) => g.hosts), [2]);
});
