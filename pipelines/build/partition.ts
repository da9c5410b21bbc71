// One flat, non-overlapping partition of the IPv4 or IPv6 space into client
// classes, by a sweep over every range boundary (GeoIP country ranges, host
// netblocks, prefixes of the ASNs some host serves, research-network prefixes).
// Adjacent segments with the same class are merged. Pure.
import { familyMax, type Family, type IpRange } from './ip.ts';

export interface NetblockRange extends IpRange {
  /** Stable id of this (host, netblock) entry. */
  id: number;
  hostId: number;
  prefix: number;
}

export interface PartitionInput {
  countries: ReadonlyArray<IpRange & { country: string }>;
  netblocks: readonly NetblockRange[];
  asns: ReadonlyArray<IpRange & { asn: number }>;
  research: readonly IpRange[];
}

/** What selection needs to know about a client address. */
export interface ClassKey {
  family: Family;
  country: string | null;
  /** Ids of the netblock entries containing the address, ascending. */
  netblocks: number[];
  asn: number | null;
  research: boolean;
}

export interface Segment {
  start: bigint;
  end: bigint;
  /** classKeyString() of the class. */
  key: string;
}

export function classKeyString(k: ClassKey): string {
  return `${k.family}|${k.country ?? '-'}|${k.netblocks.join(',')}|${k.asn ?? '-'}|${k.research ? 1 : 0}`;
}

// Events as plain records (no closures): the full GeoIP tables make ~1.4 M of them.
const enum Kind { Country, Netblock, Asn, Research }
type Ev = { pos: bigint; kind: Kind; key: string | number; delta: 1 | -1 };

interface SweepState {
  countries: Map<string, number>;
  netblocks: Map<number, number>;
  asns: Map<number, number>;
  research: number;
}

function bump<K>(m: Map<K, number>, k: K, d: number): void {
  const n = (m.get(k) ?? 0) + d;
  if (n === 0) m.delete(k);
  else m.set(k, n);
}

function minKey<K extends string | number>(m: Map<K, number>): K | null {
  let best: K | null = null;
  for (const k of m.keys()) if (best === null || k < best) best = k;
  return best;
}

/** Partitions one address family; returns segments covering [0, max] in order plus their classes. */
export function partition(input: PartitionInput, family: Family): { segments: Segment[]; classes: Map<string, ClassKey> } {
  const max = familyMax(family);
  const evs: Ev[] = [];
  const add = (r: IpRange, kind: Kind, key: string | number) => {
    if (r.family !== family) return;
    evs.push({ pos: r.start, kind, key, delta: 1 });
    if (r.end < max) evs.push({ pos: r.end + 1n, kind, key, delta: -1 });
  };
  for (const r of input.countries) add(r, Kind.Country, r.country);
  for (const r of input.netblocks) add(r, Kind.Netblock, r.id);
  for (const r of input.asns) add(r, Kind.Asn, r.asn);
  for (const r of input.research) add(r, Kind.Research, 0);
  evs.sort((a, b) => (a.pos < b.pos ? -1 : a.pos > b.pos ? 1 : 0));
  const apply = (s: SweepState, e: Ev) => {
    if (e.kind === Kind.Country) bump(s.countries, e.key as string, e.delta);
    else if (e.kind === Kind.Netblock) bump(s.netblocks, e.key as number, e.delta);
    else if (e.kind === Kind.Asn) bump(s.asns, e.key as number, e.delta);
    else s.research += e.delta;
  };

  const state: SweepState = { countries: new Map(), netblocks: new Map(), asns: new Map(), research: 0 };
  const segments: Segment[] = [];
  const classes = new Map<string, ClassKey>();
  const keys = new Map<string, string>();
  const emit = (start: bigint, end: bigint) => {
    const k: ClassKey = {
      family,
      // Overlapping GeoIP rows should not exist; if they do, the smallest code wins deterministically.
      country: minKey(state.countries),
      netblocks: [...state.netblocks.keys()].sort((a, b) => a - b),
      asn: minKey(state.asns),
      research: state.research > 0,
    };
    // One key string per class, shared by its segments (hundreds of thousands at scale).
    let key = keys.get(classKeyString(k));
    if (key === undefined) {
      key = classKeyString(k);
      keys.set(key, key);
      classes.set(key, k);
    }
    const last = segments[segments.length - 1];
    if (last && last.key === key && last.end + 1n === start) last.end = end;
    else segments.push({ start, end, key });
  };
  let pos = 0n;
  let i = 0;
  while (i < evs.length) {
    const at = evs[i].pos;
    if (at > pos) {
      emit(pos, at - 1n);
      pos = at;
    }
    while (i < evs.length && evs[i].pos === at) apply(state, evs[i++]);
  }
  emit(pos, max);
  return { segments, classes };
}

/** Binary search: the segment containing `ip`. */
export function lookupSegment(segments: readonly Segment[], ip: bigint): Segment {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (segments[mid].start <= ip) lo = mid;
    else hi = mid - 1;
  }
  return segments[lo];
}
