// `mirrorsmith bench generate`: the synthetic Fedora-scale world the benchmark
// harness (`npm run bench`) measures against.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliEnv } from '../cli.ts';
import { UsageError } from '../core/errors.ts';
import { formatTable } from '../core/table.ts';
import { generateWorld } from '../bench/generate.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function registerBenchCommands(env: CliEnv): void {
  const bench = env.program.command('bench').description('synthetic Fedora-scale network for the benchmarks (`npm run bench` runs them)');
  bench
    .command('generate')
    .description('write a deterministic Fedora-shaped world: master tree (sparse files, real repodata), registry, config, crawl state')
    .requiredOption('--out <dir>', 'output directory (replaced if it holds a previous world)')
    .option('--scale <k>', 'multiplies hosts, netblocks and repositories (1 ≈ 600 hosts, 1,150 repos, 400,000 files)', '1')
    .option('--seed <n>', 'PRNG seed; the same seed gives byte-identical output', '1')
    .option('--no-tree', 'plan the master tree (world.json) without writing its files')
    .option('--json', 'print the summary as JSON')
    .action(
      env.action(async (opts: { out: string; scale: string; seed: string; tree: boolean; json?: boolean }) => {
        const scale = Number(opts.scale);
        const seed = Number(opts.seed);
        if (!(scale > 0 && scale <= 64)) throw new UsageError(`--scale: expected a number in (0, 64], got "${opts.scale}"`);
        if (!Number.isInteger(seed) || seed < 0) throw new UsageError(`--seed: expected a non-negative integer, got "${opts.seed}"`);
        const summary = await generateWorld({
          scale,
          seed,
          out: opts.out,
          tree: opts.tree,
          repoRoot: REPO_ROOT,
          onProgress: (m) => {
            if (!env.globals().quiet) process.stderr.write(`bench generate: ${m}\n`);
          },
        });
        if (opts.json) {
          env.out(JSON.stringify(summary, null, 2));
          return 0;
        }
        env.out(formatTable(['figure', 'value'], Object.entries(summary).map(([k, v]) => [k, String(v)])));
        env.out(`world written to ${path.resolve(opts.out)}: mirrorsmith.yaml, registry/, master/, world.json, crawl-state.json`);
        return 0;
      }),
    );
}
