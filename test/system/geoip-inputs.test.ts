// GeoIP inputs in every supported format give the same answers: ip-location-db
// CSV, MaxMind GeoLite2 CSV (blocks + locations), and .mmdb files (walked by
// pipelines/build/mmdb.ts), checked against the `maxmind` package's own lookups on
// real GeoLite2 data (the @ip-location-db packages) and end to end through a build.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Reader } from 'maxmind';
import { loadAsns, loadCountries, type AsnRange, type CountryRange } from '../../pipelines/build/geoip.ts';
import { formatIp, parseIp, rangeToCidrs, type Family } from '../../pipelines/build/ip.ts';
import { mmdbNetworks } from '../../pipelines/build/mmdb.ts';
import { run as build } from '../../pipelines/stages/build.ts';
import type { Db } from '../../pipelines/core/db.ts';
import { freshDb } from '../helpers/db.ts';
import { writeMmdb } from '../helpers/mmdb-writer.ts';
import { buildContext, FIXTURE_DIR } from '../fixtures/build/context.ts';
import { loadFixture } from '../fixtures/build/registry.ts';

const PKG = path.resolve(import.meta.dirname, '../../node_modules/@ip-location-db');
const COUNTRY_CSV = [`${PKG}/geolite2-country/geolite2-country-ipv4.csv`, `${PKG}/geolite2-country/geolite2-country-ipv6.csv`];
const COUNTRY_MMDB = `${PKG}/geolite2-country-mmdb/geolite2-country.mmdb`;
const ASN_CSV = [`${PKG}/asn/asn-ipv4.csv`, `${PKG}/asn/asn-ipv6.csv`];

let seed = 20261201;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const randBig = (max: bigint) => {
  let v = 0n;
  for (let i = 0; i < 5; i++) v = (v << 32n) | BigInt(Math.floor(rnd() * 2 ** 32));
  return v % (max + 1n);
};

/** A naive lookup over ranges (sorted once, binary search); first match wins like the partition. */
function lookup<T extends { family: Family; start: bigint; end: bigint }>(ranges: readonly T[]) {
  const by = new Map<Family, T[]>([4, 6].map((f) => [f as Family, ranges.filter((r) => r.family === f).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))]));
  return (family: Family, v: bigint): T | null => {
    const rs = by.get(family)!;
    let lo = 0;
    let hi = rs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (rs[mid]!.end < v) lo = mid + 1;
      else if (rs[mid]!.start > v) hi = mid - 1;
      else return rs[mid]!;
    }
    return null;
  };
}

/** Sample addresses: range boundaries ±1, points inside ranges, and random ones. */
function samples(ranges: ReadonlyArray<{ family: Family; start: bigint; end: bigint }>, n: number): Array<{ family: Family; v: bigint }> {
  const out: Array<{ family: Family; v: bigint }> = [];
  const max = (f: Family) => (f === 4 ? (1n << 32n) - 1n : (1n << 128n) - 1n);
  for (let i = 0; i < n; i++) {
    const r = ranges[Math.floor(rnd() * ranges.length)]!;
    const m = max(r.family);
    for (const v of [r.start - 1n, r.start, r.end, r.end + 1n, r.start + randBig(r.end - r.start)]) if (v >= 0n && v <= m) out.push({ family: r.family, v });
  }
  for (let i = 0; i < n; i++) out.push({ family: 4, v: randBig(max(4)) }, { family: 6, v: (0x2n << 124n) | randBig((1n << 125n) - 1n) });
  return out;
}

/** Ranges with adjacent equal values merged, per family: comparable however a source splits them. */
function merged<T extends { family: Family; start: bigint; end: bigint }>(ranges: readonly T[], key: (r: T) => string | number): string[] {
  const sorted = [...ranges].sort((a, b) => a.family - b.family || (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: Array<{ family: Family; start: bigint; end: bigint; k: string | number }> = [];
  for (const r of sorted) {
    const last = out.at(-1);
    if (last && last.family === r.family && last.end + 1n === r.start && last.k === key(r)) last.end = r.end;
    else out.push({ family: r.family, start: r.start, end: r.end, k: key(r) });
  }
  return out.map((r) => `${formatIp(r.start, r.family)}-${formatIp(r.end, r.family)} ${r.k}`);
}

describe('GeoLite2 country: mmdb walked = CSV = the maxmind package lookups', () => {
  let csv: CountryRange[];
  let mmdb: CountryRange[];
  before(() => {
    csv = loadCountries(COUNTRY_CSV);
    mmdb = loadCountries([COUNTRY_MMDB]);
  });

  test('the same networks', () => {
    assert.ok(csv.length > 500_000, `${csv.length} CSV ranges`);
    assert.equal(mmdb.length, csv.length);
    assert.equal(mmdb.filter((r) => r.family === 4).length, csv.filter((r) => r.family === 4).length);
    const key = (r: CountryRange) => `${r.family} ${r.start} ${r.end} ${r.country}`;
    const csvKeys = new Set(csv.map(key));
    const missing = mmdb.filter((r) => !csvKeys.has(key(r)));
    assert.deepEqual(missing.slice(0, 3), []);
  });

  test('the same country for sampled IPv4 and IPv6 addresses, also by Reader.get', () => {
    const reader = new Reader<Record<string, unknown>>(fs.readFileSync(COUNTRY_MMDB));
    const inCsv = lookup(csv);
    const inMmdb = lookup(mmdb);
    const pts = samples(csv, 3000);
    let v6 = 0;
    let found = 0;
    for (const { family, v } of pts) {
      const text = formatIp(v, family);
      const want = (reader.get(text)?.country_code as string | undefined) ?? null;
      assert.equal(inMmdb(family, v)?.country ?? null, want, `mmdb walk at ${text}`);
      assert.equal(inCsv(family, v)?.country ?? null, want, `CSV at ${text}`);
      if (family === 6) v6++;
      if (want) found++;
    }
    assert.ok(v6 > 3000 && found > 8000, `${pts.length} samples, ${v6} IPv6, ${found} with a country`);
  });

  test('the IPv4-only mmdb (ip_version 4 tree) gives the same IPv4 networks', () => {
    const v4 = loadCountries([`${PKG}/geolite2-country-mmdb/geolite2-country-ipv4.mmdb`]);
    assert.deepEqual(merged(v4, (r) => r.country), merged(csv.filter((r) => r.family === 4), (r) => r.country));
  });
});

describe('MaxMind GeoLite2 CSV (blocks + locations) and ASN inputs', () => {
  let tmp = '';
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-geoip-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** Every nth row of a start,end,value CSV, as ranges. */
  const every = (file: string, n: number) =>
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((l, i) => l && i % n === 0)
      .map((l) => {
        const [a, b, v] = l.split(',', 3) as [string, string, string];
        const s = parseIp(a)!;
        return { family: s.family, start: s.value, end: parseIp(b)!.value, value: v };
      });

  test('country blocks + locations = the same rows as ip-location-db CSV', () => {
    const rows = [...every(COUNTRY_CSV[0]!, 40), ...every(COUNTRY_CSV[1]!, 40)];
    const codes = [...new Set(rows.map((r) => r.value))].sort();
    const geoname = new Map(codes.map((cc, i) => [cc, String(6_000_000 + i)]));
    // Locations: a BOM, quoted names with commas, continent rows without a country.
    fs.writeFileSync(
      path.join(tmp, 'GeoLite2-Country-Locations-en.csv'),
      '\uFEFFgeoname_id,locale_code,continent_code,continent_name,country_iso_code,country_name,is_in_european_union\n' +
        '6255148,en,EU,"Europe, the continent",,,0\n' +
        codes.map((cc) => `${geoname.get(cc)},en,XX,"Somewhere, far",${cc},"Land of ${cc}, ""the"" country",0`).join('\n') +
        '\n',
    );
    const expected: CountryRange[] = [];
    const blocks = { 4: [] as string[], 6: [] as string[] };
    rows.forEach((r, i) => {
      for (const cidr of rangeToCidrs(r.start, r.end, r.family)) {
        // Some networks name only the registered country (MaxMind leaves geoname_id empty); a few only a continent.
        const g = geoname.get(r.value)!;
        const line = i % 11 === 0 ? `${cidr},6255148,,,0,0,0` : i % 7 === 0 ? `${cidr},,${g},,0,0,0` : `${cidr},${g},${g},,0,0,0`;
        blocks[r.family].push(line);
      }
      if (i % 11 !== 0) expected.push({ family: r.family, start: r.start, end: r.end, country: r.value });
    });
    const header = 'network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,is_anonymous_proxy,is_satellite_provider,is_anycast\n';
    const b4 = path.join(tmp, 'GeoLite2-Country-Blocks-IPv4.csv');
    const b6 = path.join(tmp, 'GeoLite2-Country-Blocks-IPv6.csv');
    fs.writeFileSync(b4, header + blocks[4].join('\n') + '\n');
    fs.writeFileSync(b6, header + blocks[6].join('\n') + '\n');

    // The locations file is found beside the blocks, or named by geoip.countryLocations.
    const got = loadCountries([b4, b6]);
    assert.deepEqual(merged(got, (r) => r.country), merged(expected, (r) => r.country));
    assert.ok(expected.length > 10_000 && blocks[6].length > 3000, `${expected.length} ranges, ${blocks[6].length} IPv6 blocks`);
    const elsewhere = path.join(tmp, 'loc.csv');
    fs.copyFileSync(path.join(tmp, 'GeoLite2-Country-Locations-en.csv'), elsewhere);
    const moved = path.join(tmp, 'blocks-v4.csv');
    fs.copyFileSync(b4, moved);
    assert.equal(loadCountries([moved], { locations: elsewhere }).length, got.filter((r) => r.family === 4).length);
    assert.throws(() => loadCountries([moved]), /geoip\.country: .*blocks-v4\.csv is a MaxMind blocks CSV .*set geoip\.countryLocations/);
    const noColumn = path.join(tmp, 'GeoLite2-City-Blocks-IPv4.csv');
    fs.writeFileSync(noColumn, 'network,postal_code\n1.0.0.0/24,123\n');
    fs.copyFileSync(elsewhere, path.join(tmp, 'GeoLite2-City-Locations-en.csv'));
    assert.throws(() => loadCountries([noColumn]), /geoip\.country: .*GeoLite2-City-Blocks-IPv4\.csv: the header has no "geoname_id" column/);
  });

  test('ASN: MaxMind ASN CSV and an ASN mmdb give the ip-location-db CSV ranges of the wanted ASNs', () => {
    const rows = [...every(ASN_CSV[0]!, 30), ...every(ASN_CSV[1]!, 30)];
    const wanted = new Set(rows.filter((_, i) => i % 9 === 0).map((r) => Number(r.value)));
    const src = path.join(tmp, 'asn-range.csv');
    fs.writeFileSync(src, rows.map((r) => `${formatIp(r.start, r.family)},${formatIp(r.end, r.family)},${r.value},"Org ${r.value}, Inc."`).join('\n') + '\n');
    const expected = loadAsns([src], wanted);
    assert.ok(expected.length > 100 && wanted.size > 50, `${expected.length} ranges of ${wanted.size} ASNs`);

    const networks = rows.flatMap((r) => rangeToCidrs(r.start, r.end, r.family).map((cidr) => ({ cidr, asn: Number(r.value) })));
    const mmCsv = path.join(tmp, 'GeoLite2-ASN-Blocks-IPv4.csv');
    fs.writeFileSync(mmCsv, 'network,autonomous_system_number,autonomous_system_organization\n' + networks.map((n) => `${n.cidr},${n.asn},"Org ${n.asn}, Inc."`).join('\n') + '\n');
    const key = (r: AsnRange) => r.asn;
    assert.deepEqual(merged(loadAsns([mmCsv], wanted), key), merged(expected, key));

    for (const recordSize of [24, 28, 32] as const) {
      const db = writeMmdb(
        networks.map((n) => ({ network: n.cidr, record: { autonomous_system_number: n.asn, autonomous_system_organization: `Org ${n.asn}, Inc.` } })),
        { recordSize, aliases: true, databaseType: 'GeoLite2-ASN' },
      );
      // The writer is checked by the maxmind package's reader, aliases included.
      const reader = new Reader<Record<string, unknown>>(db);
      const some = expected.find((r) => r.family === 4)!;
      const v4 = formatIp(some.start, 4);
      assert.equal(reader.get(v4)?.autonomous_system_number, some.asn);
      assert.equal(reader.get(`::ffff:${v4}`)?.autonomous_system_number, some.asn, 'the ::ffff:0:0/96 alias');
      const file = path.join(tmp, `asn-${recordSize}.mmdb`);
      fs.writeFileSync(file, db);
      const got = loadAsns([file], wanted);
      assert.deepEqual(merged(got, key), merged(expected, key), `record size ${recordSize}`);
      // The aliases are IPv4 clients, not IPv6 ranges of their own.
      const aliased = (r: AsnRange) => r.family === 6 && (r.start >> 32n === 0xffffn || r.start >> 112n === 0x2002n);
      assert.equal(got.filter(aliased).length, 0);
      // Without a filter every network comes back.
      const all = mmdbNetworks(db, file, { same: (a, b) => a.autonomous_system_number === b.autonomous_system_number });
      assert.equal(new Set(all.map((n) => n.record.autonomous_system_number)).size, new Set(rows.map((r) => r.value)).size);
    }
    assert.throws(() => loadCountries([path.join(tmp, 'asn-28.mmdb')]), /geoip\.country: .*asn-28\.mmdb: no record has a country .*not a country database\?/);
    assert.throws(() => loadAsns([COUNTRY_MMDB], new Set([680])), /geoip\.asn: .*no record has an autonomous_system_number/);
    fs.writeFileSync(path.join(tmp, 'junk.mmdb'), 'not a database');
    assert.throws(() => loadCountries([path.join(tmp, 'junk.mmdb')]), /junk\.mmdb: not a MaxMind DB file/);
  });
});

describe('build with MaxMind inputs', () => {
  let tmp = '';
  let db: Db;
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-geoip-build-'));
    db = (await freshDb(undefined, 'pglite')).db;
    await loadFixture(db);
  });
  after(async () => {
    await db.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the fixture GeoIP as GeoLite2 CSV and as mmdb builds the same lists as the ip-location-db CSV', async () => {
    const rows = (f: string) =>
      fs
        .readFileSync(path.join(FIXTURE_DIR, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const [a, b, v] = l.split(',', 3) as [string, string, string];
          const s = parseIp(a)!;
          return { family: s.family, cidrs: rangeToCidrs(s.value, parseIp(b)!.value, s.family), value: v };
        });
    const countries = rows('geo-country.csv');
    const asns = rows('geo-asn.csv');
    const codes = [...new Set(countries.map((r) => r.value))];
    const dir = path.join(tmp, 'maxmind');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'locations.csv'), 'geoname_id,locale_code,continent_code,continent_name,country_iso_code,country_name,is_in_european_union\n' + codes.map((c, i) => `${100 + i},en,XX,X,${c},"${c}, a country",0`).join('\n') + '\n');
    const blocks = (fam: Family) =>
      'network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,is_anonymous_proxy,is_satellite_provider\n' +
      countries.filter((r) => r.family === fam).flatMap((r) => r.cidrs.map((c) => `${c},${100 + codes.indexOf(r.value)},,,0,0`)).join('\n') + '\n';
    fs.writeFileSync(path.join(dir, 'GeoLite2-Country-Blocks-IPv4.csv'), blocks(4));
    fs.writeFileSync(path.join(dir, 'GeoLite2-Country-Blocks-IPv6.csv'), blocks(6));
    fs.writeFileSync(path.join(dir, 'GeoLite2-ASN-Blocks-IPv4.csv'), 'network,autonomous_system_number,autonomous_system_organization\n' + asns.flatMap((r) => r.cidrs.map((c) => `${c},${r.value.split(',')[0]},"x, y"`)).join('\n') + '\n');
    const country = writeMmdb(countries.flatMap((r) => r.cidrs.map((c) => ({ network: c, record: { country: { iso_code: r.value }, registered_country: { iso_code: r.value } } }))), { aliases: true });
    const asn = writeMmdb(asns.flatMap((r) => r.cidrs.map((c) => ({ network: c, record: { autonomous_system_number: Number(r.value.split(',')[0]) } }))), { recordSize: 24 });
    fs.writeFileSync(path.join(dir, 'country.mmdb'), country);
    fs.writeFileSync(path.join(dir, 'asn.mmdb'), asn);

    const research = path.join(FIXTURE_DIR, 'research.txt');
    await build(buildContext(db, tmp, {}, 'csv'));
    await build(
      buildContext(db, tmp, {
        geoip: {
          country: [path.join(dir, 'GeoLite2-Country-Blocks-IPv4.csv'), path.join(dir, 'GeoLite2-Country-Blocks-IPv6.csv')],
          countryLocations: path.join(dir, 'locations.csv'),
          asn: [path.join(dir, 'GeoLite2-ASN-Blocks-IPv4.csv')],
          researchPrefixes: research,
        },
      }, 'maxmind-csv'),
    );
    await build(buildContext(db, tmp, { geoip: { country: [path.join(dir, 'country.mmdb')], asn: [path.join(dir, 'asn.mmdb')], researchPrefixes: research } }, 'mmdb'));
    const http = (id: string) => fs.readFileSync(path.join(tmp, 'generations', id, 'nginx/http.d/10-lists.conf'), 'utf8');
    const index = (id: string) => fs.readFileSync(path.join(tmp, 'generations', id, 'lists/index.json'), 'utf8');
    // The ASN /25 and the IPv6 ASN network are classes of their own: the inputs were really read.
    assert.match(http('csv'), /^198\.51\.100\.0-198\.51\.100\.127 c[0-9a-z]+;$/m);
    assert.match(http('csv'), /^2001:db9::\/32 c[0-9a-z]+;$/m);
    for (const id of ['maxmind-csv', 'mmdb']) {
      assert.equal(http(id), http('csv'), `${id}: the same nginx maps`);
      assert.equal(index(id), index('csv'), `${id}: the same lists`);
    }
  });
});
