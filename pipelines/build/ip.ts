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
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const b = Number(p);
    if (b > 255) return null;
    n = n * 256 + b;
  }
  return BigInt(n);
}

export function parseIpv6(s: string): bigint | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.length > 45) return null;
  let head = s;
  let v4tail: bigint | null = null;
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    v4tail = parseIpv4(s.slice(lastColon + 1));
    if (v4tail === null) return null;
    head = s.slice(0, lastColon + 1) + '0:0';
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const toGroups = (h: string) => (h === '' ? [] : h.split(':'));
  const left = toGroups(halves[0]);
  const right = halves.length === 2 ? toGroups(halves[1]) : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...left, ...Array(halves.length === 2 ? missing : 0).fill('0'), ...right];
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  if (v4tail !== null) v = (v & ~0xffffffffn) | v4tail;
  return v;
}

export function formatIp(value: bigint, family: Family): string {
  if (family === 4) {
    const n = Number(value);
    return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16));
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
    // Largest aligned block starting at cur that fits.
    let size = 0;
    while (size < bits && (cur & ((1n << BigInt(size + 1)) - 1n)) === 0n && cur + (1n << BigInt(size + 1)) - 1n <= end) size++;
    out.push(`${formatIp(cur, family)}/${bits - size}`);
    cur += 1n << BigInt(size);
    if (cur > familyMax(family)) break;
  }
  return out;
}
