// `mirrorsmith run [--stages a,b]` and one command per stage (`mirrorsmith crawl` …).
import type { Command } from 'commander';
import type { CliEnv } from '../cli.ts';
import { withApp } from '../core/context.ts';
import { UsageError } from '../core/errors.ts';
import { asRunLockError, runPipeline } from '../orchestrator.ts';
import { STAGES, selectStages, stageNames } from '../stages/index.ts';

export function registerRunCommands(env: CliEnv): void {
  env.program
    .command('run')
    .description(`run the pipeline stages in order under the run lock (${stageNames().join(' → ') || 'none yet'})`)
    .option('--stages <list>', 'comma-separated subset of stages, kept in pipeline order')
    .option('--force', 'publish even when the shrink guard objects')
    .option('--dry-run', 'stages that support it compute but do not write')
    .action(env.action((opts: { stages?: string; force?: boolean; dryRun?: boolean }) => runCommand(env, opts.stages?.split(',').map((s) => s.trim()).filter(Boolean), opts)));
}

export async function runCommand(
  env: CliEnv,
  names: string[] | undefined,
  opts: { force?: boolean; dryRun?: boolean; options?: Record<string, unknown> },
): Promise<number> {
  let stages;
  try {
    stages = selectStages(names);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const holder = `run ${stages.map((s) => s.name).join(',')}`;
  // On PGlite the lock is taken when the database opens: same wording as the pg advisory lock.
  return withApp({ ...env.globals(), holder }, async (app) => {
    const outcome = await runPipeline(app, { stages, signal: env.signal, force: opts.force, dryRun: opts.dryRun, options: opts.options, holder });
    const line = outcome.records.map((r) => `${r.stage}:${r.status}`).join(' ');
    app.log.info(`run ${outcome.runId} finished with exit code ${outcome.exitCode} (${line})`);
    return outcome.exitCode;
  }).catch((err: unknown) => {
    throw asRunLockError(err);
  });
}

/** Registers `mirrorsmith <stage>` running that one stage through the orchestrator. */
export function registerStageCommand(env: CliEnv, stageName: string, configure?: (cmd: Command) => Command): Command {
  const stage = STAGES.find((s) => s.name === stageName);
  if (!stage) throw new Error(`no stage named ${stageName}`);
  let cmd = env.program.command(stageName).description(stage.description).option('--dry-run', 'compute but do not write').option('--force', 'override safety guards');
  if (configure) cmd = configure(cmd);
  cmd.action(
    env.action((opts: Record<string, unknown>) =>
      runCommand(env, [stageName], { force: Boolean(opts.force), dryRun: Boolean(opts.dryRun), options: opts }),
    ),
  );
  return cmd;
}
