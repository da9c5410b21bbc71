// The generated rsyncd.conf snippet in a real rsync daemon: merged into a module with
// `&merge`, continuation lines and all, it lets a listed address in and keeps an
// unlisted one out.
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from '../../pipelines/serve/nginx.ts';
import { parseAddress, rsyncdSnippet, sortAddresses } from '../../pipelines/public/rsync-acl.ts';
import { requireTool } from '../helpers/system.ts';

const run = promisify(execFile);

async function withDaemon(rsync: string, snippet: string, fn: (url: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorsmith-rsyncd-'));
  fs.mkdirSync(path.join(dir, 'tree'));
  fs.writeFileSync(path.join(dir, 'tree', 'fullfiletimelist-fedora'), 'x\n');
  fs.writeFileSync(path.join(dir, 'rsync_acl.conf'), snippet);
  const port = await freePort();
  fs.writeFileSync(
    path.join(dir, 'rsyncd.conf'),
    [`use chroot = no`, `log file = ${dir}/rsyncd.log`, `[fedora]`, `path = ${dir}/tree`, `read only = yes`, `&merge ${dir}/rsync_acl.conf`, ''].join('\n'),
  );
  const daemon = spawn(rsync, ['--daemon', '--no-detach', `--config=${dir}/rsyncd.conf`, `--port=${port}`, '--address=127.0.0.1'], { stdio: 'ignore' });
  try {
    // Wait (bounded) until it listens.
    for (let i = 0; ; i++) {
      const up = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => (s.end(), resolve(true)));
        s.on('error', () => resolve(false));
      });
      if (up) break;
      if (i > 100) throw new Error(`rsync daemon did not listen on ${port}: ${fs.existsSync(`${dir}/rsyncd.log`) ? fs.readFileSync(`${dir}/rsyncd.log`, 'utf8') : ''}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await fn(`rsync://127.0.0.1:${port}/fedora/`);
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((r) => (daemon.exitCode !== null ? r(null) : daemon.once('exit', r)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function list(rsync: string, url: string): Promise<{ code: number; out: string }> {
  try {
    const r = await run(rsync, ['--list-only', '--no-motd', '--timeout=10', '--contimeout=10', url], { timeout: 20_000 });
    return { code: 0, out: r.stdout };
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: e.stderr ?? '' };
  }
}

it('rsync_acl.conf admits exactly the listed addresses in a real rsync daemon', { timeout: 60_000 }, async (t) => {
  const rsync = requireTool(t, 'rsync');
  if (!rsync) return;
  const others = Array.from({ length: 20 }, (_, i) => parseAddress(`192.0.2.${i + 1}`)!);
  const allowed = rsyncdSnippet(sortAddresses([...others, parseAddress('127.0.0.1')!, parseAddress('2001:db8::1')!]));
  assert.match(allowed, /\\\n/, 'long lists use continuation lines');
  await withDaemon(rsync, allowed, async (url) => {
    const r = await list(rsync, url);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /fullfiletimelist-fedora/);
  });
  const denied = rsyncdSnippet(sortAddresses(others));
  await withDaemon(rsync, denied, async (url) => {
    const r = await list(rsync, url);
    assert.equal(r.code, 5, `expected access denied, got ${r.code}: ${r.out}`);
    assert.match(r.out, /access denied/);
  });
});
