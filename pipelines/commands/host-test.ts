// `mirrorsmith host test NAME | --url URL…`: functional tests of one mirror (see admin/host-test.ts).
import fs from 'node:fs';
import type { Command } from 'commander';
import type { CliEnv } from '../cli.ts';
import { adHocUrls, testHost, testUrls, type CheckResult } from '../admin/host-test.ts';
import { withApp } from '../core/context.ts';
import { UsageError } from '../core/errors.ts';
import { formatTable } from '../core/table.ts';

export function registerHostTestCommand(env: CliEnv): void {
  const host: Command = env.program.commands.find((c) => c.name() === 'host') ?? env.program.command('host').description('mirror hosts');
  host
    .command('test')
    .description('functional tests of a mirror as the project sees it: reachability per address family, TLS, current repomd.xml, Range, large-file size, rsync, keep-alive, headers')
    .argument('[name]', 'host name as registered (its URLs from the database)')
    .option('--url <url>', 'test this URL of a category top instead (repeatable; a mirror not registered yet)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--category <name>', 'with --url: the category the URLs carry (default: the one whose top directory ends the URL path, or the only one)')
    .option('--json', 'machine-readable output')
    .option('--timeout <ms>', 'per-request timeout in milliseconds', '20000')
    .option('--ca-file <pem>', 'extra trusted CA certificates for https checks')
    .addHelpText(
      'after',
      '\nEach check prints PASS, WARN or FAIL with its evidence, compared with what scan-master saw on the master.\n' +
        'Exit code: 0 no check failed, 1 a check failed, 2 usage error (unknown host, bad --url).\n' +
        'Before registering: mirrorsmith host test --url https://mirror.example.edu/pub/fedora/linux/ --url rsync://mirror.example.edu/fedora-linux/',
    )
    .action(
      env.action((name: string | undefined, o: { url?: string[]; category?: string; json?: boolean; timeout: string; caFile?: string }) =>
        withApp({ ...env.globals(), holder: `host test ${name ?? 'ad hoc'}` }, async (app) => {
          const timeoutMs = Number(o.timeout);
          if (!Number.isInteger(timeoutMs) || timeoutMs < 100) throw new UsageError(`--timeout ${o.timeout}: a whole number of milliseconds ≥ 100`);
          if (name !== undefined && o.url) throw new UsageError('give a registered host NAME or --url URLs, not both');
          if (name === undefined && !o.url) throw new UsageError("give a registered host NAME (see 'mirrorsmith host list') or --url URL");
          if (o.category !== undefined && !o.url) throw new UsageError('--category goes with --url (a registered host has its categories)');
          const opts = { timeoutMs, signal: env.signal, ca: o.caFile ? readCa(o.caFile) : undefined };
          const results = o.url ? await testUrls(app.db, await adHocUrls(app.db, o.url, o.category), opts) : await testHost(app.db, name!, opts);
          if (!results) throw new UsageError(`no host named ${JSON.stringify(name)} (see 'mirrorsmith host list', or test unregistered URLs with --url)`);
          const label = name ?? null;
          if (o.json) env.out(JSON.stringify({ host: label, urls: o.url ?? null, failed: results.filter((r) => r.status === 'fail').length, results }, null, 2));
          else env.out(results.length ? formatTable(['status', 'check', 'family', 'url', 'evidence'], results.map(row)) : `${name} has no URLs to test`);
          return results.some((r) => r.status === 'fail') ? 1 : 0;
        }),
      ),
    );
}

function readCa(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new UsageError(`--ca-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function row(r: CheckResult): string[] {
  return [r.status.toUpperCase(), r.check, r.family ? `IPv${r.family}` : '-', r.url, r.evidence];
}
