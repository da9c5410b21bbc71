// `mirrorsmith serve` as a user runs it: the CLI in the foreground on out/current,
// reloading when a publish switches generations, stopping cleanly on Ctrl-C.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { swapCurrent } from '../../pipelines/serve/generations.ts';
import { freePort } from '../../pipelines/serve/nginx.ts';
import { get, markedGeneration, tempDir } from '../helpers/nginx.ts';
import { requireTool } from '../helpers/system.ts';

const CLI = path.resolve(import.meta.dirname, '../../pipelines/cli.ts');
// The child runs in a temp dir: resolve tsx from here, not from its cwd.
const TSX = import.meta.resolve('tsx');

test('mirrorsmith serve follows publishes and stops on SIGINT', async (t) => {
  if (!requireTool(t, 'nginx', 'nginx-light')) return;
  const dir = tempDir(t);
  const out = path.join(dir, 'out');
  markedGeneration(out, 'g1', '2026-11-01T00:00:00Z');
  markedGeneration(out, 'g2', '2026-11-01T00:01:00Z');
  swapCurrent(out, 'g1');
  fs.writeFileSync(path.join(dir, 'mirrorsmith.yaml'), 'output:\n  dir: out\n');
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', TSX, CLI, '-c', path.join(dir, 'mirrorsmith.yaml'), 'serve', '--port', String(port), '--prefix', 'var/nginx'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.after(() => child.kill('SIGKILL'));

  const deadline = Date.now() + 30_000;
  while (!stdout.includes('serving') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  assert.match(stdout, new RegExp(`serving .*out/current \\(generation g1\\) at http://127\\.0\\.0\\.1:${port}/`), stderr);
  const url = `http://127.0.0.1:${port}`;
  assert.equal((await get(`${url}/which`)).body, 'g1\n');
  const pid = Number(fs.readFileSync(path.join(dir, 'var/nginx/nginx.pid'), 'utf8'));

  swapCurrent(out, 'g2');
  let which = '';
  for (let i = 0; i < 100 && which !== 'g2\n'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    which = (await get(`${url}/which`)).body;
  }
  assert.equal(which, 'g2\n', 'serve reloaded nginx after current switched');
  // serve logs the reload once nginx -s reload returned: a moment after the new workers answer.
  for (let i = 0; i < 100 && !/current switched to g2: nginx reloaded/.test(stderr); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(stderr, /current switched to g2: nginx reloaded/);
  // What this nginx loaded is on record, so publish never prunes it.
  const record = () => JSON.parse(fs.readFileSync(path.join(out, '.loaded', `serve-${pid}.json`), 'utf8'));
  assert.deepEqual([record().id, record().pid, record().gone], ['g2', pid, undefined]);

  child.kill('SIGINT');
  const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 15_000))]);
  assert.equal(code, 0, stderr);
  assert.throws(() => process.kill(pid, 0), /ESRCH/, 'nginx master is gone');
  assert.equal(record().gone, true, 'a stopped nginx holds no generation');
});

test('mirrorsmith serve rejects a bad port with exit 2', async (t) => {
  const dir = tempDir(t);
  const child = spawn(process.execPath, ['--import', TSX, CLI, 'serve', '--port', '99999'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  assert.equal(code, 2);
  assert.match(stderr, /--port: "99999" is not a TCP port/);
});
