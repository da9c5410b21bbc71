// `build`: fill a fresh generation directory from one database snapshot by running
// every emitter (lists first), then rename it into place for `publish`. Pure given
// the snapshot: every file but manifest.json is byte-identical across rebuilds.
import fs from 'node:fs';
import path from 'node:path';
import { EMITTERS } from '../build/emitters.ts';
import { resolvePath } from '../core/config.ts';
import { createGenerationWriter, generationsDir, type EmitResult } from '../core/generation.ts';
import { emptyResult, type Stage, type StageContext, type StageResult } from '../core/types.ts';
import { GENERATION_FRAGMENT, generationFragment } from '../serve/generations.ts';

export async function run(ctx: StageContext): Promise<StageResult> {
  const result = emptyResult('build');
  const outDir = resolvePath(ctx.config, ctx.config.output.dir);
  const id = ctx.run.generationId;
  const finalDir = path.join(generationsDir(outDir), id);
  if (fs.existsSync(finalDir)) throw new Error(`generation ${id} already exists in ${generationsDir(outDir)}; a generation is never rebuilt in place`);
  const tmpDir = `${finalDir}.tmp-${process.pid}`;
  fs.rmSync(tmpDir, { recursive: true, force: true });
  const gen = createGenerationWriter(tmpDir, id);
  const started = Date.now();

  const emitted: Array<{ name: string; result: EmitResult; ms: number }> = [];
  // One step per emitter (lists first, the long one), then report and manifest.
  const bar = ctx.progress('build', EMITTERS.length + 1, EMITTERS[0]?.name);
  try {
    for (const [i, emitter] of EMITTERS.entries()) {
      if (ctx.signal.aborted) throw new Error('cancelled');
      const t0 = Date.now();
      const r = await emitter.emit(ctx, gen);
      emitted.push({ name: emitter.name, result: r, ms: Date.now() - t0 });
      result.counts.ok++;
      bar.tick(1, EMITTERS[i + 1]?.name ?? 'manifest');
    }
    // The site serves the generation its loaded fragments name (serve/generations.ts).
    gen.write(GENERATION_FRAGMENT, generationFragment(id));
    // Everything but the manifest and that fragment is deterministic: notes sorted, no timestamps, no id.
    const report = { emitters: emitted.map((e) => ({ name: e.name, counts: sortKeys(e.result.counts), notes: [...(e.result.notes ?? [])].sort() })) };
    gen.write('report.json', JSON.stringify(report, null, 1) + '\n');
    const counts: Record<string, number> = {};
    for (const e of emitted) for (const [k, v] of Object.entries(e.result.counts)) if (!(k in counts)) counts[k] = v;
    counts.files = gen.stats.files + 1;
    counts.bytes = gen.stats.bytes;
    const manifest = {
      id,
      createdAt: new Date().toISOString(),
      runId: ctx.run.id,
      counts: sortKeys(counts),
      emitters: Object.fromEntries(emitted.map((e) => [e.name, { counts: sortKeys(e.result.counts), ms: e.ms }])),
      buildMs: Date.now() - started,
    };
    gen.write('manifest.json', JSON.stringify(manifest, null, 1) + '\n');
    fs.renameSync(tmpDir, finalDir);
    bar.tick(1, '');
  } catch (err) {
    fs.rmSync(tmpDir, { recursive: true, force: true });
    throw err;
  } finally {
    bar.done();
  }

  const notes = emitted.flatMap((e) => (e.result.notes ?? []).map((n) => `${e.name}: ${n}`));
  for (const n of notes.slice(0, 20)) ctx.log.warn(n);
  const lists = emitted.find((e) => e.name === 'lists')?.result.counts ?? {};
  result.stats = {
    generation: id,
    classes: lists.classes ?? 0,
    orderings: lists.lists ?? 0,
    files: gen.stats.files,
    bytes: gen.stats.bytes,
  };
  result.notes = [
    `generation ${id}: ${lists.classes ?? 0} client classes, ${lists.lists ?? 0} host orderings, ${gen.stats.files} files, ${(gen.stats.bytes / 1e6).toFixed(1)} MB`,
    ...(notes.length > 20 ? [`… ${notes.length - 20} more notes in report.json`] : []),
  ];
  return result;
}

function sortKeys(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort((a, b) => (a[0] < b[0] ? -1 : 1)));
}

export const buildStage: Stage = {
  name: 'build',
  description: 'build a new generation (mirrorlists, metalinks, nginx fragments, public pages) from the database',
  run,
};
