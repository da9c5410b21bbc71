// mirrorsmith_generation_files / _size_bytes describe the generation they are
// published in: a whole build (every emitter, in the build's order) on the build
// fixture, checked against the files on disk with a real exposition-format parser.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { EMITTERS } from '../../pipelines/build/emitters.ts';
import { run as runBuild } from '../../pipelines/stages/build.ts';
import { freshDb } from '../helpers/db.ts';
import { buildContext } from '../fixtures/build/context.ts';
import { loadFixture } from '../fixtures/build/registry.ts';

const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Array<{
  name: string; help: string; type: string; metrics: Array<{ labels?: Record<string, string>; value?: string }>;
}>;

function walk(dir: string, rel = ''): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(dir, path.join(rel, e.name)) : [path.join(rel, e.name)]));
}

const WRITTEN_AFTER = ['metrics/mirrorsmith.prom', 'nginx/http.d/00-generation.conf', 'report.json', 'manifest.json'];

test('generation files and bytes cover every file but the metrics file, the id fragment, report.json and manifest.json', async (t) => {
  assert.equal(EMITTERS.at(-1)?.name, 'metrics', 'the metrics emitter runs last');
  const { db } = await freshDb(t, 'pglite');
  await loadFixture(db);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-metrics-gen-'));
  t.after(() => fs.rmSync(out, { recursive: true, force: true }));
  await runBuild(buildContext(db, out, {}, 'g1'));
  const gen = path.join(out, 'generations', 'g1');
  const files = walk(gen);
  for (const f of WRITTEN_AFTER) assert.ok(files.includes(f), f);
  const covered = files.filter((f) => !WRITTEN_AFTER.includes(f));
  // The reports, changes and guide emitters run before the metrics now: their files count.
  assert.ok(covered.some((f) => f.startsWith('mirroring/')), 'guide files are covered');
  assert.ok(covered.some((f) => f.startsWith('status/changes')), 'changes files are covered');

  const families = parsePrometheus(fs.readFileSync(path.join(gen, 'metrics/mirrorsmith.prom'), 'utf8'));
  const one = (name: string) => {
    const fam = families.find((m) => m.name === name);
    assert.ok(fam, name);
    assert.equal(fam.type, 'GAUGE');
    assert.match(fam.help, /every file except metrics\/mirrorsmith\.prom, nginx\/http\.d\/00-generation\.conf, report\.json and manifest\.json/);
    return Number(fam.metrics[0]!.value);
  };
  assert.equal(one('mirrorsmith_generation_files'), covered.length);
  assert.equal(one('mirrorsmith_generation_size_bytes'), covered.reduce((n, f) => n + fs.statSync(path.join(gen, f)).size, 0));
});
