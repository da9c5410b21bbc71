// The synthetic world itself: is it Fedora-sized (issue 9's targets are sizes, ≈),
// and what it costs to generate. Generation runs in a child when the world is not cached.
import path from 'node:path';
import { readWorld } from '../../pipelines/bench/generate.ts';
import { mb, REPO_ROOT, runChild, type Benchmark, type Figure } from '../harness.ts';
import type { WorldSummary } from '../../pipelines/bench/generate.ts';

const SOURCE = 'issue 9 (≈ at scale 1)';

export const benchmark: Benchmark = {
  name: 'generate',
  title: 'synthetic Fedora-scale world',
  usesTree: true,
  figures: [
    { name: 'repo/arch pairs', unit: '', target: { op: '≈', value: 1200 }, source: SOURCE },
    { name: 'directories', unit: '', target: { op: '≈', value: 30_000 }, source: SOURCE },
    { name: 'files', unit: '', target: { op: '≈', value: 400_000 }, source: SOURCE },
    { name: 'hosts', unit: '', target: { op: '≈', value: 600 }, source: SOURCE },
    { name: 'netblocks', unit: '', target: { op: '≈', value: 2000 }, source: SOURCE },
    { name: 'generate wall time', unit: 's' },
    { name: 'generate peak RSS', unit: 'MB' },
  ],
  async available() {
    return null;
  },
  async run(ctx) {
    const cached = readWorld(ctx.worldDir);
    if (!cached) throw new Error(`no world in ${ctx.worldDir}`);
    const w = cached.summary;
    // A smoke run regenerates (cheap) to prove determinism; a full run reports the
    // cached world's own generation figures instead of writing 400,000 files again.
    let gen: { wallMs: number; rss: number | null; note: string };
    if (ctx.smoke) {
      const r = await runChild<WorldSummary>(path.join(REPO_ROOT, 'bench', 'tasks.ts'), 'generateTask', { scale: ctx.scale, seed: ctx.seed, out: path.join(ctx.workDir, 'world'), tree: true, repoRoot: REPO_ROOT }, { signal: ctx.signal });
      const strip = (x: WorldSummary) => JSON.stringify({ ...x, durationMs: 0, peakRssBytes: 0 });
      if (strip(r.value) !== strip(w)) throw new Error('regenerating the world with the same seed gave a different summary: the generator is not deterministic');
      gen = { wallMs: r.wallMs, rss: r.maxRssBytes, note: 'regenerated in this run: same summary as the cached world (deterministic)' };
    } else {
      gen = { wallMs: w.durationMs, rss: w.peakRssBytes ?? null, note: `when ${path.relative(REPO_ROOT, ctx.worldDir)} was generated (cached; delete it to remeasure)` };
    }
    const s = ctx.scale;
    // The ≈ targets are the Fedora sizes, so they apply at scale 1 only.
    const f = (name: string, value: number, target?: number, note?: string): Figure => ({
      benchmark: 'generate', name, value, unit: '', ...(target !== undefined && s === 1 ? { target: { op: '≈' as const, value: target }, source: SOURCE } : {}), ...(note ? { note } : {}),
    });
    return [
      f('repo/arch pairs', w.repositories, 1200),
      f('directories', w.directories, 30_000),
      f('files', w.files, 400_000, `${(w.apparentBytes / 1e12).toFixed(2)} TB apparent, sparse`),
      f('hosts', w.hosts, 600, `${w.publicHosts} public in ${w.countries} countries, ${w.privateHosts} private`),
      f('netblocks', w.netblocks, 2000, `${w.ipv6Netblocks} IPv6; ${w.asnClientHosts} asn_clients, ${w.internet2Hosts} Internet2 hosts`),
      { benchmark: 'generate', name: 'generate wall time', value: gen.wallMs / 1000, unit: 's', note: gen.note },
      { benchmark: 'generate', name: 'generate peak RSS', value: gen.rss === null ? null : mb(gen.rss), unit: 'MB', note: gen.rss === null ? 'not recorded by the generator that made this world' : undefined },
    ];
  },
};
