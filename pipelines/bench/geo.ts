// Reads the ip-location-db CSVs shipped as npm packages (GeoLite2 country ranges and
// the ASN table) into the few per-country tables the synthetic registry draws from:
// netblocks inside the host's real country ranges, ASNs announced in that country.
import fs from 'node:fs';
import path from 'node:path';

export interface GeoTables {
  /** IPv4 ranges [start, end] per country, in file order. */
  v4: Map<string, Array<[number, number]>>;
  /** IPv6 ranges per country (BigInt), at most a few hundred per country. */
  v6: Map<string, Array<[bigint, bigint]>>;
  /** ASNs whose first IPv4 prefix lies in the country, with that prefix range. */
  asns: Map<string, Array<{ asn: number; start: number; end: number }>>;
  /** The CSV files read, for the generated config. */
  files: { countryV4: string; countryV6: string; asnV4: string; asnV6: string };
}

export function geoFiles(repoRoot: string): GeoTables['files'] {
  const nm = path.join(repoRoot, 'node_modules', '@ip-location-db');
  return {
    countryV4: path.join(nm, 'geolite2-country', 'geolite2-country-ipv4.csv'),
    countryV6: path.join(nm, 'geolite2-country', 'geolite2-country-ipv6.csv'),
    asnV4: path.join(nm, 'asn', 'asn-ipv4.csv'),
    asnV6: path.join(nm, 'asn', 'asn-ipv6.csv'),
  };
}

const V6_PER_COUNTRY = 400;
const ASNS_PER_COUNTRY = 300;

/** Loads ranges for `countries` only; the numeric "-num" twins of the CSVs parse fastest. */
export function loadGeo(repoRoot: string, countries: readonly string[]): GeoTables {
  const files = geoFiles(repoRoot);
  const want = new Set(countries);
  const v4 = new Map<string, Array<[number, number]>>();
  const all4: Array<[number, number, string]> = [];
  for (const line of readLines(files.countryV4.replace(/\.csv$/, '-num.csv'))) {
    const [s, e, cc] = line.split(',');
    if (!cc) continue;
    const r: [number, number] = [Number(s), Number(e)];
    all4.push([r[0], r[1], cc]);
    if (!want.has(cc)) continue;
    let list = v4.get(cc);
    if (!list) v4.set(cc, (list = []));
    list.push(r);
  }
  const v6 = new Map<string, Array<[bigint, bigint]>>();
  for (const line of readLines(files.countryV6.replace(/\.csv$/, '-num.csv'))) {
    const i = line.lastIndexOf(',');
    const cc = line.slice(i + 1);
    if (!want.has(cc)) continue;
    let list = v6.get(cc);
    if (!list) v6.set(cc, (list = []));
    if (list.length >= V6_PER_COUNTRY) continue;
    const [s, e] = line.slice(0, i).split(',');
    list.push([BigInt(s!), BigInt(e!)]);
  }
  const asns = new Map<string, Array<{ asn: number; start: number; end: number }>>();
  const seen = new Set<number>();
  for (const line of readLines(files.asnV4.replace(/\.csv$/, '-num.csv'))) {
    const parts = line.split(',');
    const asn = Number(parts[2]);
    if (!Number.isInteger(asn) || seen.has(asn)) continue;
    seen.add(asn);
    const start = Number(parts[0]);
    const cc = countryOf(all4, start);
    if (!cc || !want.has(cc)) continue;
    let list = asns.get(cc);
    if (!list) asns.set(cc, (list = []));
    if (list.length < ASNS_PER_COUNTRY) list.push({ asn, start, end: Number(parts[1]) });
  }
  return { v4, v6, asns, files };
}

function countryOf(sorted: Array<[number, number, string]>, ip: number): string | undefined {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [s, e, cc] = sorted[mid]!;
    if (ip < s) hi = mid - 1;
    else if (ip > e) lo = mid + 1;
    else return cc;
  }
  return undefined;
}

function* readLines(file: string): Generator<string> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read GeoIP/ASN table ${file} (is node_modules installed? run npm ci): ${(err as Error).message}`, { cause: err });
  }
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end).trim();
    if (line) yield line;
    start = end + 1;
  }
}

/** Dotted quad of a 32-bit number. */
export function v4ToString(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Compressed-enough IPv6 text (full 8 groups, zero runs collapsed once). */
export function v6ToString(n: bigint): string {
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((n >> BigInt(i * 16)) & 0xffffn).toString(16));
  // Collapse the longest run of zero groups (RFC 5952 style).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  const head = groups.slice(0, best).join(':');
  const tail = groups.slice(best + bestLen).join(':');
  return `${head}::${tail}`;
}

/** The largest aligned block of `prefix` bits inside [start, end], at a position chosen by `r` ∈ [0,1). */
export function v4BlockIn(start: number, end: number, prefix: number, r: number): { cidr: string; first: number; last: number } {
  let p = prefix;
  while (p < 32 && 2 ** (32 - p) > end - start + 1) p++;
  for (; p <= 32; p++) {
    const size = 2 ** (32 - p);
    const firstAligned = Math.ceil(start / size) * size;
    const slots = Math.floor((end + 1 - firstAligned) / size);
    if (slots >= 1) {
      const first = firstAligned + Math.floor(r * slots) * size;
      return { cidr: `${v4ToString(first)}/${p}`, first, last: first + size - 1 };
    }
  }
  return { cidr: `${v4ToString(start)}/32`, first: start, last: start };
}

export function v6BlockIn(start: bigint, end: bigint, prefix: number, r: number): string {
  for (let p = prefix; p <= 128; p++) {
    const size = 1n << BigInt(128 - p);
    const firstAligned = ((start + size - 1n) / size) * size;
    if (firstAligned + size - 1n > end) continue;
    const slots = (end + 1n - firstAligned) / size;
    const pickSlot = BigInt(Math.floor(r * Number(slots > 1_000_000n ? 1_000_000n : slots)));
    const first = firstAligned + pickSlot * size;
    return `${v6ToString(first)}/${p}`;
  }
  return `${v6ToString(start)}/128`;
}
