// `mirrorsmith demo` — what `npm start` runs (see pipelines/demo/run.ts).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { CliEnv } from '../cli.ts';
import { withApp } from '../core/context.ts';
import { formatTable } from '../core/table.ts';
import type { Queryable } from '../core/db.ts';
import { demoPaths, pushHistory, startDemoNetwork, writeDemoFiles } from '../demo/run.ts';
import { demoHosts } from '../demo/network.ts';
import { runPipeline } from '../orchestrator.ts';
import { STAGES } from '../stages/index.ts';

export function registerDemoCommand(env: CliEnv): void {
  env.program
    .command('demo')
    .description('run the whole pipeline over a generated demo mirror network on 127.0.0.1 (npm start); writes demo/ once, leaves out/current')
    .option('--dir <dir>', 'where the demo config, registry, master tree and database live', 'demo')
    .option('--out <dir>', 'output directory for generations (out/current is the published one)', 'out')
    .action(
      env.action(async (o: { dir: string; out: string }) => {
        const p = demoPaths(o.dir);
        const created = await writeDemoFiles(p, path.resolve(o.out));
        env.out(created ? `wrote the demo network to ${p.dir} (config ${path.relative(process.cwd(), p.configFile)})` : `using the demo network in ${p.dir}`);
        return withApp({ ...env.globals(), config: p.configFile, configExplicit: true, holder: 'demo' }, async (app) => {
          await pushHistory(app, p, env.signal);
          const network = await startDemoNetwork(p, which('rsync'));
          app.log.info(`simulated mirrors on http://127.0.0.1:${network.http.port}/<host>/${network.rsync ? ' and rsync' : ' (rsync not installed: http only)'}`);
          let code: number;
          try {
            const outcome = await runPipeline(app, { stages: STAGES, signal: env.signal, holder: 'demo' });
            code = outcome.exitCode;
            env.out(`\npipeline run ${outcome.runId}: ${outcome.records.map((r) => `${r.stage} ${r.status}`).join(', ')}`);
          } finally {
            await network.stop();
          }
          env.out(await freshnessSummary(app.db));
          env.out(`\nBrowse the result: npx mirrorsmith --config ${path.relative(process.cwd(), p.configFile)} serve --port 8080, then open http://127.0.0.1:8080/`);
          return code;
        });
      }),
    );
}

/** Per demo mirror: how it behaves, how many directories are up to date, and why the others are not. */
async function freshnessSummary(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ name: string; fresh: number; stale: number; reason: string | null; disabled: string | null; failures: number }>(
    `SELECT h.name, count(*) FILTER (WHERE hcd.up2date)::int AS fresh, count(*) FILTER (WHERE NOT hcd.up2date)::int AS stale,
            min(hcd.reason) FILTER (WHERE NOT hcd.up2date) AS reason, h.disable_reason AS disabled, h.crawl_failures AS failures
       FROM host h LEFT JOIN host_category hc ON hc.host_id = h.id LEFT JOIN host_category_dir hcd ON hcd.host_category_id = hc.id
      GROUP BY h.id ORDER BY h.name`,
  );
  const behaviour = new Map(demoHosts().map((h) => [h.name, h.behaviour]));
  return (
    '\nWhat the crawler found:\n' +
    formatTable(
      ['mirror', 'acts', 'fresh dirs', 'stale dirs', 'why not fresh'],
      rows.map((r) => [r.name, behaviour.get(r.name) ?? '-', String(r.fresh), String(r.stale), r.stale ? (r.reason ?? '') : r.failures ? `${r.failures} failed crawl(s)${r.disabled ? `: ${r.disabled}` : ''}` : '']),
    )
  );
}

function which(tool: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}
