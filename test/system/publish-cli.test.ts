// The publish / generations / rollback commands as an operator runs them
// (exit codes and messages), on the embedded database.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { currentGeneration } from '../../pipelines/serve/generations.ts';
import { makeGeneration, markedGeneration, tempDir } from '../helpers/nginx.ts';
import { requireTool } from '../helpers/system.ts';
import { runMirrorsmith } from '../helpers/cli.ts';


/** The CLI on the embedded PGlite under dir, with its mirrorsmith.yaml. */
function cli(dir: string, args: string[]) {
  return runMirrorsmith(dir, ['-c', path.join(dir, 'mirrorsmith.yaml'), ...args]);
}

test('publish, generations, rollback from the command line', async (t) => {
  if (!requireTool(t, 'nginx', 'nginx-light')) return;
  const dir = tempDir(t);
  const out = path.join(dir, 'out');
  fs.writeFileSync(path.join(dir, 'mirrorsmith.yaml'), 'database:\n  dataDir: var/db\noutput:\n  dir: out\n  keepGenerations: 3\n');
  markedGeneration(out, 'g1', '2026-11-01T00:01:00Z');
  fs.writeFileSync(path.join(out, 'generations/g1/manifest.json'), JSON.stringify({ createdAt: '2026-11-01T00:01:00Z', counts: { hosts: 30, repositories: 8 } }));

  const p1 = await cli(dir, ['publish']);
  assert.equal(p1.code, 0, p1.stderr);
  assert.match(p1.stderr, /published generation g1/);
  assert.equal(currentGeneration(out), 'g1');

  makeGeneration(out, 'g2', { createdAt: '2026-11-01T00:02:00Z', counts: { hosts: 2, repositories: 8 } });
  const refused = await cli(dir, ['publish']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /refusing to publish: generation g2 shrinks versus the live g1: hosts: 2 < 50% of the live generation's 30 .*--force/);
  assert.equal(currentGeneration(out), 'g1');

  const forced = await cli(dir, ['publish', '--force']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(currentGeneration(out), 'g2');

  const list = await cli(dir, ['generations', '--json']);
  assert.equal(list.code, 0, list.stderr);
  const parsed = JSON.parse(list.stdout) as { current: string; generations: Array<{ id: string; live: boolean; counts: Record<string, number> }>; history: Array<{ forced?: boolean }> };
  assert.equal(parsed.current, 'g2');
  assert.deepEqual(parsed.generations.map((g) => [g.id, g.live, g.counts.hosts]), [['g2', true, 2], ['g1', false, 30]]);
  assert.equal(parsed.history.at(-1)?.forced, true);
  const table = await cli(dir, ['generations']);
  assert.match(table.stdout, /^\*\s+g2\s+2026-11-01T00:02:00\.000Z\s+2\s+8\s/m);

  const rb = await cli(dir, ['rollback']);
  assert.equal(rb.code, 0, rb.stderr);
  assert.match(rb.stdout, /current is now g1 \(was g2; nginx -t passed\)/);
  const none = await cli(dir, ['rollback']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no older generation to roll back to \(kept: g1, g2; live: g1\)/);
  assert.equal(currentGeneration(out), 'g1');
});
