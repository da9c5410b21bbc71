import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bucketOf, propagationSeries, propagationSvg } from '../../pipelines/public/propagation.ts';
import type { PropagationSample } from '../../pipelines/public/data.ts';

const T = Date.parse('2026-11-20T12:00:00Z');
const s = (hostId: number, hoursBefore: number, v: number | null): PropagationSample => ({ hostId, repositoryId: 1, sampledAt: new Date(T - hoursBefore * 3600_000), versionsBehind: v });

describe('propagation plots', () => {
  it('buckets versions behind', () => {
    assert.deepEqual([0, 1, 2, 3, 7, null].map(bucketOf), ['current', 'behind1', 'behind2', 'older', 'older', 'unreachable']);
  });

  it('carries each host’s latest sample forward and ends the window at the newest sample', () => {
    const samples = [s(1, 48, 1), s(1, 24, 0), s(2, 47, 2), s(2, 1, 1), s(3, 0, null), s(4, 24 * 30, 3)];
    const series = propagationSeries(samples, { days: 2, points: 5 });
    assert.equal(series.length, 5);
    assert.equal(series.at(-1)!.at.getTime(), T);
    assert.equal(series[0]!.at.getTime(), T - 48 * 3600_000);
    // At the start: host 1 one behind, host 4 (seeded from before the window) older.
    assert.deepEqual(series[0]!.counts, { current: 0, behind1: 1, behind2: 0, older: 1, unreachable: 0 });
    assert.equal(series[0]!.total, 2);
    // At the end: host 1 current, host 2 one behind, host 3 unreachable, host 4 older.
    assert.deepEqual(series.at(-1)!.counts, { current: 1, behind1: 1, behind2: 0, older: 1, unreachable: 1 });
    // Shares never exceed the hosts seen so far.
    for (const p of series) assert.equal(Object.values(p.counts).reduce((a, b) => a + b, 0), p.total);
    assert.deepEqual(propagationSeries([], { days: 7 }), []);
  });

  it('does not depend on the order samples come in', () => {
    const samples = [s(1, 10, 2), s(1, 5, 1), s(2, 3, 0), s(2, 9, 1)];
    assert.deepEqual(propagationSeries(samples, { days: 1, points: 7 }), propagationSeries([...samples].reverse(), { days: 1, points: 7 }));
  });

  it('draws one area per bucket and escapes the title', () => {
    const svg = propagationSvg('Propagation of <b>x</b> & "y"', propagationSeries([s(1, 30, 2), s(1, 0, 0), s(2, 10, 1)], { days: 2 }));
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal(svg.match(/<polygon /g)!.length, 5);
    assert.match(svg, /<title>Propagation of &lt;b&gt;x&lt;\/b&gt; &amp; &quot;y&quot;<\/title>/);
    assert.doesNotMatch(svg, /NaN|undefined/);
    assert.match(propagationSvg('empty', []), /no propagation samples yet/);
  });

  it('starts the window at the first sample when history is short, and draws a single crawl full width', () => {
    const short = propagationSeries([s(1, 6, 1), s(1, 0, 0)], { days: 7, points: 4 });
    assert.equal(short[0]!.at.getTime(), T - 6 * 3600_000);
    const once = propagationSeries([s(1, 0, 0), s(2, 0, 1)], { days: 7 });
    assert.ok(once.every((p) => p.at.getTime() === T && p.total === 2));
    const svg = propagationSvg('one crawl', once);
    assert.doesNotMatch(svg, /NaN/);
    // The current area spans the plot from the left margin to the right one.
    const current = /<polygon fill="#2e9b4a" points="([^"]+)"/.exec(svg)![1]!.split(' ').map((p) => Number(p.split(',')[0]));
    assert.equal(Math.min(...current), 44);
    assert.equal(Math.max(...current), 628);
  });
});
