// Propagation of a repository after a push: at evenly spaced instants over the last
// days, the share of mirrors whose latest sample says current / one behind / two
// behind / older / unreachable, drawn as a stacked-area SVG at build time. The
// window ends at the newest sample (not the wall clock), so the output is a pure
// function of the database. Pure.
import type { PropagationSample } from './data.ts';

export const BUCKETS = ['current', 'behind1', 'behind2', 'older', 'unreachable'] as const;
export type Bucket = (typeof BUCKETS)[number];
const LABELS: Record<Bucket, string> = { current: 'current', behind1: '−1', behind2: '−2', older: 'older', unreachable: 'unreachable' };
const COLORS: Record<Bucket, string> = { current: '#2e9b4a', behind1: '#b7d24a', behind2: '#f2a33a', older: '#d64545', unreachable: '#9aa1ad' };

export interface PropagationPoint {
  at: Date;
  counts: Record<Bucket, number>;
  /** Hosts with a sample at or before this instant (within the window). */
  total: number;
}

export function bucketOf(versionsBehind: number | null): Bucket {
  if (versionsBehind === null) return 'unreachable';
  if (versionsBehind <= 0) return 'current';
  if (versionsBehind === 1) return 'behind1';
  if (versionsBehind === 2) return 'behind2';
  return 'older';
}

/** `samples` of one repository; `points` instants from end − days to end (inclusive). */
export function propagationSeries(samples: PropagationSample[], opts: { days: number; points?: number }): PropagationPoint[] {
  if (samples.length === 0) return [];
  const sorted = [...samples].sort((a, b) => a.sampledAt.getTime() - b.sampledAt.getTime() || a.hostId - b.hostId);
  const end = sorted[sorted.length - 1]!.sampledAt.getTime();
  // The window starts at the first sample when history is shorter than `days`.
  const start = Math.max(end - opts.days * 86_400_000, sorted[0]!.sampledAt.getTime());
  const n = Math.max(2, opts.points ?? 84);
  const step = (end - start) / (n - 1);
  const latest = new Map<number, number | null>();
  const out: PropagationPoint[] = [];
  let i = 0;
  // Samples before the window only seed each host's state at its start.
  for (let k = 0; k < n; k++) {
    const t = k === n - 1 ? end : start + k * step;
    while (i < sorted.length && sorted[i]!.sampledAt.getTime() <= t) {
      latest.set(sorted[i]!.hostId, sorted[i]!.versionsBehind);
      i++;
    }
    const counts: Record<Bucket, number> = { current: 0, behind1: 0, behind2: 0, older: 0, unreachable: 0 };
    for (const v of latest.values()) counts[bucketOf(v)]++;
    out.push({ at: new Date(t), counts, total: latest.size });
  }
  return out;
}

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const r1 = (x: number) => Math.round(x * 10) / 10;

/** A stacked-area chart of shares over time; readable without scripts or fonts of our own. */
export function propagationSvg(title: string, series: PropagationPoint[]): string {
  const W = 640;
  const H = 260;
  const m = { l: 44, r: 12, t: 28, b: 58 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11" role="img" aria-label="${escapeXml(title)}">`);
  parts.push(`<title>${escapeXml(title)}</title>`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${m.l}" y="18" font-size="13" font-weight="bold">${escapeXml(title)}</text>`);
  if (series.length === 0 || series.every((p) => p.total === 0)) {
    parts.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#5b6475">no propagation samples yet</text></svg>`);
    return parts.join('\n') + '\n';
  }
  const t0 = series[0]!.at.getTime();
  const t1 = series[series.length - 1]!.at.getTime();
  // One sampling instant only: draw it as a full-width band.
  const xs = series.map((p, k) => m.l + (t1 === t0 ? (k / (series.length - 1)) * pw : ((p.at.getTime() - t0) / (t1 - t0)) * pw));
  const x = (t: number) => m.l + (t1 === t0 ? 0 : ((t - t0) / (t1 - t0)) * pw);
  const y = (share: number) => m.t + ph - share * ph;
  // Cumulative shares per point, bottom (current) to top (unreachable).
  const cum = series.map((p) => {
    let acc = 0;
    return BUCKETS.map((b) => {
      const lo = acc;
      acc += p.total ? p.counts[b] / p.total : 0;
      return [lo, acc] as const;
    });
  });
  BUCKETS.forEach((b, bi) => {
    const top = series.map((_, k) => `${r1(xs[k]!)},${r1(y(cum[k]![bi]![1]))}`);
    const bottom = series.map((_, k) => `${r1(xs[k]!)},${r1(y(cum[k]![bi]![0]))}`).reverse();
    parts.push(`<polygon fill="${COLORS[b]}" points="${[...top, ...bottom].join(' ')}"><title>${LABELS[b]}</title></polygon>`);
  });
  // Axes: 0/50/100 % and one tick per day.
  for (const s of [0, 0.5, 1]) {
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${r1(y(s))}" y2="${r1(y(s))}" stroke="#333" stroke-opacity="0.25"/>`);
    parts.push(`<text x="${m.l - 4}" y="${r1(y(s)) + 4}" text-anchor="end">${s * 100}%</text>`);
  }
  const day = 86_400_000;
  if (t1 - t0 < day) {
    parts.push(`<text x="${m.l}" y="${m.t + ph + 16}">${new Date(t0).toISOString().slice(5, 16).replace('T', ' ')}</text>`);
    parts.push(`<text x="${m.l + pw}" y="${m.t + ph + 16}" text-anchor="end">${new Date(t1).toISOString().slice(5, 16).replace('T', ' ')}</text>`);
  }
  for (let t = Math.ceil(t0 / day) * day; t <= t1; t += day) {
    parts.push(`<line x1="${r1(x(t))}" x2="${r1(x(t))}" y1="${m.t + ph}" y2="${m.t + ph + 4}" stroke="#333"/>`);
    parts.push(`<text x="${r1(x(t))}" y="${m.t + ph + 16}" text-anchor="middle">${new Date(t).toISOString().slice(5, 10)}</text>`);
  }
  const last = series[series.length - 1]!;
  let lx = m.l;
  for (const b of BUCKETS) {
    const label = `${LABELS[b]} ${last.counts[b]}`;
    parts.push(`<rect x="${lx}" y="${H - 20}" width="10" height="10" fill="${COLORS[b]}"/><text x="${lx + 14}" y="${H - 11}">${escapeXml(label)}</text>`);
    lx += 18 + label.length * 6.5;
  }
  parts.push(`<text x="${W - m.r}" y="${H - 11}" text-anchor="end" fill="#5b6475">${last.total} mirrors, to ${escapeXml(last.at.toISOString().slice(0, 16).replace('T', ' '))} UTC</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
