// scan-master on the synthetic tree (issue 4): a full walk, a no-change rescan on the
// same database, and a scan from the fullfiletimelist into a fresh database; then
// both again on their now current databases (the walk relisting every directory) —
// each in its own child process so the peak RSS is that scan's.
import path from 'node:path';
import { freshDatabase, mb, REPO_ROOT, runChild, tryImport, type Benchmark, type Figure } from '../harness.ts';
import { deriveConfig, dropPageCache, type StageTaskResult } from '../tasks.ts';

const TASKS = path.join(REPO_ROOT, 'bench', 'tasks.ts');
const SOURCE = 'issue 4';

export const benchmark: Benchmark = {
  name: 'scan-master',
  title: 'master tree scan',
  usesTree: true,
  figures: [
    { name: 'full walk', unit: 's' },
    { name: 'no-change rescan', unit: 's' },
    { name: 'no-change rescan / full walk', unit: '', target: { op: '<=', value: 0.1 }, source: SOURCE },
    { name: 'fullfiletimelist scan', unit: 's' },
    { name: 'full walk / fullfiletimelist (speed-up)', unit: '×', target: { op: '>=', value: 10 }, source: SOURCE },
    { name: 'full re-walk (--full)', unit: 's' },
    { name: 'fullfiletimelist rescan', unit: 's' },
    { name: 're-walk / fullfiletimelist rescan', unit: '×', target: { op: '>=', value: 10 }, source: SOURCE },
    { name: 'full walk, cold cache', unit: 's' },
    { name: 'fullfiletimelist scan, cold cache', unit: 's' },
    { name: 'cold: full walk / fullfiletimelist (speed-up)', unit: '×', target: { op: '>=', value: 10 }, source: SOURCE },
    { name: 'peak RSS (worst of the five)', unit: 'MB', target: { op: '<=', value: 500 }, source: SOURCE },
    { name: 'baseline: open + migrate the database', unit: 'MB' },
  ],
  async available() {
    const stages = await tryImport<{ STAGES: Array<{ name: string }> }>('pipelines/stages/index.ts', ['STAGES']);
    if (!stages.mod) return stages.missing;
    return stages.mod.STAGES.some((s) => s.name === 'scan-master') ? null : 'stage scan-master is not registered in pipelines/stages/index.ts yet';
  },
  async run(ctx) {
    const walkDb = await freshDatabase(ctx, 'scan_walk', path.join(ctx.workDir, 'walk', 'db'));
    const ftlDb = await freshDatabase(ctx, 'scan_ftl', path.join(ctx.workDir, 'ftl', 'db'));
    // false, not absent: an absent name means "find the fullfiletimelist-* at the top".
    const noList = (c: { categories: Array<Record<string, unknown>> }) => {
      for (const cat of c.categories) cat.fullfiletimelist = false;
    };
    const walkCfg = deriveConfig(ctx.worldDir, path.join(ctx.workDir, 'walk'), 'walk', noList);
    const ftlCfg = deriveConfig(ctx.worldDir, path.join(ctx.workDir, 'ftl'), 'ftl');
    const run = async (config: string, db: { databaseUrl: string }, label: string, options: Record<string, unknown> = {}, coldCache = false) => {
      ctx.log(`${label} …`);
      const r = await runChild<StageTaskResult>(TASKS, 'stageTask', { ...db, config, stage: 'scan-master', options, coldCache }, { signal: ctx.signal });
      const v = r.value;
      if (v.status !== 'ok' || (v.counts?.failed ?? 0) > 0) throw new Error(`${label}: scan-master ended ${v.status} (${JSON.stringify(v.counts)}): ${v.error ?? 'see its log'}`);
      return r;
    };
    // First, the first scans on a tree the kernel has not cached (as a master tree that
    // rsync and editors did not just read, or one on NFS): page, dentry and inode
    // caches dropped right before the stage (root only; else these figures are not measured).
    // Run before the warm ones, which then find the tree cached again.
    const cannot = ctx.databaseUrl ? 'cold-cache runs are measured on the embedded database only' : dropPageCache();
    const coldReason = cannot ? `not measured: ${cannot}` : null;
    let cold: { walk: number; ftl: number } | null = null;
    if (!coldReason) {
      const coldRun = async (name: string, label: string, mutate?: typeof noList) => {
        const dir = path.join(ctx.workDir, name);
        const db = await freshDatabase(ctx, `scan_${name.replace('-', '_')}`, path.join(dir, 'db'));
        return run(deriveConfig(ctx.worldDir, dir, name, mutate), db, label, {}, true);
      };
      // The walk last: it leaves every inode of the tree cached for the warm runs.
      const coldFtl = await coldRun('ftl-cold', 'fullfiletimelist scan, cold cache');
      const coldWalk = await coldRun('walk-cold', 'full walk, cold cache', noList);
      cold = { walk: coldWalk.value.stageMs / 1000, ftl: coldFtl.value.stageMs / 1000 };
    }
    const walk = await run(walkCfg, walkDb, 'full walk');
    const rescan = await run(walkCfg, walkDb, 'no-change rescan');
    const ftl = await run(ftlCfg, ftlDb, 'fullfiletimelist scan');
    // The same pair on a database that is current, as every scan after the first
    // runs: the walk lists every directory again (--full), the list is read whole.
    const rewalk = await run(walkCfg, walkDb, 'full re-walk (--full)', { full: true });
    const ftlAgain = await run(ftlCfg, ftlDb, 'fullfiletimelist rescan');
    const base = await runChild<{ ms: number }>(TASKS, 'openDbTask', { ...walkDb, config: walkCfg }, { signal: ctx.signal });
    const coldNote = coldReason ?? 'page, dentry and inode caches dropped after the database was opened; fresh database';
    const s = (r: { value: StageTaskResult }) => r.value.stageMs / 1000;
    // CPU of the whole child (open + migrate included): less at the mercy of a busy machine than wall time.
    const cpu = (r: { cpuMs: number }) => `child CPU ${(r.cpuMs / 1000).toFixed(1)} s (open ${(base.cpuMs / 1000).toFixed(1)} s of it)`;
    const dirs = walk.value.stats.directories;
    const rss = Math.max(walk.maxRssBytes, rescan.maxRssBytes, ftl.maxRssBytes, rewalk.maxRssBytes, ftlAgain.maxRssBytes);
    const fig = (name: string, value: number | null, unit: string, extra: Partial<Figure> = {}): Figure => ({ benchmark: 'scan-master', name, value, unit, ...extra });
    return [
      fig('full walk', s(walk), 's', { note: `${dirs} directories, ${walk.value.stats.repositories} repositories; page cache warm; ${cpu(walk)}` }),
      fig('no-change rescan', s(rescan), 's', { note: `${rescan.value.stats.changedDirs ?? '?'} directories rewritten, ${rescan.value.stats.unchanged ?? '?'} of ${walk.value.counts?.ok ?? '?'} categories unchanged as a whole; ${cpu(rescan)}` }),
      fig('no-change rescan / full walk', s(rescan) / s(walk), '', { target: { op: '<=', value: 0.1 }, source: SOURCE }),
      fig('fullfiletimelist scan', s(ftl), 's', { note: `fresh database; ${ftl.value.stats.directories} directories; ${cpu(ftl)}` }),
      fig('full walk / fullfiletimelist (speed-up)', s(walk) / s(ftl), '×', { target: { op: '>=', value: 10 }, source: SOURCE }),
      fig('full re-walk (--full)', s(rewalk), 's', { note: `database current; ${rewalk.value.stats.listed ?? '?'} directories listed, ${rewalk.value.stats.changedDirs ?? '?'} rewritten; ${cpu(rewalk)}` }),
      fig('fullfiletimelist rescan', s(ftlAgain), 's', { note: `database current; ${ftlAgain.value.stats.changedDirs ?? '?'} directories rewritten, ${ftlAgain.value.stats.unchanged ?? '?'} of ${ftl.value.counts?.ok ?? '?'} categories unchanged as a whole; ${cpu(ftlAgain)}` }),
      fig('re-walk / fullfiletimelist rescan', s(rewalk) / s(ftlAgain), '×', { target: { op: '>=', value: 10 }, source: SOURCE }),
      fig('full walk, cold cache', cold?.walk ?? null, 's', { note: coldNote }),
      fig('fullfiletimelist scan, cold cache', cold?.ftl ?? null, 's', { note: coldNote }),
      fig('cold: full walk / fullfiletimelist (speed-up)', cold ? cold.walk / cold.ftl : null, '×', { target: { op: '>=', value: 10 }, source: SOURCE, ...(cold ? {} : { note: coldNote }) }),
      fig('peak RSS (worst of the five)', mb(rss), 'MB', { target: { op: '<=', value: 500 }, source: SOURCE, note: `walk ${mb(walk.maxRssBytes).toFixed(0)}, rescan ${mb(rescan.maxRssBytes).toFixed(0)}, fullfiletimelist ${mb(ftl.maxRssBytes).toFixed(0)}, re-walk ${mb(rewalk.maxRssBytes).toFixed(0)}, list rescan ${mb(ftlAgain.maxRssBytes).toFixed(0)} MB; ${ctx.databaseUrl ? 'Postgres in its own process' : 'includes the in-process PGlite'}` }),
      fig('baseline: open + migrate the database', mb(base.maxRssBytes), 'MB', { note: `${(base.value.ms / 1000).toFixed(1)} s; the floor every stage child pays${ctx.databaseUrl ? '' : ' (PGlite is in-process)'}` }),
    ];
  },
};
