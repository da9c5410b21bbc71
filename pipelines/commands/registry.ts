// `mirrorsmith registry validate|apply|export|import-legacy|schema`.
import fs from 'node:fs';
import path from 'node:path';
import type { CliEnv } from '../cli.ts';
import { readConfig, withApp, type AppContext } from '../core/context.ts';
import { UsageError } from '../core/errors.ts';
import type { Config } from '../core/config.ts';
import { applyRegistry, formatPlan, type ApplyResult } from '../registry/apply.ts';
import { exportSites, siteFileName, writeSiteFiles } from '../registry/export.ts';
import { convertLegacyCsv, formatLegacyReport, type LegacyImport } from '../registry/legacy-csv.ts';
import { loadRegistry, type Registry } from '../registry/load.ts';
import { registryJsonSchema } from '../registry/schema.ts';

type Out = (text: string) => void;

const categoryNames = (config: Config) => config.categories.map((c) => c.name);

export function registerRegistryCommands(env: CliEnv): void {
  const reg = env.program.command('registry').description('the declarative registry of sites and hosts: one YAML file per site, kept in git');
  const config = () => readConfig(env.globals().config, env.globals().configExplicit);

  reg
    .command('validate')
    .description('check every file of a registry directory (schema, duplicates, categories) without touching the database')
    .argument('<dir>', 'registry directory')
    .action(env.action(async (dir: string) => validateCommand(config(), dir, env.out)));

  reg
    .command('apply')
    .description('make the database match the registry directory: prints what it adds, changes and removes, then applies it in one transaction')
    .argument('<dir>', 'registry directory')
    .option('--dry-run', 'print the plan, write nothing')
    .option('--force', 'apply even when it removes more than half of the hosts')
    .option('--json', 'print the plan as JSON')
    .action(
      env.action((dir: string, opts: { dryRun?: boolean; force?: boolean; json?: boolean }) =>
        withApp({ ...env.globals(), holder: 'registry apply' }, async (app) => void (await applyCommand(app, dir, opts, env.out))),
      ),
    );

  reg
    .command('export')
    .description('write the registry from the database as files in the same format (one <site>.yaml per site)')
    .argument('<dir>', 'output directory (created if missing)')
    .action(env.action((dir: string) => withApp({ ...env.globals(), holder: 'registry export' }, (app) => exportCommand(app, dir, env.out))));

  reg
    .command('import-legacy')
    .description('convert a CentOS-style mirror table (CSV with a header row) into registry files for review; reports dropped columns per row')
    .argument('<file>', 'CSV file (columns such as name, http, ftp, rsync, bandwidth, status, cc, use-in-mirror-list, url)')
    .requiredOption('--out <dir>', 'directory to write the registry files into')
    .option('--category <name>', "category the URLs belong to (default: the config's first category)")
    .option('--force', 'overwrite existing files in --out')
    .action(env.action(async (file: string, opts: { out: string; category?: string; force?: boolean }) => void importLegacyCommand(config(), file, opts, env.out)));

  reg
    .command('schema')
    .description('print the JSON Schema of a registry file (also in docs/registry.schema.json)')
    .action(env.action(async () => env.out(JSON.stringify(registryJsonSchema(), null, 2))));
}

export function validateCommand(config: Config, dir: string, out: Out): number {
  const registry = loadRegistry(dir, categoryNames(config));
  for (const w of registry.warnings) out(`warning: ${w}`);
  out(`${dir}: ${summarize(registry)}: valid`);
  return 0;
}

export async function applyCommand(app: AppContext, dir: string, opts: { dryRun?: boolean; force?: boolean; json?: boolean }, out: Out): Promise<ApplyResult> {
  const registry = loadRegistry(dir, categoryNames(app.config));
  for (const w of registry.warnings) app.log.warn(w);
  const result = await applyRegistry(app.db, registry.sites, { dryRun: opts.dryRun, force: opts.force });
  if (opts.json) {
    out(JSON.stringify({ dir, dryRun: Boolean(opts.dryRun), applied: result.applied, counts: result.counts, items: result.plan.items, warnings: [...registry.warnings, ...(result.warning ? [result.warning] : [])] }, null, 2));
  } else {
    out(formatPlan(result.plan));
    if (result.warning) out(`warning: without --force this would be refused: ${result.warning}`);
    if (opts.dryRun) out('dry run: nothing was written');
    else if (result.applied) out(`applied to ${app.db.description} (${summarize(registry)})`);
  }
  return result;
}

export async function exportCommand(app: AppContext, dir: string, out: Out): Promise<number> {
  const sites = await app.db.withClient(exportSites);
  const { written, others } = writeSiteFiles(dir, sites, `exported by mirrorsmith registry export from ${app.db.description}`);
  out(`wrote ${written.length} site file(s) to ${dir}`);
  for (const o of others) out(`note: ${o} is not a site in the database; a later apply of ${dir} would add it back (delete it if that is not wanted)`);
  return 0;
}

export function importLegacyCommand(config: Config, file: string, opts: { out: string; category?: string; force?: boolean }, out: Out): LegacyImport {
  const category = opts.category ?? config.categories[0]?.name;
  if (!category) throw new UsageError('import-legacy: the config defines no categories; pass --category NAME for the imported URLs');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const known = categoryNames(config);
  const result = convertLegacyCsv(text, { file, category, categories: known.includes(category) ? known : [...known, category] });
  if (!opts.force) {
    const clash = result.sites.map((s) => path.join(opts.out, siteFileName(s.site))).filter((f) => fs.existsSync(f));
    if (clash.length) throw new UsageError(`import-legacy: ${clash.length} file(s) already exist in ${opts.out} (${clash.slice(0, 3).join(', ')}${clash.length > 3 ? ', …' : ''}); pass --force to overwrite`);
  }
  const lineOf = new Map(result.rows.filter((r) => r.site).map((r) => [r.site!, r.line]));
  writeSiteFiles(opts.out, result.sites, (s) => `imported by mirrorsmith registry import-legacy from ${path.basename(file)} line ${lineOf.get(s.site)}; review, then registry apply`);
  out(formatLegacyReport(result));
  out(`wrote ${result.sites.length} file(s) to ${opts.out}; review them, then run: mirrorsmith registry apply ${opts.out}`);
  return result;
}

function summarize(r: Registry): string {
  const hosts = r.sites.reduce((n, s) => n + s.hosts.length, 0);
  return `${r.sites.length} site(s), ${hosts} host(s)${r.warnings.length ? `, ${r.warnings.length} warning(s)` : ''}`;
}
