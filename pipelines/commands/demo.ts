// `mirrorsmith demo` — what `npm start` runs (see pipelines/demo/run.ts).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import type { CliEnv } from '../cli.ts';
import { resolvePath } from '../core/config.ts';
import { withApp, type AppContext } from '../core/context.ts';
import { demoPaths, pushHistory, reportPrivateMirrors, startDemoNetwork, writeDemoFiles } from '../demo/run.ts';
import { DEMO_MIRROR_PORT, demoHosts } from '../demo/network.ts';
import { exampleRepository, examplesText, hostOfUrlFrom, loadExampleInputs, pickExamples, readGenerationLists } from '../demo/examples.ts';
import { freshnessSummary, scannedRepositories } from '../demo/summary.ts';
import { asRunLockError, runPipeline } from '../orchestrator.ts';
import { findNginx } from '../serve/nginx.ts';
import { STAGES } from '../stages/index.ts';

/**
 * The demo must work on a machine without nginx, so there (and only in the demo)
 * publish skips `nginx -t`, saying so loudly. `mirrorsmith run` never does this on its own.
 */
export function demoPublishOptions(nginxPath: string | null): { options: Record<string, unknown>; note: string | null } {
  if (nginxPath) return { options: {}, note: null };
  return {
    options: { skipNginxTest: true },
    note:
      '*** NOTE: nginx is not installed. The demo publishes its generation WITHOUT checking it with `nginx -t`\n' +
      '*** (only the demo does this; `mirrorsmith run` refuses unless publish.requireNginxTest is false or\n' +
      '*** --skip-nginx-test is given). out/current is complete and browsable as files; to serve it and try\n' +
      '*** the example URLs below, install nginx (apt-get install nginx-light) and run `mirrorsmith serve`.',
  };
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1024 || n > 65534) throw new InvalidArgumentError('must be a port number between 1024 and 65534 (rsync uses the next one)');
  return n;
}

export function registerDemoCommand(env: CliEnv): void {
  env.program
    .command('demo')
    .description('run the whole pipeline over a generated demo mirror network on 127.0.0.1 (npm start); writes demo/ once, leaves out/current')
    .option('--dir <dir>', 'where the demo config, registry, master tree and database live', 'demo')
    .option('--out <dir>', 'output directory for generations (out/current is the published one)', 'out')
    .option('--mirror-port <port>', `port of the simulated mirrors when demo/ is first written (rsync: the next one)`, port, DEMO_MIRROR_PORT)
    .action(
      env.action(async (o: { dir: string; out: string; mirrorPort: number }) => {
        const p = demoPaths(o.dir);
        const created = await writeDemoFiles(p, path.resolve(o.out), o.mirrorPort);
        const configArg = path.relative(process.cwd(), p.configFile) || p.configFile;
        env.out(created ? `wrote the demo network to ${p.dir} (config ${configArg})` : `using the demo network in ${p.dir}`);
        const nginx = findNginx();
        const publish = demoPublishOptions(nginx);
        if (publish.note) env.out(publish.note);
        return withApp({ ...env.globals(), config: p.configFile, configExplicit: true, holder: 'demo' }, async (app) => {
          await pushHistory(app, p, env.signal);
          const network = await startDemoNetwork(p, which('rsync'));
          app.log.info(`simulated mirrors on http://127.0.0.1:${network.http.port}/<host>/${network.rsync ? ' and rsync' : ' (rsync not installed: http only)'}`);
          let code: number;
          try {
            const reported = await reportPrivateMirrors(app, p, env.signal);
            if (reported.length) app.log.info(`private mirror report(s) deposited for ingest: ${reported.join(', ')}`);
            const outcome = await runPipeline(app, { stages: STAGES, signal: env.signal, holder: 'demo', options: publish.options });
            code = outcome.exitCode;
            env.out(`\npipeline run ${outcome.runId}: ${outcome.records.map((r) => `${r.stage} ${r.status}`).join(', ')}`);
          } finally {
            await network.stop();
          }
          env.out(await scannedRepositories(app.db));
          env.out(await freshnessSummary(app.db, new Map(demoHosts().map((h) => [h.name, h.behaviour]))));
          env.out(await publishedExamples(app));
          env.out(serveHint(app, configArg, nginx));
          if (publish.note) env.out('\n' + publish.note);
          return code;
        }).catch((err: unknown) => {
          throw asRunLockError(err);
        });
      }),
    );
}

/** Example URLs worked out from out/current (nothing when no generation was published). */
async function publishedExamples(app: AppContext): Promise<string> {
  const current = path.join(resolvePath(app.config, app.config.output.dir), 'current');
  if (!fs.existsSync(path.join(current, 'lists/index.json'))) return '\nNo generation was published, so there are no example URLs (see the errors above).';
  const gen = readGenerationLists(current, await hostOfUrlFrom(app.db));
  const repo = exampleRepository(gen);
  if (!repo) return '\nThe published generation lists no mirror for any repository: no example URLs.';
  return examplesText(pickExamples(gen, await loadExampleInputs(app.db, app.config), repo), repo);
}

function serveHint(app: AppContext, configArg: string, nginx: string | null): string {
  const out = path.join(resolvePath(app.config, app.config.output.dir), 'current');
  const rel = path.relative(process.cwd(), out) || out;
  return [
    `\nThe published generation is ${rel} (static files: lists, nginx fragments, publiclist/, status/, map.svg, metrics/); the database is ${app.db.description}.`,
    nginx
      ? `Serve it with stock nginx: npx mirrorsmith --config ${configArg} serve --port 8080   then open http://127.0.0.1:8080/ and try the curl lines above.`
      : `To serve it: install nginx (apt-get install nginx-light), then npx mirrorsmith --config ${configArg} serve --port 8080`,
  ].join('\n');
}

function which(tool: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}
