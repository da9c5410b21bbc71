// Enumerating a MaxMind DB (.mmdb) file: every network of its binary search tree
// with its data record, for the partition (which needs ranges, not lookups).
// The `maxmind` package (mmdb-lib) answers lookups only and keeps its tree walker
// private, so the tree is walked here, per the format spec
// (https://maxmind.github.io/MaxMind-DB/, "Binary Search Tree Section"); the data
// records are decoded by the package's own Reader (one lookup per distinct record).
//
// An IPv6 tree holds IPv4 at ::/96 (::a.b.c.d); MaxMind's writer also points
// ::ffff:0:0/96 and 2002::/16 at that same subtree. Those aliases are skipped:
// their addresses are IPv4 clients, which nginx's geo sees as IPv4.
import { Reader } from 'maxmind';
import { formatIp, type Family } from './ip.ts';

export interface MmdbNetwork {
  family: Family;
  start: bigint;
  end: bigint;
  record: Record<string, unknown>;
}

export interface MmdbInfo {
  databaseType: string;
  ipVersion: number;
  nodeCount: number;
}

/** Opens an MMDB buffer; throws naming the file when it is not one. */
export function openMmdb(buf: Buffer, file: string): { reader: Reader<Record<string, unknown>>; info: MmdbInfo } {
  let reader: Reader<Record<string, unknown>>;
  try {
    reader = new Reader<Record<string, unknown>>(buf);
  } catch (err) {
    throw new Error(`${file}: not a MaxMind DB file: ${(err as Error).message}`, { cause: err });
  }
  const m = reader.metadata;
  if (![24, 28, 32].includes(m.recordSize)) throw new Error(`${file}: unsupported MMDB record size ${m.recordSize}`);
  if (m.ipVersion !== 4 && m.ipVersion !== 6) throw new Error(`${file}: unsupported MMDB ip_version ${m.ipVersion}`);
  if (m.searchTreeSize !== (m.nodeCount * m.recordSize) / 4 || m.searchTreeSize + 16 > buf.length) {
    throw new Error(`${file}: MMDB search tree size ${m.searchTreeSize} does not match node_count ${m.nodeCount} × record_size ${m.recordSize}`);
  }
  return { reader, info: { databaseType: m.databaseType, ipVersion: m.ipVersion, nodeCount: m.nodeCount } };
}

/**
 * Every network with data, in address order per family (IPv4 first), adjacent
 * networks with the same record merged. `keep` filters records before anything
 * is kept (e.g. only wanted ASNs), `same` says when two records merge.
 */
export function mmdbNetworks(
  buf: Buffer,
  file: string,
  opts: { keep?: (record: Record<string, unknown>) => boolean; same?: (a: Record<string, unknown>, b: Record<string, unknown>) => boolean } = {},
): MmdbNetwork[] {
  const { reader, info } = openMmdb(buf, file);
  const { nodeCount } = info;
  const recordSize = reader.metadata.recordSize;
  const nodeBytes = recordSize / 4;
  const record = (node: number, bit: 0 | 1): number => {
    const off = node * nodeBytes;
    if (recordSize === 24) return buf.readUIntBE(off + bit * 3, 3);
    if (recordSize === 28) return bit === 0 ? ((buf[off + 3]! & 0xf0) << 20) | buf.readUIntBE(off, 3) : ((buf[off + 3]! & 0x0f) << 24) | buf.readUIntBE(off + 4, 3);
    return buf.readUInt32BE(off + bit * 4);
  };

  // Data records by pointer: decoded once, through the package's lookup of an address inside.
  const decoded = new Map<number, Record<string, unknown> | null>();
  const recordAt = (pointer: number, family: Family, start: bigint): Record<string, unknown> | null => {
    let r = decoded.get(pointer);
    if (r === undefined) {
      r = reader.get(formatIp(start, family)) ?? null;
      if (r !== null && (typeof r !== 'object' || Array.isArray(r))) throw new Error(`${file}: MMDB data record at ${formatIp(start, family)} is not a map`);
      if (r !== null && opts.keep && !opts.keep(r)) r = null;
      decoded.set(pointer, r);
    }
    return r;
  };

  const out: MmdbNetwork[] = [];
  const same = opts.same ?? ((a, b) => a === b);
  const emit = (family: Family, start: bigint, end: bigint, rec: Record<string, unknown>) => {
    const last = out.at(-1);
    if (last && last.family === family && last.end + 1n === start && (last.record === rec || same(last.record, rec))) last.end = end;
    else out.push({ family, start, end, record: rec });
  };

  // Where IPv4 lives in an IPv6 tree: 96 left turns from the root.
  let v4Root = 0;
  let v4Depth = 0;
  if (info.ipVersion === 6) {
    for (; v4Depth < 96 && v4Root < nodeCount; v4Depth++) v4Root = record(v4Root, 0);
  }

  // Visits are bounded: every node is entered once (the skipped aliases are the
  // only nodes with two parents in a MaxMind tree), plus one item per data record
  // reference; more means a malformed file.
  let visits = 0;
  const walk = (family: Family, bits: number, root: number, skipV4: boolean) => {
    // An item is a node to expand or a data pointer to emit; depth: address bits
    // consumed to reach it. Right pushed before left, so addresses come out in order.
    const stack: Array<{ value: number; depth: number; prefix: bigint }> = [{ value: root, depth: 0, prefix: 0n }];
    while (stack.length) {
      const { value, depth, prefix } = stack.pop()!;
      if (++visits > 4 * nodeCount + 4) throw new Error(`${file}: the MMDB search tree revisits nodes (not a tree)`);
      if (value > nodeCount) {
        const host = BigInt(bits - depth);
        const start = prefix << host;
        const rec = recordAt(value, family, start);
        if (rec) emit(family, start, start + (1n << host) - 1n, rec);
        continue;
      }
      if (depth >= bits) throw new Error(`${file}: MMDB search tree deeper than ${bits} bits`);
      for (const bit of [1, 0] as const) {
        const child = record(value, bit);
        if (child === nodeCount) continue; // no data
        if (skipV4 && child === v4Root) continue; // ::/96 itself or an alias of it: walked as IPv4
        stack.push({ value: child, depth: depth + 1, prefix: (prefix << 1n) | BigInt(bit) });
      }
    }
  };

  if (info.ipVersion === 4) {
    walk(4, 32, 0, false);
  } else {
    if (v4Depth === 96 && v4Root < nodeCount) walk(4, 32, v4Root, false);
    else if (v4Root > nodeCount) {
      // All of ::/k (k < 96) is one record: so is all of IPv4.
      const rec = recordAt(v4Root, 4, 0n);
      if (rec) emit(4, 0n, (1n << 32n) - 1n, rec);
    }
    walk(6, 128, 0, v4Root < nodeCount);
  }
  return out;
}
