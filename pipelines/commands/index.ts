// Every CLI command module; each registers its commands on the program.
import type { CliEnv } from '../cli.ts';
import { registerRunCommands } from './run.ts';
import { registerDbCommands } from './db.ts';
import { registerPublishCommands } from './publish.ts';
import { registerServeCommands } from './serve.ts';
import { registerCacheCommands } from './cache.ts';
import { registerReportCommands } from './report.ts';

export const COMMANDS: Array<(env: CliEnv) => void> = [registerRunCommands, registerDbCommands, registerCacheCommands, registerPublishCommands, registerServeCommands, registerReportCommands];
