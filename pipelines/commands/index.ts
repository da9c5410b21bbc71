// Every CLI command module; each registers its commands on the program.
import type { CliEnv } from '../cli.ts';
import { registerRunCommands } from './run.ts';
import { registerDbCommands } from './db.ts';
import { registerRepoCommands } from './repo.ts';
import { registerRegistryCommands } from './registry.ts';
import { registerAdminCommands } from './admin.ts';
import { registerHostTestCommand } from './host-test.ts';
import { registerLastSyncCommand } from './last-sync.ts';
import { registerDemoCommand } from './demo.ts';
import { registerPublishCommands } from './publish.ts';
import { registerServeCommands } from './serve.ts';
import { registerCacheCommands } from './cache.ts';
import { registerBenchCommands } from './bench.ts';
import { registerCrawlCommands } from '../crawl/command.ts';
import { registerReportCommands } from './report.ts';
import { registerBuildCommand } from '../build/command.ts';

export const COMMANDS: Array<(env: CliEnv) => void> = [registerRunCommands, registerDemoCommand, registerDbCommands, registerRepoCommands, registerRegistryCommands, registerAdminCommands, registerHostTestCommand, registerLastSyncCommand, registerCacheCommands, registerPublishCommands, registerServeCommands, registerBenchCommands, registerCrawlCommands, registerReportCommands, registerBuildCommand];
