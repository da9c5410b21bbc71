// `scan-master [--category]`, `repo list`, `dir ls PATH`, `file show PATH`: the
// master scan and what it found.
import type { CliEnv } from '../cli.ts';
import { readConfig, withApp } from '../core/context.ts';
import { UsageError } from '../core/errors.ts';
import { formatTable } from '../core/table.ts';
import { fileHistory, findDirectory, listRepositories } from '../master/queries.ts';
import { registerStageCommand } from './run.ts';

const isoTime = (epoch: number | null) => (epoch ? new Date(epoch * 1000).toISOString().replace('.000Z', 'Z') : '-');

export function registerRepoCommands(env: CliEnv): void {
  registerStageCommand(env, 'scan-master', (cmd) =>
    cmd
      .option('--category <name>', 'scan only this category (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
      .option('--full', 'list every directory again (walk), or rebuild every row from the fullfiletimelist, also where ctimes did not change')
      // A misspelt category is a usage error (exit 2), caught before the run starts.
      .hook('preAction', (self) => {
        const names = (self.opts() as { category?: string[] }).category;
        if (!names) return;
        const g = env.globals();
        const known = readConfig(g.config, g.configExplicit).categories.map((c) => c.name);
        const unknown = names.filter((n) => !known.includes(n));
        if (unknown.length) throw new UsageError(`unknown category ${unknown.map((n) => `"${n}"`).join(', ')} (configured: ${known.map((n) => `"${n}"`).join(', ') || 'none'})`);
      }),
  );

  const repo = env.program.command('repo').description('repositories found by scan-master');
  repo
    .command('list')
    .description('repo, arch, directory, current repomd.xml timestamp and alternates')
    .option('--category <name>', 'only this category')
    .option('--json', 'machine-readable output')
    .action(
      env.action((opts: { category?: string; json?: boolean }) =>
        withApp({ ...env.globals(), holder: 'repo list' }, async (app) => {
          if (opts.category && !app.config.categories.some((c) => c.name === opts.category)) throw new UsageError(`unknown category "${opts.category}"`);
          const repos = await listRepositories(app.db, { category: opts.category });
          if (opts.json) return env.out(JSON.stringify(repos, null, 2));
          if (repos.length === 0) return env.out('no repositories (has scan-master run? are there repoRules?)');
          env.out(
            formatTable(
              ['repo', 'arch', 'directory', 'repomd timestamp', 'alternates', 'state'],
              repos.map((r) => [
                r.repo,
                r.arch,
                r.path,
                isoTime(r.versions[0]?.timestamp ?? null),
                String(Math.max(0, r.versions.length - 1)),
                [r.disabled ? 'disabled' : '', r.readable ? '' : 'not readable', r.error ? `error: ${r.error}` : ''].filter(Boolean).join(', ') || 'ok',
              ]),
            ),
          );
          const { rows: aliases } = await app.db.query<{ from_repo: string; to_repo: string }>('SELECT from_repo, to_repo FROM repository_redirect ORDER BY from_repo');
          if (aliases.length) env.out(`\naliases (asked for → served): ${aliases.map((a) => `${a.from_repo} → ${a.to_repo}`).join(', ')}`);
        }),
      ),
    );

  const dir = env.program.command('dir').description('directories of the master tree as scanned');
  dir
    .command('ls <path>')
    .description('a directory (path from the mirror root, e.g. linux/releases/41): flags, short file list, subdirectories')
    .option('--json', 'machine-readable output')
    .action(
      env.action((path: string, opts: { json?: boolean }) =>
        withApp({ ...env.globals(), holder: 'dir ls' }, async (app) => {
          const info = await findDirectory(app.db, path);
          if (!info) throw new UsageError(`no directory ${path} in any category (paths start with a category topdir: ${app.config.categories.map((c) => c.topdir).join(', ') || 'none configured'})`);
          if (opts.json) return env.out(JSON.stringify(info, null, 2));
          env.out(`${info.category}: ${info.topdir}${info.dir ? '/' + info.dir : ''}  readable=${info.readable}  ctime=${isoTime(info.ctime)}${info.repos.length ? '  repos=' + info.repos.map((r) => `${r.repo}/${r.arch}`).join(',') : ''}`);
          const rows = [
            ...info.subdirs.map((s) => [s.name + '/', '', '', s.readable ? '' : 'not readable']),
            ...info.files.map((f) => [f.name, String(f.size), isoTime(f.mtime), '']),
          ];
          env.out(formatTable(['name', 'size', 'mtime', ''], rows));
        }),
      ),
    );

  const file = env.program.command('file').description('file details (hash history) recorded by scan-master');
  file
    .command('show <path>')
    .description('hash history of a file, e.g. linux/releases/41/Everything/x86_64/os/repodata/repomd.xml')
    .option('--json', 'machine-readable output')
    .action(
      env.action((path: string, opts: { json?: boolean }) =>
        withApp({ ...env.globals(), holder: 'file show' }, async (app) => {
          const h = await fileHistory(app.db, path);
          if (!h || h.history.length === 0) throw new UsageError(`no file details for ${path} (repomd.xml and files named in checksum files have them)`);
          if (opts.json) return env.out(JSON.stringify(h, null, 2));
          env.out(`${h.category}: ${h.dir}/${h.file}: ${h.history.length} version(s), newest first`);
          env.out(
            formatTable(
              ['recorded', 'timestamp', 'size', 'sha256', 'md5'],
              h.history.map((r) => [r.createdAt.toISOString(), isoTime(r.timestamp), String(r.size ?? '-'), r.sha256 ?? '-', r.md5 ?? '-']),
            ),
          );
        }),
      ),
    );
}
