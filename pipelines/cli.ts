#!/usr/bin/env -S npx tsx
// Parses argv and nothing else: each command lives in commands/*.ts and returns an
// exit code, which is put in process.exitCode here (never process.exit mid-run).
import { Command, CommanderError, Option } from 'commander';
import { UsageError, ValidationError, LockHeldError, coerceError } from './core/errors.ts';
import type { GlobalOptions } from './core/context.ts';
import { COMMANDS } from './commands/index.ts';

export interface CliEnv {
  program: Command;
  /** Global options of the root command (config path, log format…). */
  globals(): GlobalOptions & { configExplicit: boolean };
  /** Wraps an action: errors become messages and exit codes. */
  action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void>;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
  /** Where tables and JSON go (stdout). */
  out(text: string): void;
}

export function buildProgram(): { program: Command; env: CliEnv } {
  const program = new Command('mirrorsmith')
    .description('Crawl a mirror network and emit static mirrorlists, metalinks and nginx maps served by a stock nginx.')
    .addOption(new Option('-c, --config <file>', 'configuration file').default('mirrorsmith.yaml'))
    .addOption(new Option('--log-format <format>', 'log line format').choices(['text', 'json']).default('text'))
    .option('-v, --verbose', 'debug logging')
    .option('-q, --quiet', 'warnings and errors only')
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: false })
    .exitOverride();

  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) return;
    process.stderr.write(`\nreceived ${sig}: finishing running work, then stopping (send again to force)\n`);
    controller.abort(new Error(`cancelled by ${sig}`));
    process.once(sig, () => process.kill(process.pid, sig));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const env: CliEnv = {
    program,
    globals() {
      const o = program.opts<{ config: string; logFormat: 'text' | 'json'; verbose?: boolean; quiet?: boolean }>();
      return { ...o, configExplicit: program.getOptionValueSource('config') !== 'default' };
    },
    action(fn) {
      return async (...args) => {
        try {
          process.exitCode = (await fn(...args)) ?? 0;
        } catch (thrown) {
          process.exitCode = reportError(thrown, env.globals().verbose);
        }
      };
    },
    signal: controller.signal,
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : text + '\n'),
  };
  for (const register of COMMANDS) register(env);
  return { program, env };
}

export function reportError(thrown: unknown, verbose = false): number {
  const err = coerceError(thrown);
  if (err instanceof ValidationError || err instanceof UsageError) {
    process.stderr.write(`mirrorsmith: ${err.message}\n`);
    return 2;
  }
  if (err instanceof LockHeldError) {
    process.stderr.write(`mirrorsmith: ${err.message}\n`);
    return 1;
  }
  process.stderr.write(`mirrorsmith: ${verbose && err.stack ? err.stack : err.message}\n`);
  return 1;
}

async function main(argv: string[]): Promise<void> {
  const { program } = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors with 2.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    process.exitCode = reportError(err);
  }
}

await main(process.argv);
