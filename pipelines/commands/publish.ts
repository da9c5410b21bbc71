// `mirrorsmith publish`, `mirrorsmith rollback [ID]`, `mirrorsmith generations`.
import type { CliEnv } from '../cli.ts';
import { makeLogger, readConfig } from '../core/context.ts';
import { resolvePath } from '../core/config.ts';
import { formatTable } from '../core/table.ts';
import { currentGeneration, listGenerations, readHistory, readLoaded } from '../serve/generations.ts';
import { rollback } from '../stages/publish.ts';
import { registerStageCommand } from './run.ts';

export function registerPublishCommands(env: CliEnv): void {
  registerStageCommand(env, 'publish', (cmd) =>
    cmd
      .option('--generation <id>', 'publish this generation instead of the newest never-live one')
      .option('--skip-nginx-test', 'publish without nginx -t when nginx is not installed (a build-only machine)')
      .addHelpText('after', '\nThe shrink guard refuses a generation with fewer than publish.minShare of the live one\'s hosts listed (in at least one list) or repositories served (with at least one mirror); --force overrides it.'),
  );

  env.program
    .command('rollback [id]')
    .description('switch out/current back to an older kept generation (default: the newest one older than the live one); needs no database')
    .option('--skip-nginx-test', 'roll back without nginx -t when nginx is not installed')
    .action(
      env.action(async (id: string | undefined, opts: { skipNginxTest?: boolean }) => {
        const g = env.globals();
        const config = readConfig(g.config, g.configExplicit);
        const log = makeLogger(g);
        const res = await rollback(config, { id, log, signal: env.signal, skipNginxTest: opts.skipNginxTest });
        env.out(`current is now ${res.to} (was ${res.from ?? 'nothing'}; nginx -t ${res.nginxTest})`);
        return 0;
      }),
    );

  env.program
    .command('generations')
    .description('list the kept generations, which one is live, what each nginx we know of loaded, and the publish history')
    .option('--json', 'machine-readable output')
    .action(
      env.action(async (opts: { json?: boolean }) => {
        const g = env.globals();
        const config = readConfig(g.config, g.configExplicit);
        const outDir = resolvePath(config, config.output.dir);
        const live = currentGeneration(outDir);
        const history = readHistory(outDir);
        const rows = listGenerations(outDir).reverse().map((gen) => {
          const lastLive = history.filter((e) => e.id === gen.id).at(-1)?.at ?? null;
          return { id: gen.id, live: gen.id === live, createdAt: gen.createdAt.toISOString(), lastLiveAt: lastLive, counts: gen.manifest.counts };
        });
        if (opts.json) {
          env.out(JSON.stringify({ outDir, current: live, generations: rows, loaded: readLoaded(outDir), history: history.slice(-50) }, null, 2));
          return 0;
        }
        if (!rows.length) {
          env.out(`no generations in ${outDir}/generations yet (run \`mirrorsmith run\`)`);
          return 0;
        }
        env.out(
          formatTable(
            ['', 'generation', 'built', 'hosts', 'repositories', 'last live'],
            rows.map((r) => [r.live ? '*' : '', r.id, r.createdAt, String(r.counts.listedHosts ?? r.counts.hosts ?? '-'), String(r.counts.servedRepositories ?? r.counts.repositories ?? '-'), r.lastLiveAt ?? '-']),
          ),
        );
        for (const l of readLoaded(outDir).filter((x) => !x.gone)) env.out(`nginx (${l.name}${l.pid ? `, pid ${l.pid}` : ''}) loaded ${l.id} at ${l.at}`);
        return 0;
      }),
    );
}
