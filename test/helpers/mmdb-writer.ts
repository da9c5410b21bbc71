// A small MaxMind DB writer for tests, written from the format spec
// (https://maxmind.github.io/MaxMind-DB/): an IPv6 (or IPv4) search tree with
// IPv4 at ::/96 and MaxMind's aliases (::ffff:0:0/96, 2002::/16) pointing at that
// subtree, a data section of maps/strings/uints, and the metadata. Tests check what
// it writes with the `maxmind` package's own Reader before relying on it.
import { parseCidr } from '../../pipelines/build/ip.ts';

type Value = string | number | Value[] | { [k: string]: Value };

interface TrieNode {
  kids: [Child, Child];
}
type Child = TrieNode | { data: number } | null;

export interface MmdbWriteOptions {
  ipVersion?: 4 | 6;
  recordSize?: 24 | 28 | 32;
  databaseType?: string;
  /** Point ::ffff:0:0/96 and 2002::/16 at the IPv4 subtree, as MaxMind's writer does. */
  aliases?: boolean;
}

export function writeMmdb(networks: Array<{ network: string; record: { [k: string]: Value } }>, o: MmdbWriteOptions = {}): Buffer {
  const ipVersion = o.ipVersion ?? 6;
  const recordSize = o.recordSize ?? 28;
  const root: TrieNode = { kids: [null, null] };
  const records: Array<{ [k: string]: Value }> = [];
  const recordIndex = new Map<string, number>();
  const bitsOf = (start: bigint, width: number, n: number) => Array.from({ length: n }, (_, i) => Number((start >> BigInt(width - 1 - i)) & 1n));

  const insertPath = (path: number[], leaf: Child) => {
    let node = root;
    for (let i = 0; i < path.length - 1; i++) {
      const b = path[i]!;
      let next = node.kids[b];
      if (next === null) next = node.kids[b] = { kids: [null, null] };
      if (!('kids' in next)) throw new Error('writer: a network inside another network is not supported');
      node = next;
    }
    node.kids[path.at(-1)! as 0 | 1] = leaf;
  };

  for (const n of networks) {
    const c = parseCidr(n.network);
    if (!c) throw new Error(`bad network ${n.network}`);
    const key = JSON.stringify(n.record);
    let idx = recordIndex.get(key);
    if (idx === undefined) recordIndex.set(key, (idx = records.push(n.record) - 1));
    let path = bitsOf(c.start, c.family === 4 ? 32 : 128, c.prefix);
    if (ipVersion === 6 && c.family === 4) path = [...Array(96).fill(0), ...path];
    if (ipVersion === 4 && c.family === 6) throw new Error('IPv6 network in an IPv4 database');
    insertPath(path, { data: idx });
  }
  if (ipVersion === 6 && o.aliases) {
    let v4: Child = root;
    for (let i = 0; i < 96 && v4 && 'kids' in v4; i++) v4 = v4.kids[0];
    if (v4 && 'kids' in v4) {
      insertPath([...Array(80).fill(0), ...Array(16).fill(1)], v4);
      insertPath(bitsOf(0x2002n, 16, 16), v4);
    }
  }

  // Number the nodes (each once: the aliases share the IPv4 subtree).
  const ids = new Map<TrieNode, number>();
  const order: TrieNode[] = [];
  const queue: TrieNode[] = [root];
  while (queue.length) {
    const n = queue.shift()!;
    if (ids.has(n)) continue;
    ids.set(n, order.push(n) - 1);
    for (const k of n.kids) if (k && 'kids' in k) queue.push(k);
  }
  const nodeCount = order.length;

  const dataParts: Buffer[] = [];
  const dataOffset: number[] = [];
  let size = 0;
  for (const r of records) {
    dataOffset.push(size);
    const b = encode(r);
    dataParts.push(b);
    size += b.length;
  }
  const nodeBytes = recordSize / 4;
  const tree = Buffer.alloc(nodeCount * nodeBytes);
  const valueOf = (k: Child) => (k === null ? nodeCount : 'kids' in k ? ids.get(k)! : nodeCount + 16 + dataOffset[k.data]!);
  order.forEach((n, i) => {
    const [l, r] = n.kids.map(valueOf) as [number, number];
    const off = i * nodeBytes;
    if (recordSize === 24) {
      tree.writeUIntBE(l, off, 3);
      tree.writeUIntBE(r, off + 3, 3);
    } else if (recordSize === 28) {
      tree.writeUIntBE(l & 0xffffff, off, 3);
      tree[off + 3] = ((l >>> 24) << 4) | (r >>> 24);
      tree.writeUIntBE(r & 0xffffff, off + 4, 3);
    } else {
      tree.writeUInt32BE(l, off);
      tree.writeUInt32BE(r, off + 4);
    }
  });
  const metadata = encode({
    node_count: nodeCount,
    record_size: recordSize,
    ip_version: ipVersion,
    database_type: o.databaseType ?? 'Test-DB',
    languages: ['en'],
    binary_format_major_version: 2,
    binary_format_minor_version: 0,
    build_epoch: 1764547200,
    description: { en: 'mirrorsmith test database' },
  });
  return Buffer.concat([tree, Buffer.alloc(16), ...dataParts, Buffer.from([0xab, 0xcd, 0xef]), Buffer.from('MaxMind.com'), metadata]);
}

function control(type: number, size: number): Buffer {
  const head: number[] = [];
  let low: number;
  const extra: number[] = [];
  if (size < 29) low = size;
  else if (size < 285) {
    low = 29;
    extra.push(size - 29);
  } else if (size < 65821) {
    low = 30;
    extra.push((size - 285) >> 8, (size - 285) & 255);
  } else {
    low = 31;
    const s = size - 65821;
    extra.push((s >> 16) & 255, (s >> 8) & 255, s & 255);
  }
  if (type <= 7) head.push((type << 5) | low);
  else head.push(low, type - 7);
  return Buffer.from([...head, ...extra]);
}

function encode(v: Value): Buffer {
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    return Buffer.concat([control(2, b.length), b]);
  }
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`writer: only uint32 numbers (${v})`);
    const bytes: number[] = [];
    for (let x = v; x > 0; x = Math.floor(x / 256)) bytes.unshift(x % 256);
    return Buffer.concat([control(6, bytes.length), Buffer.from(bytes)]);
  }
  if (Array.isArray(v)) return Buffer.concat([control(11, v.length), ...v.map(encode)]);
  const keys = Object.keys(v);
  return Buffer.concat([control(7, keys.length), ...keys.flatMap((k) => [encode(k), encode(v[k]!)])]);
}
