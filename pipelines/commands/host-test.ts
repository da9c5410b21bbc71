// `mirrorsmith host test NAME`: functional tests of one mirror (see admin/host-test.ts).
import fs from 'node:fs';
import type { Command } from 'commander';
import type { CliEnv } from '../cli.ts';
import { testHost, type CheckResult } from '../admin/host-test.ts';
import { withApp } from '../core/context.ts';
import { UsageError } from '../core/errors.ts';
import { formatTable } from '../core/table.ts';

export function registerHostTestCommand(env: CliEnv): void {
  const host: Command = env.program.commands.find((c) => c.name() === 'host') ?? env.program.command('host').description('mirror hosts');
  host
    .command('test')
    .description('functional tests of a mirror as the project sees it: reachability per address family, TLS, current repomd.xml, Range, large-file size, rsync, keep-alive, headers')
    .argument('<name>', 'host name as registered')
    .option('--json', 'machine-readable output')
    .option('--timeout <ms>', 'per-request timeout in milliseconds', '20000')
    .option('--ca-file <pem>', 'extra trusted CA certificates for https checks')
    .action(
      env.action((name: string, o: { json?: boolean; timeout: string; caFile?: string }) =>
        withApp({ ...env.globals(), holder: `host test ${name}` }, async (app) => {
          const timeoutMs = Number(o.timeout);
          if (!Number.isInteger(timeoutMs) || timeoutMs < 100) throw new UsageError(`--timeout ${o.timeout}: a whole number of milliseconds ≥ 100`);
          const results = await testHost(app.db, name, { timeoutMs, signal: env.signal, ca: o.caFile ? fs.readFileSync(o.caFile) : undefined });
          if (!results) throw new UsageError(`no host named ${JSON.stringify(name)} (see 'mirrorsmith host list')`);
          if (o.json) env.out(JSON.stringify({ host: name, results }, null, 2));
          else env.out(results.length ? formatTable(['status', 'check', 'family', 'url', 'evidence'], results.map(row)) : `${name} has no URLs to test`);
          return results.some((r) => r.status === 'fail') ? 1 : 0;
        }),
      ),
    );
}

function row(r: CheckResult): string[] {
  return [r.status.toUpperCase(), r.check, r.family ? `IPv${r.family}` : '-', r.url, r.evidence];
}
