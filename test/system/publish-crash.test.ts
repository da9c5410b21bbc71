// kill -9 during publish: `current` must always resolve to a complete generation,
// nginx must keep answering from one (the one it loaded, until it reloads), and
// the next publish must recover.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { currentGeneration } from '../../pipelines/serve/generations.ts';
import { run as publish } from '../../pipelines/stages/publish.ts';
import { markedGeneration, servedGeneration, stageContext, tempDir, testConfig, withNginx } from '../helpers/nginx.ts';
import { requireTool } from '../helpers/system.ts';

const FIXTURE = path.resolve(import.meta.dirname, '../fixtures/publish-loop.ts');

for (const mode of ['stage', 'swap'] as const) test(`kill -9 at random moments of a publish loop (${mode}) never leaves current broken`, async (t) => {
  if (!requireTool(t, 'nginx', 'nginx-light')) return;
  const out = tempDir(t);
  markedGeneration(out, 'a', '2026-11-01T00:00:00Z');
  markedGeneration(out, 'b', '2026-11-01T00:01:00Z');
  const config = testConfig(out, { publish: { minShare: 0 } });
  await publish(stageContext(config, { options: { generation: 'a' } }).ctx);
  const nginx = (await withNginx(t, { outDir: out }))!;

  const seen = new Set<string>();
  let checks = 0;
  for (let round = 0; round < 6; round++) {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, out, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`publish loop did not start: ${stderr}`)), 30_000);
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`publish loop exited early (${code}): ${stderr}`));
      });
    });
    // Poll hard while the child swaps, then kill it at a random point. nginx is
    // not reloaded here: it keeps answering, all from a, whatever current says.
    const until = Date.now() + 100 + Math.floor(Math.random() * 400);
    while (Date.now() < until) {
      const id = currentGeneration(out);
      assert.ok(id === 'a' || id === 'b', `current points at ${id}`);
      assert.ok(fs.existsSync(path.join(out, 'current', 'manifest.json')), 'current resolves to a complete generation');
      seen.add(id);
      assert.equal(await servedGeneration(nginx.url), 'a');
      checks++;
    }
    child.kill('SIGKILL');
    await exited;
    const id = currentGeneration(out);
    assert.ok(id === 'a' || id === 'b', `after kill -9 current points at ${id}`);
    assert.equal(await servedGeneration(nginx.url), 'a');
  }
  assert.ok(checks > 20, `only ${checks} checks ran`);
  assert.deepEqual([...seen].sort(), ['a', 'b'], 'the loop really switched generations while we watched');
  // A reload now loads whatever current is, consistently.
  await nginx.reload();
  assert.equal(await servedGeneration(nginx.url), currentGeneration(out));

  // The next publish recovers: stale lock of the dead pid taken over, temp links removed.
  const live = currentGeneration(out)!;
  const other = live === 'a' ? 'b' : 'a';
  const r = await publish(stageContext(config, { options: { generation: other } }).ctx);
  assert.equal(r.stats?.generation, other);
  assert.deepEqual(fs.readdirSync(out).filter((n) => n.startsWith('.current.tmp-') || n.startsWith('.nginx-check-')), [], 'leftovers of killed publishes are cleaned');
  await nginx.reload();
  assert.equal(await servedGeneration(nginx.url), other);
});

test('kill -9 between the swap and the reload: nginx keeps serving the old generation whole; the next publish reloads', async (t) => {
  if (!requireTool(t, 'nginx', 'nginx-light')) return;
  const out = tempDir(t);
  markedGeneration(out, 'a', '2026-11-01T00:00:00Z');
  markedGeneration(out, 'b', '2026-11-01T00:01:00Z');
  await publish(stageContext(testConfig(out), { options: { generation: 'a' } }).ctx);
  const nginx = (await withNginx(t, { outDir: out }))!;
  const reloading = testConfig(out, { publish: { minShare: 0, reloadCommand: ['kill', '-HUP', String(nginx.pid)] } });
  // Let publish record that nginx has a loaded.
  await publish(stageContext(reloading, { options: { generation: 'a' } }).ctx);

  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, out, 'reload-kill'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const signal = await new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, sig) => r(sig)));
  assert.equal(signal, 'SIGKILL', `the publish was killed by its reload command: ${stderr}`);
  assert.equal(currentGeneration(out), 'b', 'killed after the swap');
  for (let i = 0; i < 20; i++) assert.equal(await servedGeneration(nginx.url), 'a');

  // Nothing new to publish, but nginx never got its reload: the next publish does it.
  const r = await publish(stageContext(reloading).ctx);
  assert.equal(r.counts.skipped, 1);
  assert.match(r.notes!.join('\n'), /reloaded nginx on the live b \(an interrupted publish had left it on a\)/);
  let served = '';
  for (let i = 0; i < 100 && served !== 'b'; i++) {
    await new Promise((res) => setTimeout(res, 50));
    served = await servedGeneration(nginx.url);
  }
  assert.equal(served, 'b');
  // Once done, a further publish has nothing to finish.
  const again = await publish(stageContext(reloading).ctx);
  assert.equal(again.notes!.length, 1);
});
