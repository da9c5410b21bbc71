// `mirrorsmith build`: the build stage on its own (through the orchestrator, so it
// takes the run lock and records a run row like `mirrorsmith run --stages build`).
import type { CliEnv } from '../cli.ts';
import { registerStageCommand } from '../commands/run.ts';

export function registerBuildCommand(env: CliEnv): void {
  registerStageCommand(env, 'build');
}
