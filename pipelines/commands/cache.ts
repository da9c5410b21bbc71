// `mirrorsmith cache init|expire|seed|status`: the site-local caching mirror
// (InstantMirror). These commands need no database.
import path from 'node:path';
import type { CliEnv } from '../cli.ts';
import { initCache } from '../cache/init.ts';
import { listPresets, loadCacheConfig } from '../cache/config.ts';
import { expireCache } from '../cache/expire.ts';
import { seedFromIso } from '../cache/seed.ts';
import { cacheStatus } from '../cache/status.ts';
import { formatTable } from '../core/table.ts';

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerCacheCommands(env: CliEnv): void {
  const cache = env.program.command('cache').description('a site-local caching mirror: nginx keeps the upstream tree, an expiry job keeps repodata correct');

  cache
    .command('init')
    .description('write the nginx site, cache.yaml and systemd expiry units for a caching mirror')
    .requiredOption('--preset <name>', `tree layout and expiry policies (${listPresets().join(', ')})`)
    .requiredOption('--upstream <url>', 'upstream base URL (http/https); repeat for fallbacks, first preferred', collect, [])
    .requiredOption('--root <dir>', 'local directory holding the tree, laid out like the upstream')
    .option('--out <dir>', 'where to write the generated files', 'cache-site')
    .option('--listen <addr>', 'nginx listen address (PORT, ADDR:PORT, [ADDR6]:PORT)', '80')
    .option('--server-name <name>', 'nginx server_name', '_')
    .option('--user <user>', "user the expiry job runs as: nginx's worker user, who owns the cache root", 'www-data')
    .option('--install-dir <dir>', 'mirrorsmith checkout (after npm ci) the expiry unit runs (default: the one running this command)')
    .option('--node <path>', 'absolute path of the node binary the expiry unit runs (default: the one running this command)')
    .option('--force', 'overwrite existing files')
    .action(
      env.action(
        async (o: { preset: string; upstream: string[]; root: string; out: string; listen: string; serverName: string; user: string; installDir?: string; node?: string; force?: boolean }) => {
          const r = initCache({
            preset: o.preset,
            upstreams: o.upstream,
            root: o.root,
            outDir: o.out,
            listen: o.listen,
            serverName: o.serverName,
            user: o.user,
            installDir: o.installDir,
            node: o.node,
            force: o.force,
          });
          env.out(`wrote:\n${r.files.map((f) => `  ${f}`).join('\n')}`);
          const site = r.files.find((f) => f.endsWith('.conf'))!;
          const units = r.files.filter((f) => f.includes(`${path.sep}systemd${path.sep}`));
          env.out(
            [
              'next:',
              `  chown -R ${o.user}: ${r.config.root}`,
              `  ln -s ${site} /etc/nginx/conf.d/   # or include it in nginx's http block`,
              `  nginx -t && nginx -s reload`,
              `  cp ${units.join(' ')} /etc/systemd/system/ && systemctl daemon-reload && systemctl enable --now mirrorsmith-cache-expire.timer`,
            ].join('\n'),
          );
        },
      ),
    );

  cache
    .command('expire')
    .description('for each due tree, expire repodata and packages that changed upstream (run by the timer)')
    .option('--cache-config <file>', 'cache.yaml written by cache init', 'cache-site/cache.yaml')
    .option('--dry-run', 'print what would be expired, change nothing')
    .option('--all', 'check every tree now, ignoring policies')
    .option('--json', 'machine-readable output')
    .action(
      env.action(async (o: { cacheConfig: string; dryRun?: boolean; all?: boolean; json?: boolean }) => {
        const config = loadCacheConfig(o.cacheConfig);
        const result = await expireCache(config, { dryRun: o.dryRun, all: o.all, signal: env.signal });
        if (o.json) env.out(JSON.stringify(result, null, 2));
        else {
          const shown = result.actions.filter((a) => a.action !== 'unchanged' || o.dryRun);
          env.out(shown.length ? formatTable(['action', 'path', 'why'], shown.map((a) => [a.action, a.path, a.reason])) : 'nothing to expire');
          env.out(`${o.dryRun ? '(dry run) ' : ''}${result.actions.filter((a) => a.action === 'repodata-updated').length} repositories updated, ${result.actions.filter((a) => a.action === 'deleted').length} files expired, ${result.errors} errors`);
        }
        return result.errors ? 1 : 0;
      }),
    );

  cache
    .command('seed')
    .description('pre-populate a repository from a DVD ISO, placing only files whose checksums match upstream metadata')
    .option('--cache-config <file>', 'cache.yaml written by cache init', 'cache-site/cache.yaml')
    .requiredOption('--iso <file>', 'the ISO image')
    .requiredOption('--tree <path>', 'repository directory below the cache root, e.g. fedora/linux/releases/41/Everything/x86_64/os')
    .action(
      env.action(async (o: { cacheConfig: string; iso: string; tree: string }) => {
        const r = await seedFromIso(loadCacheConfig(o.cacheConfig), o.iso, o.tree, env.signal);
        env.out(`placed ${r.placed.length}, already present ${r.alreadyPresent.length}, refused ${r.refused.length}, not in upstream metadata ${r.ignored}`);
        for (const f of r.refused) env.out(`  refused ${f.path}: ${f.reason}`);
        return r.refused.length ? 1 : 0;
      }),
    );

  cache
    .command('status')
    .description('size per tree, last expiry run and upstream change, hit/miss counts from the access log')
    .option('--cache-config <file>', 'cache.yaml written by cache init', 'cache-site/cache.yaml')
    .option('--json', 'machine-readable output')
    .action(
      env.action(async (o: { cacheConfig: string; json?: boolean }) => {
        const s = cacheStatus(loadCacheConfig(o.cacheConfig));
        if (o.json) return env.out(JSON.stringify(s, null, 2));
        env.out(`cache root ${s.root}; last expiry run ${s.lastRun ?? 'never'}`);
        env.out(formatTable(['tree', 'policy', 'files', 'MiB', 'last checked', 'last upstream change', 'errors'], s.trees.map((t) => [t.path, t.policy, String(t.files), (t.bytes / 2 ** 20).toFixed(1), t.lastChecked ?? 'never', t.lastUpstreamChange ?? '-', String(t.lastErrors)])));
        if (s.requests) env.out(`requests: ${s.requests.hits} served from disk, ${s.requests.misses} fetched upstream, ${s.requests.errors} errors`);
      }),
    );
}
