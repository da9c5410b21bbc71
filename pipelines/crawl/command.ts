// `mirrorsmith crawl [--host NAME] [--category NAME] [--shard i/N] [--dry-run]`.
import { InvalidArgumentError } from 'commander';
import type { CliEnv } from '../cli.ts';
import { registerStageCommand } from '../commands/run.ts';
import { parseShard } from './verdict.ts';

export function registerCrawlCommands(env: CliEnv): void {
  registerStageCommand(env, 'crawl', (cmd) =>
    cmd
      .option('--host <name>', 'crawl only this host')
      .option('--category <name>', 'crawl only this category')
      .option('--shard <i/N>', 'crawl only hosts whose stable hash falls in shard i of N (1-based), for parallel crawlers on one Postgres', (v: string) => {
        // Checked here so a bad value is a usage error (exit 2) before any run starts.
        try {
          parseShard(v);
        } catch (err) {
          throw new InvalidArgumentError((err as Error).message);
        }
        return v;
      }),
  );
}
