// scan-master (MirrorManager's umdl): what the master mirror holds, per category —
// directories with their readable flag and short file list, repositories mapped by
// the configured rules, repomd.xml and checksum-file hashes with history. A
// category whose source fails keeps its previous data untouched.
import { errorMessage } from '../core/errors.ts';
import { UsageError } from '../core/errors.ts';
import type { Failure, Stage, StageContext, StageResult } from '../core/types.ts';
import { scanCategory, type ScanFigures } from '../master/scan.ts';
import { ensureCategory, recordScanError } from '../master/store.ts';

export const name = 'scan-master';
export const description = 'scan the master tree: directories, repositories (by config rules), repomd.xml and checksum file details';

export async function run(ctx: StageContext): Promise<StageResult> {
  const categories = pickCategories(ctx);
  const failures: Failure[] = [];
  const notes: string[] = [];
  const figures: ScanFigures[] = [];
  let failed = 0;
  // Categories one after another: each walk is already concurrent inside.
  const bar = ctx.progress('scan-master', categories.length, categories[0]?.name);
  try {
    for (const [i, category] of categories.entries()) {
      if (ctx.signal.aborted) break;
      const log = ctx.log.child({ category: category.name });
      try {
        const f = await scanCategory({
          db: ctx.db,
          category,
          baseDir: ctx.config.baseDir,
          retentionDays: ctx.config.fileDetailRetentionDays,
          log,
          signal: ctx.signal,
          dryRun: ctx.run.dryRun,
          fullWalk: Boolean(ctx.options.full),
        });
        figures.push(f);
        failures.push(...f.failures);
        notes.push(...f.notes);
        log.info(describe(f));
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        failed++;
        const message = errorMessage(err);
        failures.push({ subject: category.name, kind: /timed out/.test(message) ? 'timeout' : /refused|connect/i.test(message) ? 'refused' : 'other', message });
        log.error(`scan failed, previous data kept: ${message}`);
        const state = await ensureCategory(ctx.db, category.name, category.topdir);
        if (!ctx.run.dryRun) await recordScanError(ctx.db, state.id, message);
      } finally {
        bar.tick(1, categories[i + 1]?.name ?? '');
      }
    }
  } finally {
    bar.done();
  }
  const sum = (k: (f: ScanFigures) => number) => figures.reduce((n, f) => n + k(f), 0);
  return {
    stage: name,
    counts: { ok: figures.length, failed, skipped: categories.length - figures.length - failed },
    failures,
    notes,
    stats: {
      directories: sum((f) => f.directories),
      listed: sum((f) => f.listedDirs),
      /** Categories found as the previous scan left them (nothing parsed or written). */
      unchanged: sum((f) => (f.unchanged ? 1 : 0)),
      repositories: sum((f) => f.repositories),
      unmatched: sum((f) => f.unmatched.length),
      changedDirs: sum((f) => (f.counts ? f.counts.dirsInserted + f.counts.dirsUpdated + f.counts.dirsDeleted : 0)),
      newDetails: sum((f) => f.counts?.detailsAdded ?? 0),
    },
  };
}

function pickCategories(ctx: StageContext) {
  const wanted = ctx.options.category;
  const all = ctx.config.categories;
  if (wanted === undefined) return all;
  const names = (Array.isArray(wanted) ? wanted : [wanted]).map(String);
  const unknown = names.filter((n) => !all.some((c) => c.name === n));
  if (unknown.length) throw new UsageError(`unknown category ${unknown.map((n) => `"${n}"`).join(', ')} (configured: ${all.map((c) => `"${c.name}"`).join(', ') || 'none'})`);
  return all.filter((c) => names.includes(c.name));
}

export function describe(f: ScanFigures): string {
  const c = f.counts;
  const changes = c
    ? `dirs +${c.dirsInserted} ~${c.dirsUpdated} -${c.dirsDeleted}, repos +${c.reposInserted} ~${c.reposUpdated} -${c.reposDeleted}, details +${c.detailsAdded} -${c.detailsPruned}`
    : 'dry run, nothing written';
  if (f.unchanged) return `${f.source}: unchanged since the last scan (${f.source === 'walk' ? 'directory set' : 'list'}, config, directory modes and ctimes), nothing parsed or rewritten: ${f.directories} dirs, ${f.repositories} repos${c ? `, details -${c.detailsPruned}` : ''}; ${f.ms.total} ms`;
  return `${f.source}: ${f.directories} dirs (${f.listedDirs} listed), ${f.files} files, ${f.repositories} repos, ${f.filesRead} files hashed; ${changes}; ${f.ms.total} ms`;
}

export const scanMasterStage: Stage = { name, description, run };
