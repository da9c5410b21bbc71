// Runs the public emitters into a fresh generation directory, as the build stage
// does, on a fixture database: for the public-page, status, map and metrics tests.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { parseConfig } from '../../pipelines/core/config.ts';
import type { Db } from '../../pipelines/core/db.ts';
import { createGenerationWriter, type Emitter, type EmitResult } from '../../pipelines/core/generation.ts';
import { memoryLogger } from '../../pipelines/core/log.ts';
import { makeProgressFactory } from '../../pipelines/core/progress.ts';
import type { StageContext } from '../../pipelines/core/types.ts';

export const FIXTURE_CONFIG = {
  categories: [
    { name: 'Fedora EPEL', topdir: 'epel', source: { type: 'local', path: 'master/epel' } },
    { name: 'Fedora Linux', topdir: 'linux', source: { type: 'local', path: 'master/linux' }, keyRepos: ['fedora-41', 'rawhide'] },
  ],
};

export function stageContext(db: Db, raw: unknown = FIXTURE_CONFIG): StageContext & { log: ReturnType<typeof memoryLogger> } {
  return {
    db,
    config: parseConfig(raw, ''),
    log: memoryLogger('debug'),
    signal: new AbortController().signal,
    run: { id: null, startedAt: new Date('2026-11-20T12:00:00Z'), generationId: 'test', force: false, dryRun: false },
    options: {},
    progress: makeProgressFactory(false),
  };
}

/** Emits into a temp generation dir (removed after the test); returns the dir and each emitter's result. */
export async function emitInto(t: TestContext, ctx: StageContext, emitters: Emitter[]): Promise<{ dir: string; results: Map<string, EmitResult> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorsmith-public-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const gen = createGenerationWriter(dir, 'test');
  const results = new Map<string, EmitResult>();
  for (const e of emitters) results.set(e.name, await e.emit(ctx, gen));
  return { dir, results };
}

export function read(dir: string, rel: string): string {
  return fs.readFileSync(path.join(dir, rel), 'utf8');
}

/** Every file below dir, relative, sorted. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}
