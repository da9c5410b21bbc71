import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classOf, worldMapSvg } from '../../pipelines/public/map.ts';
import { NUMERIC_TO_ALPHA2 } from '../../pipelines/public/iso-numeric.ts';
import { COUNTRIES } from '../../pipelines/core/countries.ts';

describe('world map', () => {
  it('maps every ISO country to a numeric code the atlas uses', () => {
    const alpha2 = new Set(NUMERIC_TO_ALPHA2.values());
    for (const code of COUNTRIES.keys()) assert.ok(alpha2.has(code), code);
    assert.equal(NUMERIC_TO_ALPHA2.get('276'), 'DE');
    assert.equal(NUMERIC_TO_ALPHA2.get('840'), 'US');
  });

  it('shades countries by mirror count with a legend', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 7, 8, 15, 16, 500].map(classOf), [-1, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
    const svg = worldMapSvg(new Map([['DE', 12], ['US', 1], ['BR', 3], ['SG', 2]]));
    assert.match(svg, /fill="#3182bd"[^>]*data-country="DE"><title>Germany: 12 mirrors<\/title>/);
    assert.match(svg, /fill="#c6dbef"[^>]*data-country="US"><title>United States of America: 1 mirror<\/title>/);
    assert.match(svg, /fill="#9ecae1"[^>]*data-country="BR"/);
    assert.match(svg, /fill="#e6e8ec"[^>]*data-country="FR"/);
    // Singapore is too small for the 110m atlas: named under the legend instead.
    assert.doesNotMatch(svg, /data-country="SG"/);
    assert.match(svg, /Too small for this map: Singapore 2/);
    assert.match(svg, /mirrors per country:/);
    assert.match(svg, />16\+</);
    assert.match(svg, /18 mirrors in 4 countries/);
    assert.ok((svg.match(/data-country=/g) ?? []).length > 150, 'the world is drawn');
    assert.equal(worldMapSvg(new Map([['DE', 12]])), worldMapSvg(new Map([['DE', 12]])), 'deterministic');
  });
});
