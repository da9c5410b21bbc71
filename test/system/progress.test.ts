// Progress bars: drawn on a terminal, silent otherwise (CI, pipes, JSON logs decide
// `interactive` before the factory is made), and wired into the long stages:
// scan-master steps per category, build per emitter then report + manifest.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { EMITTERS } from '../../pipelines/build/emitters.ts';
import { parseConfig } from '../../pipelines/core/config.ts';
import { memoryLogger } from '../../pipelines/core/log.ts';
import { makeProgressFactory, type Progress } from '../../pipelines/core/progress.ts';
import type { StageContext } from '../../pipelines/core/types.ts';
import { run as runBuild } from '../../pipelines/stages/build.ts';
import { run as runScan } from '../../pipelines/stages/scan-master.ts';
import { freshDb } from '../helpers/db.ts';
import { buildContext } from '../fixtures/build/context.ts';
import { loadFixture } from '../fixtures/build/registry.ts';

/** A writable that claims to be a terminal and keeps what was drawn. */
function fakeTerminal(): Writable & { text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  }) as Writable & { text: () => string; isTTY: boolean; columns: number; cursorTo: (x: number) => boolean; clearLine: () => boolean; moveCursor: () => boolean };
  w.isTTY = true;
  w.columns = 120;
  w.cursorTo = () => true;
  w.clearLine = () => true;
  w.moveCursor = () => true;
  w.text = () => chunks.join('');
  return w;
}

test('on a terminal the bar shows the label, the count and what comes next; disabled it writes nothing', () => {
  const tty = fakeTerminal();
  const bar = makeProgressFactory(true, tty)('build', 3, 'lists');
  bar.tick(1, 'public');
  bar.done();
  assert.match(tty.text(), /build {7}.*0\/3 .*lists/);
  assert.match(tty.text(), /1\/3 .*public/);

  const quiet = fakeTerminal();
  const off = makeProgressFactory(false, quiet)('build', 3);
  off.tick();
  off.done();
  assert.equal(quiet.text(), '');
});

interface Recorded {
  label: string;
  total: number;
  details: string[];
  ticks: number;
  done: boolean;
}

function recorder(): { factory: StageContext['progress']; bars: Recorded[] } {
  const bars: Recorded[] = [];
  const factory = (label: string, total: number, detail?: string): Progress => {
    const r: Recorded = { label, total, details: detail === undefined ? [] : [detail], ticks: 0, done: false };
    bars.push(r);
    return {
      tick(n = 1, next?: string) {
        r.ticks += n;
        if (next !== undefined) r.details.push(next);
      },
      done() {
        r.done = true;
      },
    };
  };
  return { factory, bars };
}

test('scan-master steps once per category, naming the next one', async (t) => {
  const { db } = await freshDb(t, 'pglite');
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-progress-'));
  t.after(() => fs.rmSync(base, { recursive: true, force: true }));
  for (const top of ['one', 'two']) {
    fs.mkdirSync(path.join(base, 'master', top, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(base, 'master', top, 'sub', 'file.txt'), 'x');
  }
  const config = parseConfig(
    { categories: ['one', 'two'].map((top) => ({ name: `Cat ${top}`, topdir: top, source: { type: 'local', path: 'master' } })) },
    path.join(base, 'mirrorsmith.yaml'),
    {},
  );
  const { factory, bars } = recorder();
  const ctx: StageContext = { db, config, log: memoryLogger(), signal: new AbortController().signal, run: { id: null, startedAt: new Date(), generationId: 'x', force: false, dryRun: false }, options: {}, progress: factory };
  const r = await runScan(ctx);
  assert.deepEqual(r.counts, { ok: 2, failed: 0, skipped: 0 });
  assert.deepEqual(bars, [{ label: 'scan-master', total: 2, details: ['Cat one', 'Cat two', ''], ticks: 2, done: true }]);
});

test('build steps once per emitter, then the report and manifest', async (t) => {
  const { db } = await freshDb(t, 'pglite');
  await loadFixture(db);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-progress-build-'));
  t.after(() => fs.rmSync(out, { recursive: true, force: true }));
  const { factory, bars } = recorder();
  await runBuild({ ...buildContext(db, out), progress: factory });
  const names = EMITTERS.map((e) => e.name);
  assert.deepEqual(bars, [{ label: 'build', total: names.length + 1, details: [...names, 'manifest', ''], ticks: names.length + 1, done: true }]);
});
