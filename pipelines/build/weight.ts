// Bandwidth weighting, precomputed: a seeded PRNG (seeds derived from content, so
// the same snapshot gives the same bytes), Efraimidis–Spirakis weighted shuffles,
// and the variant plan that nginx `split_clients` picks from. Pure.
import { createHash } from 'node:crypto';

/** split_clients works in hundredths of a percent: 10000 units = 100%. */
export const UNITS = 10_000;

export function clampBandwidth(mbits: number): number {
  if (!Number.isFinite(mbits)) return 1;
  return Math.min(10_000, Math.max(1, Math.round(mbits)));
}

/** sfc32 seeded from a SHA-256 of `seed`: deterministic, well mixed, returns [0, 1). */
export function seededRandom(seed: string): () => number {
  const h = createHash('sha256').update(seed).digest();
  let a = h.readUInt32LE(0);
  let b = h.readUInt32LE(4);
  let c = h.readUInt32LE(8);
  let d = h.readUInt32LE(12);
  const next = () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

/**
 * Weighted random order without replacement (Efraimidis–Spirakis): each item gets
 * key u^(1/w); descending keys. P(first) = w / Σw, and so on recursively.
 */
export function weightedShuffle<T>(items: readonly T[], weight: (t: T) => number, rand: () => number): T[] {
  return items
    .map((item) => {
      const u = Math.max(rand(), Number.MIN_VALUE);
      return { item, key: Math.log(u) / weight(item) };
    })
    .sort((x, y) => y.key - x.key)
    .map((x) => x.item);
}

/** Largest-remainder apportionment of `total` units by weight; every item gets ≥ 1 when total allows. */
export function apportion(weights: readonly number[], total: number): number[] {
  const n = weights.length;
  if (n === 0) return [];
  const sum = weights.reduce((s, w) => s + w, 0);
  const exact = weights.map((w) => (w / sum) * total);
  const out = exact.map((e) => Math.floor(e));
  let left = total - out.reduce((s, x) => s + x, 0);
  const order = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((x, y) => y.r - x.r || x.i - y.i);
  for (let j = 0; left > 0; j = (j + 1) % n, left--) out[order[j].i]++;
  // A listed host must be reachable at all: lift zeros to 1 unit, taken from the largest.
  for (let i = 0; i < n && total >= n; i++) {
    if (out[i] > 0) continue;
    const big = out.indexOf(Math.max(...out));
    out[big]--;
    out[i]++;
  }
  return out;
}

export interface VariantPlan {
  /** For each variant: the index (into the weights given) of the host that comes first. */
  first: number[];
  /** For each variant: its split_clients share in units of 0.01% (sums to UNITS). */
  units: number[];
}

/**
 * Which host leads each variant and how often nginx should pick it, so that a host's
 * share of first place equals its bandwidth share. With n ≤ maxVariants hosts there is
 * one variant per host with its exact share (to 0.01%); with more, the shares are
 * stratified: variant j leads with the host at cumulative weight (j + ½)/maxVariants.
 */
export function planVariants(weights: readonly number[], maxVariants: number): VariantPlan {
  const n = weights.length;
  if (n <= 1) return { first: [0], units: [UNITS] };
  if (n <= maxVariants) return { first: weights.map((_, i) => i), units: apportion(weights, UNITS) };
  const sum = weights.reduce((s, w) => s + w, 0);
  const first: number[] = [];
  const counts: number[] = [];
  let cum = 0;
  let idx = 0;
  for (let j = 0; j < maxVariants; j++) {
    const u = ((j + 0.5) / maxVariants) * sum;
    while (idx < n - 1 && cum + weights[idx] <= u) cum += weights[idx++];
    if (first[first.length - 1] === idx) counts[counts.length - 1]++;
    else {
      first.push(idx);
      counts.push(1);
    }
  }
  return { first, units: apportion(counts, UNITS) };
}
