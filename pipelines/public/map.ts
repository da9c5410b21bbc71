// map.svg: a world map (world-atlas 110m countries, Equal Earth projection with
// d3-geo) with countries shaded by their number of public mirrors, and a legend.
// Rendered at build time; countries too small for the 110m atlas are named in a
// line under the legend so no mirror goes uncounted.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { geoEqualEarth, geoPath, geoGraticule10 } from 'd3-geo';
import { feature } from 'topojson-client';
import type { Topology, GeometryCollection } from 'topojson-specification';
import type { Feature, FeatureCollection, Geometry } from 'geojson';
import { countryLabel } from './model.ts';
import { NUMERIC_TO_ALPHA2 } from './iso-numeric.ts';
import { escapeXml } from './propagation.ts';

type CountryProps = { name: string };

let atlas: FeatureCollection<Geometry, CountryProps> | undefined;

function countries(): FeatureCollection<Geometry, CountryProps> {
  if (!atlas) {
    const file = createRequire(import.meta.url).resolve('world-atlas/countries-110m.json');
    const topo = JSON.parse(fs.readFileSync(file, 'utf8')) as Topology<{ countries: GeometryCollection<CountryProps> }>;
    atlas = feature(topo, topo.objects.countries) as FeatureCollection<Geometry, CountryProps>;
  }
  return atlas;
}

/** Upper bounds of the shading classes (mirror counts), lightest to darkest. */
export const CLASSES = [1, 3, 7, 15, Infinity];
const FILLS = ['#c6dbef', '#9ecae1', '#6baed6', '#3182bd', '#08519c'];
const EMPTY = '#e6e8ec';

export function classOf(n: number): number {
  return n <= 0 ? -1 : CLASSES.findIndex((max) => n <= max);
}

function legendLabel(i: number): string {
  const lo = i === 0 ? 1 : CLASSES[i - 1]! + 1;
  const hi = CLASSES[i]!;
  return hi === Infinity ? `${lo}+` : lo === hi ? `${lo}` : `${lo}–${hi}`;
}

/** `counts`: ISO alpha-2 → number of public mirrors. */
export function worldMapSvg(counts: ReadonlyMap<string, number>, opts: { title?: string } = {}): string {
  const W = 960;
  const H = 540;
  const mapH = 470;
  const fc = countries();
  const projection = geoEqualEarth().fitExtent([[8, 30], [W - 8, mapH]], { type: 'Sphere' });
  const path = geoPath(projection).digits(1);
  const drawn = new Set<string>();
  const out: string[] = [];
  const title = opts.title ?? 'Public mirrors by country';
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="12" role="img" aria-label="${escapeXml(title)}">`);
  out.push(`<title>${escapeXml(title)}</title>`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="12" y="20" font-size="15" font-weight="bold">${escapeXml(title)}: ${total} mirrors in ${counts.size} countries</text>`);
  out.push(`<path d="${path({ type: 'Sphere' })}" fill="#f4f8fc" stroke="#b8c2d0"/>`);
  out.push(`<path d="${path(geoGraticule10())}" fill="none" stroke="#dde3ea" stroke-width="0.5"/>`);
  const features = [...fc.features].sort((a, b) => String(a.id).localeCompare(String(b.id)));
  for (const f of features as Feature<Geometry, CountryProps>[]) {
    const code = f.id === undefined ? undefined : NUMERIC_TO_ALPHA2.get(String(f.id));
    const n = code ? (counts.get(code) ?? 0) : 0;
    if (code && n > 0) drawn.add(code);
    const d = path(f);
    if (!d) continue;
    const fill = n > 0 ? FILLS[classOf(n)]! : EMPTY;
    const label = `${code ? countryLabel(code) : f.properties.name}: ${n} mirror${n === 1 ? '' : 's'}`;
    out.push(`<path d="${d}" fill="${fill}" stroke="#fff" stroke-width="0.5"${code ? ` data-country="${code}"` : ''}><title>${escapeXml(label)}</title></path>`);
  }
  // Legend.
  let x = 12;
  const ly = mapH + 22;
  out.push(`<text x="${x}" y="${ly + 11}">mirrors per country:</text>`);
  x += 130;
  for (const [i, fill] of [[-1, EMPTY] as const, ...FILLS.map((f, i) => [i, f] as const)]) {
    const label = i < 0 ? '0' : legendLabel(i);
    out.push(`<rect x="${x}" y="${ly}" width="14" height="14" fill="${fill}" stroke="#8a94a3" stroke-width="0.5"/><text x="${x + 18}" y="${ly + 11}">${label}</text>`);
    x += 30 + label.length * 7;
  }
  const missing = [...counts.entries()].filter(([c, n]) => n > 0 && !drawn.has(c)).sort(([a], [b]) => a.localeCompare(b));
  if (missing.length) {
    out.push(`<text x="12" y="${ly + 36}" fill="#444">Too small for this map: ${escapeXml(missing.map(([c, n]) => `${countryLabel(c)} ${n}`).join(', '))}</text>`);
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}
