// How the build's cost grows with the network (issue 9, `--growth`): the build at
// scales 0.5, 1, 2, 4 (hosts, netblocks and repositories all multiplied). Each
// figure's ratio is its growth relative to scale 1 divided by the scale factor:
// 1.0 is exactly linear, above 1 grows faster than the network.
import fs from 'node:fs';
import path from 'node:path';
import { mb, type Benchmark, type Figure } from '../harness.ts';
import { buildStageAvailable, measureBuild, type BuildMeasurement } from './build.ts';

export const GROWTH_SCALES = [0.5, 1, 2, 4];

export const benchmark: Benchmark = {
  name: 'growth',
  title: 'build growth (0.5×, 1×, 2×, 4×)',
  figures: GROWTH_SCALES.flatMap((s) => [
    { name: `@${s}× build wall time`, unit: 's' },
    { name: `@${s}× build peak RSS`, unit: 'MB' },
    { name: `@${s}× generation size`, unit: 'MB' },
    { name: `@${s}× generation files`, unit: '' },
  ]),
  available: buildStageAvailable,
  async run(ctx) {
    const scales = ctx.smoke ? [0.005, 0.01, 0.02] : GROWTH_SCALES;
    const runs: BuildMeasurement[] = [];
    const skipped = new Map<number, string>();
    for (const s of scales) {
      const why = tooBig(runs, s, ctx.workDir);
      if (why) {
        ctx.log(`scale ${s}: skipped: ${why}`);
        skipped.set(s, why);
        continue;
      }
      // The tree is not needed for a build: the world is planned and loaded from world.json.
      const dir = await ctx.world(s, { tree: false });
      const work = path.join(ctx.workDir, `scale-${s}`);
      const m = await measureBuild(ctx, dir, work, `scale ${s}`);
      runs.push(m);
      // Only the figures are kept: generations grow fast and share the disk with everyone.
      fs.rmSync(work, { recursive: true, force: true });
      // Printed as it goes: the large scales take long, and a partial curve is still a curve.
      ctx.log(`scale ${s}: ${m.hosts} hosts, ${m.repositories} repos: build ${(m.buildMs / 1000).toFixed(1)} s, peak RSS ${mb(m.peakRssBytes).toFixed(0)} MB, generation ${mb(m.generationBytes).toFixed(0)} MB in ${m.generationFiles} files`);
    }
    const ref = runs.find((r) => r.scale === 1) ?? runs[Math.floor(runs.length / 2)]!;
    const figures: Figure[] = [];
    for (const r of runs) {
      const k = r.scale / ref.scale;
      const add = (name: string, value: number, unit: string, refValue: number) =>
        figures.push({ benchmark: 'growth', name: `@${r.scale}× ${name}`, value, unit, ratio: refValue > 0 && k !== 1 ? value / refValue / k : undefined, note: `${r.hosts} hosts, ${r.repositories} repos` });
      add('build wall time', r.buildMs / 1000, 's', ref.buildMs / 1000);
      add('build peak RSS', mb(r.peakRssBytes), 'MB', mb(ref.peakRssBytes));
      add('generation size', mb(r.generationBytes), 'MB', mb(ref.generationBytes));
      add('generation files', r.generationFiles, '', ref.generationFiles);
    }
    for (const [s, why] of skipped) {
      for (const name of ['build wall time', 'build peak RSS', 'generation size', 'generation files']) figures.push({ benchmark: 'growth', name: `@${s}× ${name}`, value: null, unit: name.includes('RSS') || name.includes('size') ? 'MB' : name.includes('time') ? 's' : '', note: `skipped: ${why}` });
    }
    return figures;
  },
};

/**
 * Why the build at `next` should not run: its generation, extrapolated from the last
 * two scales (size ∝ scale^e), would take more than half the free disk space.
 */
function tooBig(runs: BuildMeasurement[], next: number, dir: string): string | null {
  if (runs.length < 2) return null;
  const [a, b] = runs.slice(-2) as [BuildMeasurement, BuildMeasurement];
  const e = Math.log(b.generationBytes / a.generationBytes) / Math.log(b.scale / a.scale);
  const projected = b.generationBytes * (next / b.scale) ** Math.max(1, e);
  const st = fs.statfsSync(dir);
  const free = st.bavail * st.bsize;
  if (projected <= free / 2) return null;
  return `its generation would be ≈ ${(projected / 1e9).toFixed(0)} GB (growing as scale^${e.toFixed(1)}), more than half the ${(free / 1e9).toFixed(0)} GB free`;
}
