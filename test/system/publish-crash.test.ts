// kill -9 during publish: `current` must always resolve to a complete generation,
// nginx must keep answering from one, and the next publish must recover.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { currentGeneration } from '../../pipelines/serve/generations.ts';
import { run as publish } from '../../pipelines/stages/publish.ts';
import { get, markedGeneration, stageContext, tempDir, testConfig, withNginx } from '../helpers/nginx.ts';
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
    // Poll hard while the child swaps, then kill it at a random point.
    const until = Date.now() + 100 + Math.floor(Math.random() * 400);
    while (Date.now() < until) {
      const id = currentGeneration(out);
      assert.ok(id === 'a' || id === 'b', `current points at ${id}`);
      assert.ok(fs.existsSync(path.join(out, 'current', 'manifest.json')), 'current resolves to a complete generation');
      const res = await get(`${nginx.url}/id.txt`);
      assert.equal(res.status, 200);
      assert.match(res.body, /^[ab]\n$/);
      seen.add(res.body.trim());
      checks++;
    }
    child.kill('SIGKILL');
    await exited;
    const id = currentGeneration(out);
    assert.ok(id === 'a' || id === 'b', `after kill -9 current points at ${id}`);
    assert.equal((await get(`${nginx.url}/id.txt`)).body, `${id}\n`);
  }
  assert.ok(checks > 20, `only ${checks} checks ran`);
  assert.deepEqual([...seen].sort(), ['a', 'b'], 'the loop really switched generations while we watched');

  // The next publish recovers: stale lock of the dead pid taken over, temp links removed.
  const live = currentGeneration(out)!;
  const other = live === 'a' ? 'b' : 'a';
  const r = await publish(stageContext(config, { options: { generation: other } }).ctx);
  assert.equal(r.stats?.generation, other);
  assert.deepEqual(fs.readdirSync(out).filter((n) => n.startsWith('.current.tmp-') || n.startsWith('.nginx-check-')), [], 'leftovers of killed publishes are cleaned');
  assert.equal((await get(`${nginx.url}/id.txt`)).body, `${other}\n`);
});
