// `mirrorsmith db migrate|status`.
import type { CliEnv } from '../cli.ts';
import { withApp } from '../core/context.ts';
import { migrationStatus } from '../core/migrate.ts';
import { formatTable } from '../core/table.ts';

export function registerDbCommands(env: CliEnv): void {
  const db = env.program.command('db').description('database maintenance (embedded PGlite, or Postgres when DATABASE_URL is set)');
  db.command('migrate')
    .description('apply pending migrations from sql/ (also done automatically by every command)')
    .action(
      env.action(() =>
        withApp({ ...env.globals(), holder: 'db migrate' }, async (app) => {
          // openApp has migrated already; report what is there.
          const status = await migrationStatus(app.db);
          env.out(`${app.db.description}: ${status.filter((s) => s.appliedAt).length}/${status.length} migrations applied`);
        }),
      ),
    );
  db.command('status')
    .description('list migrations and when each was applied')
    .option('--json', 'machine-readable output')
    .action(
      env.action((opts: { json?: boolean }) =>
        withApp({ ...env.globals(), holder: 'db status' }, async (app) => {
          const status = await migrationStatus(app.db);
          if (opts.json) return env.out(JSON.stringify({ database: app.db.description, migrations: status }, null, 2));
          env.out(app.db.description);
          env.out(formatTable(['id', 'migration', 'applied'], status.map((s) => [String(s.id), s.name, s.appliedAt ? s.appliedAt.toISOString() : 'pending'])));
        }),
      ),
    );
}
