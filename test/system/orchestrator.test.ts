import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { parseConfig } from '../../pipelines/core/config.ts';
import type { AppContext } from '../../pipelines/core/context.ts';
import { openDb } from '../../pipelines/core/db.ts';
import { LockHeldError } from '../../pipelines/core/errors.ts';
import { memoryLogger } from '../../pipelines/core/log.ts';
import { emptyResult, type Stage } from '../../pipelines/core/types.ts';
import { runPipeline } from '../../pipelines/orchestrator.ts';
import { describeBackends, freshDb } from '../helpers/db.ts';
import { REQUIRE_SYSTEM, whichTool } from '../helpers/system.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const config = parseConfig({ maxFailureRatio: 0.5 }, '');

function stage(name: string, body: Stage['run']): Stage {
  return { name, description: name, run: body };
}

describeBackends('orchestrator', (backend) => {
  test('runs stages in order, records the run, stops after a throwing stage', async (t) => {
    const { db } = await freshDb(t, backend);
    const log = memoryLogger('info');
    const app: AppContext = { config, db, log, interactive: false };
    const order: string[] = [];
    const stages = [
      stage('one', async () => {
        order.push('one');
        return { ...emptyResult('one'), counts: { ok: 3, failed: 1, skipped: 0 }, failures: [{ subject: 'm1.example.org', kind: 'timeout', message: 'no answer in 20s' }] };
      }),
      stage('two', async () => {
        order.push('two');
        throw new Error('database vanished');
      }),
      stage('three', async () => {
        order.push('three');
        return emptyResult('three');
      }),
    ];
    const outcome = await runPipeline(app, { stages, signal: new AbortController().signal });
    assert.deepEqual(order, ['one', 'two']);
    assert.equal(outcome.exitCode, 1);
    assert.deepEqual(outcome.records.map((r) => r.status), ['ok', 'failed', 'skipped']);
    const { rows } = await db.query<{ status: string; exit_code: number; stages: Array<{ stage: string; status: string; error?: string }>; finished_at: Date | null }>(
      'SELECT status, exit_code, stages, finished_at FROM pipeline_run WHERE id = $1',
      [outcome.runId],
    );
    assert.equal(rows[0]!.status, 'failed');
    assert.equal(rows[0]!.exit_code, 1);
    assert.ok(rows[0]!.finished_at);
    assert.equal(rows[0]!.stages[1]!.error, 'database vanished');
    assert.ok(log.lines.some((l) => l.includes('one ok=3 failed=1 skipped=0')));
    assert.ok(log.lines.some((l) => l.includes('1 timeout failure(s): m1.example.org')));
  });

  test('per-mirror failures above maxFailureRatio make the exit code 1; below it 0', async (t) => {
    const { db } = await freshDb(t, backend);
    const app: AppContext = { config, db, log: memoryLogger(), interactive: false };
    const counts = (ok: number, failed: number) => stage('crawl', async () => ({ ...emptyResult('crawl'), counts: { ok, failed, skipped: 0 } }));
    assert.equal((await runPipeline(app, { stages: [counts(6, 4)], signal: new AbortController().signal })).exitCode, 0);
    assert.equal((await runPipeline(app, { stages: [counts(4, 6)], signal: new AbortController().signal })).exitCode, 1);
  });

  test('a cancelled run exits 130 and skips the remaining stages', async (t) => {
    const { db } = await freshDb(t, backend);
    const app: AppContext = { config, db, log: memoryLogger(), interactive: false };
    const controller = new AbortController();
    const outcome = await runPipeline(app, {
      signal: controller.signal,
      stages: [
        stage('a', async () => {
          controller.abort();
          return emptyResult('a');
        }),
        stage('b', async () => emptyResult('b')),
      ],
    });
    assert.equal(outcome.exitCode, 130);
    assert.deepEqual(outcome.records.map((r) => r.status), ['ok', 'cancelled']);
  });

  if (backend === 'pg') {
    test('a second concurrent run on the same server is refused at once', async (t) => {
      const { db, url } = await freshDb(t, backend);
      const other = await openDb({ url, dataDir: '' });
      t.after(() => other.close());
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let entered!: () => void;
      const inside = new Promise<void>((r) => (entered = r));
      const first = runPipeline({ config, db, log: memoryLogger(), interactive: false }, {
        signal: new AbortController().signal,
        stages: [stage('slow', async () => (entered(), await gate, emptyResult('slow')))],
      });
      await inside;
      const t0 = Date.now();
      await assert.rejects(
        runPipeline({ config, db: other, log: memoryLogger(), interactive: false }, { signal: new AbortController().signal, stages: [stage('x', async () => emptyResult('x'))] }),
        (err: Error) => err instanceof LockHeldError && new RegExp(`another run holds the lock since \\d{4}-.*pid ${process.pid} on `).test(err.message),
      );
      assert.ok(Date.now() - t0 < 5000, 'refused at once, not after waiting');
      release();
      assert.equal((await first).exitCode, 0);
    });
  }
});

// Two real `mirrorsmith run` processes on one embedded database. The first hangs in
// scan-master on an rsync master that accepts the connection and never speaks (a
// real run in progress, holding the data-directory lock); the second must be refused
// at once with the same words the pg advisory lock gives.
const rsyncMissing = whichTool('rsync') ? false : 'SYSTEM TEST SKIPPED: rsync not installed (apt-get install rsync)';
if (rsyncMissing && REQUIRE_SYSTEM) throw new Error('rsync is required (MIRRORSMITH_REQUIRE_SYSTEM=1)');

test('[pglite] a second concurrent `mirrorsmith run` exits 1 at once: "another run holds the lock since …" with the pid', { skip: rsyncMissing, timeout: 120_000 }, async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-runlock-'));
  // One cleanup, in order: the first run, the silent master, then the directory.
  const cleanups: Array<() => void> = [];
  t.after(() => {
    for (const c of cleanups.reverse()) {
      try {
        c();
      } catch {
        /* keep cleaning */
      }
    }
    fs.rmSync(work, { recursive: true, force: true });
  });
  let connected!: () => void;
  const sawConnection = new Promise<void>((r) => (connected = r));
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => {});
    connected();
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const port = (silent.address() as net.AddressInfo).port;
  const configFile = path.join(work, 'mirrorsmith.yaml');
  fs.writeFileSync(configFile, `database:\n  dataDir: db\ncategories:\n  - name: Hanging\n    topdir: hanging\n    source: { type: rsync, url: "rsync://127.0.0.1:${port}/hanging/" }\n`);
  const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true' };
  delete env.DATABASE_URL;
  const cli = (args: string[]) => {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), path.join(ROOT, 'pipelines/cli.ts'), '-c', configFile, ...args], { cwd: work, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b) => (err += b));
    const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    const exited = new Promise<{ code: number | null; err: string }>((resolve) =>
      child.on('close', (code) => {
        clearTimeout(killer);
        resolve({ code, err });
      }),
    );
    return { child, exited };
  };

  const first = cli(['run', '--stages', 'scan-master']);
  cleanups.push(() => void first.child.kill('SIGKILL'));
  const endedEarly = first.exited.then((r) => `the first run ended before it reached the master (exit ${r.code}): ${r.err}`);
  const early = await Promise.race([sawConnection.then(() => null), endedEarly]);
  assert.equal(early, null);

  const t0 = Date.now();
  const second = await cli(['run', '--stages', 'registry']).exited;
  const elapsed = Date.now() - t0;
  assert.equal(second.code, 1, second.err);
  assert.match(second.err, new RegExp(`another run holds the lock since \\d{4}-\\d\\d-\\d\\dT[^ ]+ \\(pid ${first.child.pid} on [^,]+, "run scan-master"\\)`));
  assert.match(second.err, /embedded database .*db allows one process at a time/);
  // Refused at once: the time is process start-up, never waiting on the lock.
  assert.ok(elapsed < 30_000, `refused after ${elapsed} ms`);

  // The first run is unharmed by the refusal and stops cleanly when cancelled.
  first.child.kill('SIGTERM');
  const firstDone = await first.exited;
  assert.equal(firstDone.code, 130, firstDone.err);
  assert.equal(fs.existsSync(path.join(work, 'db.lock')), false, 'lock released on exit');
});
