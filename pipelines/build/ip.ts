// IP address arithmetic over BigInt: parse, format, CIDR <-> range. Pure.

export type Family = 4 | 6;

export interface IpRange {
  family: Family;
  start: bigint;
  end: bigint;
}

const V4_MAX = (1n << 32n) - 1n;
const V6_MAX = (1n << 128n) - 1n;

export function familyMax(f: Family): bigint {
  return f === 4 ? V4_MAX : V6_MAX;
}

/** Parses a textual IPv4/IPv6 address; null when malformed. */
export function parseIp(s: string): { family: Family; value: bigint } | null {
  if (s.includes(':')) {
    const v = parseIpv6(s);
    return v === null ? null : { family: 6, value: v };
  }
  const v = parseIpv4(s);
  return v === null ? null : { family: 4, value: v };
}

export function parseIpv4(s: string): bigint | null {
  // Hand-rolled: GeoIP tables have hundreds of thousands of rows.
  let n = 0;
  let octet = -1;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46;
    if (c >= 48 && c <= 57) {
      if (++digits > 3) return null;
      octet = (octet < 0 ? 0 : octet * 10) + (c - 48);
    } else if (c === 46) {
      if (octet < 0 || octet > 255 || (digits > 1 && s.charCodeAt(i - digits) === 48)) return null;
      n = n * 256 + octet;
      octet = -1;
      digits = 0;
      dots++;
    } else return null;
  }
  return dots === 4 ? BigInt(n) : null;
}

export function parseIpv6(s: string): bigint | null {
  if (s.length < 2 || s.length > 45) return null;
  let head = s;
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (lastColon < 0) return null;
  if (s.indexOf('.', lastColon) > 0) {
    const v4 = parseIpv4(s.slice(lastColon + 1));
    if (v4 === null) return null;
    const n = Number(v4);
    tail = [Math.floor(n / 65536), n % 65536];
    head = s.slice(0, lastColon + 1);
    if (head.endsWith('::')) head = head; // `::a.b.c.d`
    else head = head.slice(0, -1);
  }
  const dbl = head.indexOf('::');
  if (dbl >= 0 && head.indexOf('::', dbl + 1) >= 0) return null;
  const parseGroups = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (g.length < 1 || g.length > 4) return null;
      const v = parseInt(g, 16);
      if (!(v >= 0) || !/^[0-9a-fA-F]+$/.test(g)) return null;
      out.push(v);
    }
    return out;
  };
  let groups: number[];
  if (dbl >= 0) {
    const left = parseGroups(head.slice(0, dbl));
    const right = parseGroups(head.slice(dbl + 2));
    if (!left || !right) return null;
    const missing = 8 - left.length - right.length - tail.length;
    if (missing < 1) return null;
    groups = [...left, ...new Array<number>(missing).fill(0), ...right, ...tail];
  } else {
    const all = parseGroups(head);
    if (!all) return null;
    groups = [...all, ...tail];
    if (groups.length !== 8) return null;
  }
  // Four 32-bit words, one BigInt assembly.
  const w = (i: number) => BigInt(groups[i] * 65536 + groups[i + 1]);
  return (w(0) << 96n) | (w(2) << 64n) | (w(4) << 32n) | w(6);
}

export function formatIp(value: bigint, family: Family): string {
  if (family === 4) {
    const n = Number(value);
    return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  // One hex conversion, then slice: far cheaper than eight BigInt shifts.
  const hex = value.toString(16).padStart(32, '0');
  const groups: string[] = [];
  for (let i = 0; i < 32; i += 4) groups.push(hex.slice(i, i + 4).replace(/^0+(?=.)/, ''));
  // RFC 5952: compress the longest run of zero groups (length >= 2).
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** `a.b.c.d/n`, `x::/n` or a bare address (as /32 or /128) → the range it covers; null when malformed. */
export function parseCidr(s: string): (IpRange & { prefix: number }) | null {
  const [addr, len, extra] = s.trim().split('/');
  if (extra !== undefined) return null;
  const ip = parseIp(addr);
  if (!ip) return null;
  const bits = ip.family === 4 ? 32 : 128;
  const prefix = len === undefined ? bits : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
  if (!(prefix >= 0 && prefix <= bits)) return null;
  const host = (1n << BigInt(bits - prefix)) - 1n;
  const start = ip.value & ~host & familyMax(ip.family);
  return { family: ip.family, start, end: start | host, prefix };
}

/** The minimal list of CIDRs exactly covering [start, end]. */
export function rangeToCidrs(start: bigint, end: bigint, family: Family): string[] {
  const bits = family === 4 ? 32 : 128;
  const out: string[] = [];
  let cur = start;
  while (cur <= end) {
    // The block is limited by cur's alignment and by what is left of the range.
    const align = cur === 0n ? bits : bitLength(cur & -cur) - 1;
    const fit = bitLength(end - cur + 1n) - 1;
    const size = Math.min(align, fit);
    out.push(`${formatIp(cur, family)}/${bits - size}`);
    cur += 1n << BigInt(size);
  }
  return out;
}

function bitLength(v: bigint): number {
  if (v === 0n) return 0;
  const hex = v.toString(16);
  return (hex.length - 1) * 4 + (32 - Math.clz32(parseInt(hex[0], 16)));
}
