// Stage `registry`: applies the registry directory from the config (kept in git),
// so a timer run picks up merged changes before anything is crawled or built.
import fs from 'node:fs';
import { resolvePath } from '../core/config.ts';
import { emptyResult, type Stage, type StageContext, type StageResult } from '../core/types.ts';
import { applyRegistry } from '../registry/apply.ts';
import { loadRegistry } from '../registry/load.ts';

export async function run(ctx: StageContext): Promise<StageResult> {
  const result = emptyResult('registry');
  const dir = resolvePath(ctx.config, ctx.config.registry.dir);
  if (!fs.existsSync(dir)) {
    result.counts.skipped = 1;
    result.notes = [`registry directory ${dir} does not exist: nothing applied (the database keeps what it has)`];
    return result;
  }
  // Invalid files throw a ValidationError naming file, site/host and field: nothing is applied.
  const registry = loadRegistry(dir, ctx.config.categories.map((c) => c.name));
  for (const w of registry.warnings) ctx.log.warn(w);
  const { plan, counts, applied } = await applyRegistry(ctx.db, registry.sites, { dryRun: ctx.run.dryRun, force: ctx.run.force });
  for (const item of plan.items) (item.kind === 'kept' ? ctx.log.warn : ctx.log.info).call(ctx.log, item.text);
  result.counts.ok = registry.sites.reduce((n, s) => n + s.hosts.length, 0);
  result.stats = { sites: registry.sites.length, added: counts.add, changed: counts.change, removed: counts.remove, overridesKept: counts.kept, applied };
  result.notes = [`registry ${dir}: ${counts.add} added, ${counts.change} changed, ${counts.remove} removed${counts.kept ? `, ${counts.kept} CLI override(s) kept` : ''}${ctx.run.dryRun ? ' (dry run: nothing written)' : ''}`];
  return result;
}

export const registryStage: Stage = {
  name: 'registry',
  description: 'apply the registry directory (one YAML file per site) to the database',
  run,
};
