// GeoIP inputs of the partition (I/O edge): country ranges and ASN ranges,
// research-network prefixes one CIDR per line, and the country → continent table
// with redirects. Each country/ASN file is, by its content:
//   - ip-location-db CSV, no header: `start,end,CC` / `start,end,asn,org`;
//   - MaxMind GeoLite2 CSV, with a header: GeoLite2-Country-Blocks-IPv4/IPv6.csv
//     (`network,geoname_id,registered_country_geoname_id,…`, the country codes in
//     GeoLite2-Country-Locations-en.csv) / GeoLite2-ASN-Blocks-IPv4/IPv6.csv
//     (`network,autonomous_system_number,…`);
//   - a MaxMind DB (.mmdb: GeoLite2-Country, GeoLite2-ASN, ip-location-db's),
//     enumerated network by network (mmdb.ts).
import fs from 'node:fs';
import path from 'node:path';
import { continentOf } from '../core/countries.ts';
import { parseCidr, parseIp, type Family, type IpRange } from './ip.ts';
import { mmdbNetworks } from './mmdb.ts';

export interface CountryRange extends IpRange {
  country: string;
}
export interface AsnRange extends IpRange {
  asn: number;
}

export interface GeoData {
  countries: CountryRange[];
  asns: AsnRange[];
  research: IpRange[];
}

export interface CountryInputOptions {
  /** GeoLite2-Country-Locations-*.csv for MaxMind blocks CSVs (default: beside the blocks file). */
  locations?: string;
}

/** Country ranges from every file (formats above); rows with no country are unassigned space. */
export function loadCountries(files: readonly string[], opts: CountryInputOptions = {}): CountryRange[] {
  const out: CountryRange[] = [];
  for (const file of files) {
    const format = inputFormat(file, 'geoip.country');
    const ranges = format === 'mmdb' ? countryMmdb(file) : format === 'maxmind-csv' ? countryMaxmindCsv(file, opts.locations) : countryRangeCsv(file);
    for (const r of ranges) out.push(r); // not push(...ranges): hundreds of thousands of rows
  }
  return out;
}

/** ASN ranges of the wanted ASNs from every file (formats above). */
export function loadAsns(files: readonly string[], wanted: ReadonlySet<number>): AsnRange[] {
  const out: AsnRange[] = [];
  if (wanted.size === 0) return out;
  for (const file of files) {
    const format = inputFormat(file, 'geoip.asn');
    const ranges = format === 'mmdb' ? asnMmdb(file, wanted) : format === 'maxmind-csv' ? asnMaxmindCsv(file, wanted) : asnRangeCsv(file, wanted);
    for (const r of ranges) out.push(r);
  }
  return out;
}

type InputFormat = 'mmdb' | 'maxmind-csv' | 'range-csv';

function inputFormat(file: string, key: string): InputFormat {
  if (/\.mmdb$/i.test(file)) return 'mmdb';
  let head = '';
  let fd: number | null = null;
  try {
    fd = fs.openSync(file, 'r');
    const buf = Buffer.alloc(4096);
    head = buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString('latin1');
  } catch (err) {
    throw new Error(`${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
  if (head.includes('\xab\xcd\xefMaxMind.com')) return 'mmdb'; // metadata marker of a small .mmdb under another name
  return /^\uFEFF?network,/.test(head) ? 'maxmind-csv' : 'range-csv';
}

// Plain literals, not `{ ...range, country }`: a spread copy makes a slower, larger
// object (measured: 330 → 120 bytes a row, 200 → 75 MB for the full GeoLite2 tables).
// Country codes are interned: one string per code, not one per row.
const countryCodes = new Map<string, string>();
function countryRange(r: IpRange, cc: string): CountryRange {
  let code = countryCodes.get(cc);
  if (code === undefined) countryCodes.set(cc, (code = cc));
  return { family: r.family, start: r.start, end: r.end, country: code };
}
const asnRange = (r: IpRange, asn: number): AsnRange => ({ family: r.family, start: r.start, end: r.end, asn });

// ---- ip-location-db CSV: start,end,value ----------------------------------

function countryRangeCsv(file: string): CountryRange[] {
  const out: CountryRange[] = [];
  forEachCsvRow(file, (f, line) => {
    const range = rowRange(f[0], f[1], file, line);
    const cc = (f[2] ?? '').trim().toUpperCase();
    if (!/^[A-Z]{2}$/.test(cc)) return; // rows without a country (anycast, reserved) are unassigned space
    out.push(countryRange(range, cc));
  });
  return out;
}

function asnRangeCsv(file: string, wanted: ReadonlySet<number>): AsnRange[] {
  const out: AsnRange[] = [];
  forEachCsvRow(file, (f, line) => {
    const asn = Number(f[2]);
    if (!wanted.has(asn)) return;
    out.push(asnRange(rowRange(f[0], f[1], file, line), asn));
  });
  return out;
}

// ---- MaxMind GeoLite2 CSV: a header, network as CIDR ------------------------

/** Rows of a headed CSV as objects of the wanted columns; throws naming a missing column. */
function forEachHeadedRow(file: string, key: string, columns: readonly string[], fn: (row: Record<string, string>, line: number) => void): void {
  let index: number[] | null = null;
  let width = 0;
  forEachCsvRow(
    file,
    (f, line) => {
      if (!index) {
        const header = f.map((h, i) => (i === 0 ? h.replace(/^\uFEFF/, '') : h).trim());
        index = columns.map((c) => {
          const i = header.indexOf(c);
          if (i < 0) throw new Error(`${key}: ${file}: the header has no "${c}" column (found: ${header.join(',').slice(0, 200)})`);
          return i;
        });
        width = Math.max(...index) + 1;
        return;
      }
      const row: Record<string, string> = {};
      columns.forEach((c, i) => (row[c] = (f[index![i]!] ?? '').trim()));
      fn(row, line);
    },
    () => width || Infinity,
  );
}

function networkRange(network: string, file: string, line: number): IpRange {
  const c = parseCidr(network);
  if (!c || !network.includes('/')) throw new Error(`${file}:${line}: bad network ${JSON.stringify(network.slice(0, 60))}`);
  return { family: c.family, start: c.start, end: c.end };
}

function countryMaxmindCsv(file: string, locationsOpt: string | undefined): CountryRange[] {
  const locations = locationsOpt ?? path.join(path.dirname(file), path.basename(file).replace(/-Blocks-IPv[46]\.csv$/i, '-Locations-en.csv'));
  if (!locationsOpt && locations === path.join(path.dirname(file), path.basename(file))) {
    throw new Error(`geoip.country: ${file} is a MaxMind blocks CSV (network,geoname_id,…): set geoip.countryLocations to its GeoLite2-Country-Locations-en.csv`);
  }
  if (!fs.existsSync(locations)) {
    throw new Error(
      `geoip.country: ${file} is a MaxMind blocks CSV (network,geoname_id,…) whose country codes are in a locations file: ` +
        `${locations} does not exist; set geoip.countryLocations to GeoLite2-Country-Locations-en.csv`,
    );
  }
  const ccOf = new Map<string, string>();
  forEachHeadedRow(locations, 'geoip.countryLocations', ['geoname_id', 'country_iso_code'], (r) => {
    const cc = r.country_iso_code.toUpperCase();
    if (r.geoname_id && /^[A-Z]{2}$/.test(cc)) ccOf.set(r.geoname_id, cc); // continent-only rows have no country
  });
  const out: CountryRange[] = [];
  forEachHeadedRow(file, 'geoip.country', ['network', 'geoname_id', 'registered_country_geoname_id'], (r, line) => {
    // Like MaxMind's own readers: the country, else the registered country.
    const cc = ccOf.get(r.geoname_id) ?? ccOf.get(r.registered_country_geoname_id);
    if (!cc) return;
    out.push(countryRange(networkRange(r.network, file, line), cc));
  });
  return out;
}

function asnMaxmindCsv(file: string, wanted: ReadonlySet<number>): AsnRange[] {
  const out: AsnRange[] = [];
  forEachHeadedRow(file, 'geoip.asn', ['network', 'autonomous_system_number'], (r, line) => {
    const asn = Number(r.autonomous_system_number);
    if (!wanted.has(asn)) return;
    out.push(asnRange(networkRange(r.network, file, line), asn));
  });
  return out;
}

// ---- MaxMind DB -----------------------------------------------------------

function readMmdb(file: string, key: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Error(`${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

const isoCode = (v: unknown): string | null => {
  const code = v && typeof v === 'object' ? (v as { iso_code?: unknown }).iso_code : undefined;
  return typeof code === 'string' && /^[A-Za-z]{2}$/.test(code) ? code.toUpperCase() : null;
};

/** GeoLite2-Country's `country.iso_code` (else `registered_country`), or ip-location-db's `country_code`. */
export function mmdbCountry(rec: Record<string, unknown>): string | null {
  const flat = typeof rec.country_code === 'string' && /^[A-Za-z]{2}$/.test(rec.country_code) ? rec.country_code.toUpperCase() : null;
  return isoCode(rec.country) ?? isoCode(rec.registered_country) ?? flat;
}

function countryMmdb(file: string): CountryRange[] {
  const buf = readMmdb(file, 'geoip.country');
  let records = 0;
  const nets = mmdbNetworks(buf, `geoip.country: ${file}`, {
    keep: (r) => (records++, mmdbCountry(r) !== null),
    same: (a, b) => mmdbCountry(a) === mmdbCountry(b),
  });
  if (records > 0 && nets.length === 0) throw new Error(`geoip.country: ${file}: no record has a country (country.iso_code or country_code): not a country database?`);
  return nets.map((n) => ({ family: n.family, start: n.start, end: n.end, country: mmdbCountry(n.record)! }));
}

const mmdbAsn = (rec: Record<string, unknown>): number | null => {
  const v = rec.autonomous_system_number ?? rec.asn;
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : null;
};

function asnMmdb(file: string, wanted: ReadonlySet<number>): AsnRange[] {
  const buf = readMmdb(file, 'geoip.asn');
  let withAsn = 0;
  let records = 0;
  const nets = mmdbNetworks(buf, `geoip.asn: ${file}`, {
    keep: (r) => {
      records++;
      const asn = mmdbAsn(r);
      if (asn !== null) withAsn++;
      return asn !== null && wanted.has(asn);
    },
    same: (a, b) => mmdbAsn(a) === mmdbAsn(b),
  });
  if (records > 0 && withAsn === 0) throw new Error(`geoip.asn: ${file}: no record has an autonomous_system_number: not an ASN database?`);
  return nets.map((n) => ({ family: n.family, start: n.start, end: n.end, asn: mmdbAsn(n.record)! }));
}

/** One CIDR per line; `#` comments and blank lines ignored. */
export function loadPrefixList(file: string | undefined): IpRange[] {
  if (!file) return [];
  const out: IpRange[] = [];
  const text = readText(file, 'geoip.researchPrefixes');
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const c = parseCidr(line.split(/\s+/)[0]);
    if (!c) throw new Error(`geoip.researchPrefixes: ${file}:${i + 1}: not a CIDR: ${JSON.stringify(line.slice(0, 60))}`);
    out.push({ family: c.family, start: c.start, end: c.end });
  });
  return out;
}

function rowRange(a: string | undefined, b: string | undefined, file: string, line: number): IpRange {
  const s = parseIp((a ?? '').trim());
  const e = parseIp((b ?? '').trim());
  if (!s || !e || s.family !== e.family || e.value < s.value) {
    throw new Error(`${file}:${line}: bad range ${JSON.stringify(`${a},${b}`.slice(0, 80))}`);
  }
  return { family: s.family, start: s.value, end: e.value };
}

/**
 * Calls fn with the first `width()` fields of every row (default 3: the org name of
 * `start,end,asn,org` may hold commas); quoted fields are unquoted.
 */
function forEachCsvRow(file: string, fn: (fields: string[], line: number) => void, width: () => number = () => 3): void {
  const text = readText(file, 'geoip');
  let line = 0;
  let pos = 0;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    const row = text.slice(pos, nl).replace(/\r$/, '');
    pos = nl + 1;
    line++;
    if (!row || row.startsWith('#')) continue;
    const n = width();
    fn(row.includes('"') ? splitQuoted(row, n) : row.split(',', n === Infinity ? undefined : n), line);
  }
}

/** The first n fields of a CSV row with "quoted" fields ("" is a quote). */
function splitQuoted(row: string, n: number): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= row.length && out.length < n) {
    if (row[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = row.indexOf('"', i);
        if (q < 0) {
          v += row.slice(i);
          i = row.length;
          break;
        }
        v += row.slice(i, q);
        if (row[q + 1] === '"') {
          v += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      out.push(v);
      const comma = row.indexOf(',', i);
      i = comma < 0 ? row.length + 1 : comma + 1;
    } else {
      const comma = row.indexOf(',', i);
      out.push(row.slice(i, comma < 0 ? row.length : comma));
      i = comma < 0 ? row.length + 1 : comma + 1;
    }
  }
  return out;
}

function readText(file: string, key: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

/** Continent of a country after CountryContinentRedirect; undefined for unknown codes. */
export function continentFor(country: string | null, redirects: ReadonlyMap<string, string>): string | undefined {
  if (!country) return undefined;
  return redirects.get(country) ?? continentOf(country);
}

export type { Family };
