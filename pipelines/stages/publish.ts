// Stage `publish`: make a built generation live.
//   1. pick it: this run's generation, else --generation, else the newest never-live one;
//   2. `nginx -t` on a config that includes THAT generation's fragments;
//   3. the shrink guard (publish.minShare of the live hosts listed / repositories served, or --force);
//   4. one atomic rename of a new `current` symlink; then the reload command;
//   5. prune to output.keepGenerations, never a generation a running nginx may
//      still serve (serve/generations.ts: maybeLoaded).
// Anything that fails before step 4 leaves the old generation serving. After it, a
// running nginx still answers from the generation it loaded (the site serves the
// one its fragments name) until the reload; a failed reload swaps back, a crash
// before it is finished by the next publish. `rollback` (below) is the same swap
// towards an older generation.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { resolvePath, type Config } from '../core/config.ts';
import { generationsDir } from '../core/generation.ts';
import type { Logger } from '../core/log.ts';
import { emptyResult, type Stage, type StageContext, type StageResult } from '../core/types.ts';
import {
  GENERATION_ID,
  acquirePublishLock,
  appendHistory,
  cleanStaleTemps,
  currentGeneration,
  fragmentGeneration,
  GENERATION_FRAGMENT,
  generationsToPrune,
  maybeLoaded,
  readLoaded,
  recordLoaded,
  listGenerations,
  newestUnpublished,
  readHistory,
  readManifest,
  pruneListStore,
  removeGeneration,
  rollbackTarget,
  shrinkCheck,
  swapCurrent,
  type GenerationInfo,
} from '../serve/generations.ts';
import { checkSite, findNginx } from '../serve/nginx.ts';

/** How long publish waits for the lock: another publish is refused after it. */
const LOCK_WAIT_MS = 60_000;

export const publishStage: Stage = {
  name: 'publish',
  description: 'check the built generation with nginx -t and the shrink guard, then switch out/current to it atomically',
  run,
};

export async function run(ctx: StageContext): Promise<StageResult> {
  const { config, log } = ctx;
  const outDir = resolvePath(config, config.output.dir);
  const result = emptyResult('publish');
  fs.mkdirSync(generationsDir(outDir), { recursive: true });
  // `serve` holds the lock while nginx reloads (seconds at Fedora scale).
  const lock = await acquirePublishLock(outDir, `publish (pid ${process.pid})`, LOCK_WAIT_MS, ctx.signal);
  try {
    const leftovers = cleanStaleTemps(outDir);
    if (leftovers.length) log.info(`removed leftovers of an interrupted publish: ${leftovers.join(', ')}`);

    const live = currentGeneration(outDir);
    const gen = pickGeneration(outDir, ctx, live);
    if (!gen || gen.id === live) {
      result.counts.skipped = 1;
      result.notes = [gen ? `generation ${gen.id} is already live` : `nothing to publish: no generation newer than the live one (${live ?? 'none'}) in ${generationsDir(outDir)}`];
      // A publish killed between its swap and its reload left nginx on the old one.
      if (live && !ctx.run.dryRun) {
        const finished = await finishInterruptedReload(config, outDir, live, log, ctx.signal);
        if (finished) result.notes.push(finished);
      }
      return result;
    }

    const nginxTest = await checkWithNginx(config, gen, ctx.options.skipNginxTest === true, log, ctx.signal);

    const liveManifest = live ? safeManifest(outDir, live, log) : null;
    const verdict = shrinkCheck(liveManifest, gen.manifest, config.publish.minShare);
    if (!verdict.ok) {
      const why = `generation ${gen.id} shrinks versus the live ${live}: ${verdict.reasons.join('; ')} (publish.minShare=${config.publish.minShare})`;
      if (!ctx.run.force) throw new Error(`refusing to publish: ${why}; the old generation keeps serving. If the drop is intended, rerun with --force`);
      log.warn(`publishing anyway (--force): ${why}`);
    }

    if (ctx.run.dryRun) {
      result.counts.skipped = 1;
      result.notes = [`dry run: would switch current from ${live ?? 'nothing'} to ${gen.id} (nginx -t ${nginxTest})`];
      return result;
    }

    ctx.signal.throwIfAborted();
    swapCurrent(outDir, gen.id);
    appendHistory(outDir, { at: new Date().toISOString(), action: 'publish', id: gen.id, from: live, ...(verdict.ok ? {} : { forced: true }) });
    log.info(`current → ${gen.id} (was ${live ?? 'nothing'})`);

    await reloadOrSwapBack(config, outDir, gen.id, live, log, ctx.signal);

    const pruned = prune(outDir, config, gen.id, log);
    result.counts.ok = 1;
    result.stats = { generation: gen.id, previous: live ?? '', nginxTest, pruned: pruned.length, ...(verdict.ok ? {} : { forced: true }) };
    result.notes = [`published generation ${gen.id}${live ? ` (previous ${live}, roll back with \`mirrorsmith rollback ${live}\`)` : ''}`];
    return result;
  } finally {
    lock.release();
  }
}

function pickGeneration(outDir: string, ctx: StageContext, live: string | null): GenerationInfo | null {
  const all = listGenerations(outDir);
  const explicit = ctx.options.generation;
  if (typeof explicit === 'string' && explicit !== '') return findGeneration(outDir, all, explicit);
  // Inside `mirrorsmith run` the build stage just filled generations/<run generation id>.
  const built = all.find((g) => g.id === ctx.run.generationId);
  if (built) return built;
  if (fs.existsSync(path.join(generationsDir(outDir), ctx.run.generationId))) {
    readManifest(path.join(generationsDir(outDir), ctx.run.generationId)); // throws, saying what is missing
  }
  return newestUnpublished(all, live, readHistory(outDir));
}

function findGeneration(outDir: string, all: GenerationInfo[], id: string): GenerationInfo {
  if (!GENERATION_ID.test(id)) throw new Error(`invalid generation id ${JSON.stringify(id)}`);
  const g = all.find((x) => x.id === id);
  if (g) return g;
  const dir = path.join(generationsDir(outDir), id);
  if (fs.existsSync(dir)) readManifest(dir); // throws with the reason it is incomplete
  throw new Error(`no generation ${id} in ${generationsDir(outDir)} (kept: ${all.map((x) => x.id).join(', ') || 'none'})`);
}

function safeManifest(outDir: string, id: string, log: Logger) {
  try {
    return readManifest(path.join(generationsDir(outDir), id));
  } catch (err) {
    log.warn(`the live generation's manifest is unreadable, shrink guard skipped: ${(err as Error).message}`);
    return null;
  }
}

/** Runs `nginx -t` with the generation as root; returns 'passed' or 'skipped', throws nginx's message. */
async function checkWithNginx(config: Config, gen: GenerationInfo, skipFlag: boolean, log: Logger, signal: AbortSignal): Promise<'passed' | 'skipped'> {
  const named = fragmentGeneration(gen.dir);
  if (named !== gen.id) {
    throw new Error(
      named === null
        ? `generation ${gen.id} has no ${GENERATION_FRAGMENT} (built by an older mirrorsmith?): nginx would not know which generation directory to serve; rebuild it`
        : `generation ${gen.id}'s ${GENERATION_FRAGMENT} names generation ${named} (a copied or renamed directory?); rebuild it`,
    );
  }
  if (!findNginx()) {
    if (config.publish.requireNginxTest && !skipFlag) {
      throw new Error(`nginx is not installed, so generation ${gen.id} cannot be checked with nginx -t; install nginx (apt-get install nginx-light) or, on a machine that only builds, pass --skip-nginx-test or set publish.requireNginxTest: false`);
    }
    log.warn(`nginx not installed: publishing ${gen.id} without nginx -t (${skipFlag ? '--skip-nginx-test' : 'publish.requireNginxTest: false'})`);
    return 'skipped';
  }
  // Under out/ rather than /tmp, so a publish killed mid-check leaves nothing
  // behind that the next one does not clean (cleanStaleTemps).
  const prefixDir = path.join(resolvePath(config, config.output.dir), `.nginx-check-${process.pid}`);
  fs.rmSync(prefixDir, { recursive: true, force: true });
  fs.mkdirSync(prefixDir, { recursive: true });
  try {
    const t0 = performance.now();
    // The site as served: fragments from this generation, root generations/$ms_generation.
    const res = await checkSite(gen.dir, { prefixDir, generationsDir: path.dirname(gen.dir), signal, timeoutMs: config.publish.nginxTestTimeoutMs });
    if (!res.ok) {
      const msg = res.output.split('\n').filter((l) => !/test failed$/.test(l)).join('\n');
      throw new Error(`nginx -t rejected generation ${gen.id}; the old generation keeps serving:\n${msg}`);
    }
    log.info(`nginx -t passed for ${gen.id} in ${Math.round(performance.now() - t0)} ms`);
    return 'passed';
  } finally {
    fs.rmSync(prefixDir, { recursive: true, force: true });
  }
}

async function reloadOrSwapBack(config: Config, outDir: string, id: string, previous: string | null, log: Logger, signal: AbortSignal): Promise<void> {
  const argv = config.publish.reloadCommand;
  if (!argv) return;
  const res = await runCommand(argv, config.publish.reloadTimeoutMs, signal);
  if (res.ok) {
    recordLoaded(outDir, { name: RELOAD_RECORD, id });
    log.info(`reload command ran: ${argv.join(' ')}`);
    return;
  }
  if (previous) {
    swapCurrent(outDir, previous);
    appendHistory(outDir, { at: new Date().toISOString(), action: 'rollback', id: previous, from: id });
  }
  throw new Error(`reload command \`${argv.join(' ')}\` failed (${res.message}); ${previous ? `current switched back to ${previous}` : 'current left at ' + id + ' (nothing to go back to)'}`);
}

const RELOAD_RECORD = 'reload-command';

/** Runs the reload command when its last recorded load is not the live generation; returns a note. */
async function finishInterruptedReload(config: Config, outDir: string, live: string, log: Logger, signal: AbortSignal): Promise<string | null> {
  const argv = config.publish.reloadCommand;
  if (!argv) return null;
  const rec = readLoaded(outDir).find((r) => r.name === RELOAD_RECORD && !r.gone);
  if (rec?.id === live) return null;
  const res = await runCommand(argv, config.publish.reloadTimeoutMs, signal);
  if (!res.ok) throw new Error(`current is ${live} but nginx was last reloaded on ${rec?.id ?? 'an unknown generation'}, and the reload command \`${argv.join(' ')}\` failed (${res.message})`);
  recordLoaded(outDir, { name: RELOAD_RECORD, id: live });
  log.info(`finished an interrupted publish: reloaded nginx on ${live} (it had ${rec?.id ?? 'an unknown generation'})`);
  return `reloaded nginx on the live ${live} (an interrupted publish had left it on ${rec?.id ?? 'an unknown generation'})`;
}

function runCommand(argv: string[], timeoutMs: number, signal: AbortSignal): Promise<{ ok: boolean; message: string }> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, signal, encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) return resolve({ ok: true, message: '' });
      const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: unknown };
      const detail = stderr.trim().split('\n').slice(-3).join(' | ');
      resolve({ ok: false, message: e.killed ? `timed out after ${timeoutMs} ms` : typeof e.code === 'number' ? `exit ${e.code}${detail ? `: ${detail}` : ''}` : e.message });
    });
  });
}

function prune(outDir: string, config: Config, live: string, log: Logger): string[] {
  const keep = config.output.keepGenerations;
  // Without a reload command some nginx may reload behind our back (by hand, a timer).
  const loaded = maybeLoaded(readLoaded(outDir), readHistory(outDir), !config.publish.reloadCommand);
  const all = listGenerations(outDir);
  const held = all.filter((g) => g.id !== live && loaded.has(g.id)).map((g) => g.id);
  const doomed = generationsToPrune(all, keep, [live, ...held]);
  if (held.length + 1 > keep) {
    log.warn(
      `keeping ${held.length + 1 - keep} generation(s) beyond output.keepGenerations=${keep}, a running nginx may still serve them: ${held.join(', ')}` +
        (config.publish.reloadCommand ? '' : ' (set publish.reloadCommand so publish knows when nginx has reloaded)'),
    );
  }
  const removed: string[] = [];
  for (const id of doomed) {
    try {
      removeGeneration(outDir, id);
      removed.push(id);
    } catch (err) {
      log.warn(`could not remove old generation ${id}: ${(err as Error).message}`);
    }
  }
  if (removed.length) log.info(`removed ${removed.length} old generation(s) (keeping ${keep}): ${removed.join(', ')}`);
  try {
    const orphans = pruneListStore(outDir);
    // Also those of the generations just removed: one sweep of out/list-store.
    if (orphans.length) log.info(`removed the stored answers of ${orphans.length} generation(s) no longer kept: ${orphans.join(', ')}`);
  } catch (err) {
    log.warn(`could not prune out/list-store: ${(err as Error).message}`);
  }
  return removed;
}

export interface RollbackOutcome {
  from: string | null;
  to: string;
  nginxTest: 'passed' | 'skipped';
}

/** `mirrorsmith rollback [ID]`: switch current to an older kept generation. Needs no database. */
export async function rollback(config: Config, opts: { id?: string; log: Logger; signal: AbortSignal; skipNginxTest?: boolean }): Promise<RollbackOutcome> {
  const outDir = resolvePath(config, config.output.dir);
  const lock = await acquirePublishLock(outDir, `rollback (pid ${process.pid})`, LOCK_WAIT_MS, opts.signal);
  try {
    cleanStaleTemps(outDir);
    const all = listGenerations(outDir);
    const live = currentGeneration(outDir);
    const target = opts.id ? findGeneration(outDir, all, opts.id) : rollbackTarget(all, live, readHistory(outDir));
    if (!target) throw new Error(`no older generation to roll back to (kept: ${all.map((g) => g.id).join(', ') || 'none'}; live: ${live ?? 'none'})`);
    if (target.id === live) throw new Error(`generation ${target.id} is already live`);
    const nginxTest = await checkWithNginx(config, target, opts.skipNginxTest === true, opts.log, opts.signal);
    swapCurrent(outDir, target.id);
    appendHistory(outDir, { at: new Date().toISOString(), action: 'rollback', id: target.id, from: live });
    opts.log.info(`current → ${target.id} (rolled back from ${live ?? 'nothing'})`);
    await reloadOrSwapBack(config, outDir, target.id, live, opts.log, opts.signal);
    return { from: live, to: target.id, nginxTest };
  } finally {
    lock.release();
  }
}
