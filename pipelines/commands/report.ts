// `mirrorsmith report` (the private mirror's client), `mirrorsmith host
// set-report-password`, and the `probe` / `ingest` stage commands.
import fs from 'node:fs';
import type { CliEnv } from '../cli.ts';
import { makeLogger, withApp } from '../core/context.ts';
import { UsageError } from '../core/errors.ts';
import { PRIVATE_HOST_SQL } from '../core/private.ts';
import { buildReport, describeStatus, fetchStatus, loadClientConfig, readPassword, uploadReport } from '../report/client.ts';
import { apr1, checkPassword } from '../report/htpasswd.ts';
import { registerStageCommand } from './run.ts';

export function registerReportCommands(env: CliEnv): void {
  registerStageCommand(env, 'probe', (cmd) => cmd.option('--host <name>', 'probe only this host'));
  registerStageCommand(env, 'ingest');

  env.program
    .command('report')
    .description("private mirror: walk the local copy, build the report and PUT it to the mirror network's server (run after each rsync)")
    .option('--report-config <file>', 'the report client config (YAML: server, site, host, password or passwordFile, categories with local paths)')
    .option('--output <file>', 'also write the report JSON to this file (- for stdout)')
    .option('--dry-run', 'build the report but do not upload it')
    .option('--status', "only show the outcome of this host's last report at the server's ingest (exit 1 if it was rejected)")
    .addHelpText('after', '\nThe global option works too: `mirrorsmith report --config report.yaml` reads report.yaml as the report config.')
    .action(env.action((opts: { reportConfig?: string; output?: string; dryRun?: boolean; status?: boolean }) => reportCommand(env, { ...opts, reportConfig: reportConfigPath(opts, env) })));

  const host = env.program.commands.find((c) => c.name() === 'host') ?? env.program.command('host').description('mirror hosts');
  host
    .command('set-report-password')
    .description("store a private host's report upload password (only its apr1 hash is kept; the next build writes the htpasswd file)")
    .argument('<name>', 'host name')
    .option('--password-file <file>', 'read the password from the first line of this file')
    .option('--stdin', 'read the password from the first line of standard input')
    .action(env.action((name: string, opts: { passwordFile?: string; stdin?: boolean }) => setReportPassword(env, name, opts)));
}

/** `--config` on the root command doubles as the report config when given explicitly. */
export function reportConfigPath(opts: { reportConfig?: string }, env: CliEnv): string {
  if (opts.reportConfig) return opts.reportConfig;
  const g = env.globals();
  if (g.configExplicit) return g.config;
  throw new UsageError('report: give the report client config with --report-config FILE');
}

async function reportCommand(env: CliEnv, opts: { reportConfig: string; output?: string; dryRun?: boolean; status?: boolean }): Promise<number> {
  const cfg = loadClientConfig(opts.reportConfig);
  const log = makeLogger(env.globals()).child({ cmd: 'report' });
  // The password is checked before the (possibly long) walk.
  const password = opts.dryRun ? '' : readPassword(cfg);
  const target = { server: cfg.server, site: cfg.site, host: cfg.host, password };
  if (opts.status) {
    const st = await fetchStatus(target, { timeoutMs: cfg.timeoutMs, signal: env.signal });
    if (!st.ok) {
      log.error(st.message);
      return 1;
    }
    env.out(describeStatus(st.status));
    return st.status?.outcome === 'rejected' ? 1 : 0;
  }
  const t0 = performance.now();
  const report = await buildReport(cfg, { signal: env.signal });
  const body = Buffer.from(JSON.stringify(report));
  const dirs = report.categories.reduce((n, c) => n + c.directories.length, 0);
  const repos = report.categories.reduce((n, c) => n + Object.keys(c.repomd).length, 0);
  log.info(`${dirs} directories, ${repos} repositories in ${report.categories.length} categor${report.categories.length === 1 ? 'y' : 'ies'}, ${body.length} bytes, walked in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  if (opts.output === '-') env.out(JSON.stringify(report, null, 2));
  else if (opts.output) fs.writeFileSync(opts.output, JSON.stringify(report, null, 2) + '\n');
  if (opts.dryRun) return 0;
  // What happened to the previous report: the only way a mirror admin hears of a rejection.
  const previous = await fetchStatus(target, { timeoutMs: cfg.timeoutMs, signal: env.signal });
  const outcome = await uploadReport(body, target, { timeoutMs: cfg.timeoutMs, signal: env.signal });
  if (outcome.ok) {
    if (previous.ok) log.info(`previous: ${describeStatus(previous.status)}`);
    log.info(`uploaded to ${outcome.url} (HTTP ${outcome.status}); the server checks it at its next ingest run (see --status)`);
    return 0;
  }
  log.error(outcome.message);
  return 1;
}

async function setReportPassword(env: CliEnv, name: string, opts: { passwordFile?: string; stdin?: boolean }): Promise<number> {
  if (Boolean(opts.passwordFile) === Boolean(opts.stdin)) throw new UsageError('host set-report-password: give exactly one of --password-file FILE and --stdin');
  let text: string;
  try {
    text = opts.stdin ? fs.readFileSync(0, 'utf8') : fs.readFileSync(opts.passwordFile!, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the password from ${opts.stdin ? 'standard input' : opts.passwordFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const password = (text.split(/\r?\n/)[0] ?? '').trimEnd();
  const bad = checkPassword(password);
  if (bad) throw new UsageError(`host set-report-password: ${bad}`);
  const hash = apr1(password);
  return withApp({ ...env.globals(), holder: 'host set-report-password' }, async (app) => {
    const r = await app.db.query<{ private: boolean; site: string }>(
      `UPDATE host h SET report_password_hash = $2 FROM site s WHERE s.id = h.site_id AND h.name = $1 RETURNING ${PRIVATE_HOST_SQL} AS private, s.name AS site`,
      [name, hash],
    );
    const row = r.rows[0];
    if (!row) throw new UsageError(`no host named ${JSON.stringify(name)}`);
    env.out(`report password of ${name} set (apr1 hash stored); it uploads as user "${row.site}/${name}" after the next build`);
    if (!row.private) app.log.warn(`${name} is a public host: its reports will be rejected at ingest until it is made private in the registry (host or site private: true)`);
    return 0;
  });
}
