// GeoIP inputs of the partition (I/O edge): country ranges and ASN ranges in the
// ip-location-db CSV format (`start,end,CC` / `start,end,asn,org`), research-network
// prefixes one CIDR per line, and the country → continent table with redirects.
// MaxMind MMDB files cannot be enumerated through the `maxmind` package's lookup
// API, so MMDB is refused with a pointer to the CSV export (GeoLite2 ships both).
import fs from 'node:fs';
import { continentOf } from '../core/countries.ts';
import { parseCidr, parseIp, type Family, type IpRange } from './ip.ts';

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

/** Reads `start,end,CC` CSV files; rows sorted per family, overlaps resolved first-wins. */
export function loadCountryCsv(files: readonly string[]): CountryRange[] {
  const out: CountryRange[] = [];
  for (const file of files) {
    if (/\.mmdb$/i.test(file)) {
      throw new Error(`geoip.country: ${file}: MMDB files cannot be enumerated for the partition; use the GeoLite2 country CSV (ip-location-db format start,end,CC)`);
    }
    forEachCsvRow(file, (f, line) => {
      const range = rowRange(f[0], f[1], file, line);
      const cc = (f[2] ?? '').trim().toUpperCase();
      if (!/^[A-Z]{2}$/.test(cc)) return; // rows without a country (anycast, reserved) are unassigned space
      out.push({ ...range, country: cc });
    });
  }
  return out;
}

/** Reads `start,end,asn[,org]` CSV files, keeping only ranges of the wanted ASNs. */
export function loadAsnCsv(files: readonly string[], wanted: ReadonlySet<number>): AsnRange[] {
  const out: AsnRange[] = [];
  if (wanted.size === 0) return out;
  for (const file of files) {
    forEachCsvRow(file, (f, line) => {
      const asn = Number(f[2]);
      if (!wanted.has(asn)) return;
      out.push({ ...rowRange(f[0], f[1], file, line), asn });
    });
  }
  return out;
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

function forEachCsvRow(file: string, fn: (fields: string[], line: number) => void): void {
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
    // Only the first three fields matter; the org name may contain quoted commas.
    const fields = row.split(',', 3);
    fn(fields, line);
  }
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
