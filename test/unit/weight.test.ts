// Bandwidth weighting holds measurably: a host's share of first place over the
// variants nginx picks (split_clients percentages) equals its bandwidth share.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { apportion, clampBandwidth, planVariants, seededRandom, UNITS, weightedShuffle } from '../../pipelines/build/weight.ts';

/** Picks a variant as split_clients does: a uniform point in [0, UNITS) against cumulative units. */
function pick(units: readonly number[], u: number): number {
  let acc = 0;
  for (let i = 0; i < units.length; i++) {
    acc += units[i];
    if (u * UNITS < acc) return i;
  }
  return units.length - 1;
}

function firstShares(weights: number[], maxVariants: number): number[] {
  const plan = planVariants(weights, maxVariants);
  const shares = weights.map(() => 0);
  plan.first.forEach((h, v) => (shares[h] += plan.units[v] / UNITS));
  return shares;
}

test('bandwidth is clamped to 1–10000 Mbit/s', () => {
  assert.deepEqual([0, 1, 10, 10_000, 100_000, -5, Number.NaN].map(clampBandwidth), [1, 1, 10, 10_000, 10_000, 1, 1]);
});

test('a 10 Mbit/s mirror comes first 1/100 as often as a 1 Gbit/s one (exact to 0.01%)', () => {
  const shares = firstShares([1000, 10], 16);
  assert.ok(Math.abs(shares[0] - 1000 / 1010) < 1e-4);
  assert.ok(Math.abs(shares[1] - 10 / 1010) < 1e-4);
  assert.ok(Math.abs(shares[1] / shares[0] - 0.01) < 0.0002);
  // And measured over simulated requests (uniform hash as split_clients uses):
  const rand = seededRandom('requests');
  const plan = planVariants([1000, 10], 16);
  const n = 200_000;
  let small = 0;
  for (let i = 0; i < n; i++) if (plan.first[pick(plan.units, rand())] === 1) small++;
  const p = 10 / 1010;
  const sigma = Math.sqrt((n * p * (1 - p)));
  assert.ok(Math.abs(small - n * p) < 5 * sigma, `small host first ${small} times, expected ${(n * p).toFixed(0)} ± ${sigma.toFixed(0)}`);
});

test('first-place shares equal bandwidth shares: exact with ≤ K hosts, within 1/K beyond', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 10000 }), { minLength: 1, maxLength: 60 }), fc.integer({ min: 2, max: 64 }), (weights, k) => {
      const sum = weights.reduce((s, w) => s + w, 0);
      const plan = planVariants(weights, k);
      assert.equal(plan.units.reduce((s, u) => s + u, 0), UNITS);
      assert.ok(plan.units.every((u) => u >= 1));
      assert.ok(plan.first.length <= Math.max(1, Math.min(k, weights.length)));
      const shares = firstShares(weights, k);
      const tol = weights.length <= k ? (weights.length + 1) / UNITS : 1 / k + weights.length / UNITS;
      weights.forEach((w, i) => assert.ok(Math.abs(shares[i] - w / sum) <= tol, `host ${i} share ${shares[i]} vs ${w / sum} (tol ${tol})`));
    }),
    { numRuns: 400 },
  );
});

test('Efraimidis–Spirakis shuffle: P(first) = w/Σw and a permutation without replacement', () => {
  const weights = [5000, 2500, 1500, 1000];
  const counts = [0, 0, 0, 0];
  const n = 40_000;
  for (let i = 0; i < n; i++) {
    const order = weightedShuffle([0, 1, 2, 3], (x) => weights[x], seededRandom(`s${i}`));
    assert.deepEqual([...order].sort(), [0, 1, 2, 3]);
    counts[order[0]]++;
  }
  weights.forEach((w, i) => {
    const p = w / 10000;
    const sigma = Math.sqrt(n * p * (1 - p));
    assert.ok(Math.abs(counts[i] - n * p) < 5 * sigma, `host ${i}: ${counts[i]} vs ${n * p}`);
  });
});

test('seeded randomness is deterministic and apportionment is exact', () => {
  const a = seededRandom('x');
  const b = seededRandom('x');
  for (let i = 0; i < 5; i++) assert.equal(a(), b());
  assert.notEqual(seededRandom('x')(), seededRandom('y')());
  assert.deepEqual(apportion([1, 1, 1], 10), [4, 3, 3]);
  assert.deepEqual(apportion([1000, 10], UNITS), [9901, 99]);
});
