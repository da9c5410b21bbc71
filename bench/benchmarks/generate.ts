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
    // Measure a fresh generation into the work dir (the cached world stays for the others).
    const out = path.join(ctx.workDir, 'world');
    const r = await runChild<WorldSummary>(path.join(REPO_ROOT, 'bench', 'tasks.ts'), 'generateTask', { scale: ctx.scale, seed: ctx.seed, out, tree: true, repoRoot: REPO_ROOT }, { signal: ctx.signal });
    const w = readWorld(ctx.worldDir)?.summary ?? r.value;
    const s = ctx.scale;
    const f = (name: string, value: number, target?: number, note?: string): Figure => ({
      benchmark: 'generate', name, value, unit: '', ...(target !== undefined ? { target: { op: '≈' as const, value: Math.round(target * s) }, source: s === 1 ? SOURCE : `issue 9 × scale ${s}` } : {}), ...(note ? { note } : {}),
    });
    // The generated copy must equal the cached one: the generator is deterministic.
    const same = JSON.stringify({ ...r.value, durationMs: 0 }) === JSON.stringify({ ...w, durationMs: 0 });
    return [
      f('repo/arch pairs', w.repositories, 1200),
      f('directories', w.directories, 30_000),
      f('files', w.files, 400_000, `${(w.apparentBytes / 1e12).toFixed(2)} TB apparent, sparse`),
      f('hosts', w.hosts, 600, `${w.publicHosts} public in ${w.countries} countries, ${w.privateHosts} private`),
      f('netblocks', w.netblocks, 2000, `${w.ipv6Netblocks} IPv6; ${w.asnClientHosts} asn_clients, ${w.internet2Hosts} Internet2 hosts`),
      { benchmark: 'generate', name: 'generate wall time', value: r.wallMs / 1000, unit: 's', note: same ? 'same summary as the cached world (deterministic)' : 'DIFFERS from the cached world' },
      { benchmark: 'generate', name: 'generate peak RSS', value: mb(r.maxRssBytes), unit: 'MB' },
    ];
  },
};
