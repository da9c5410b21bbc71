import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../pipelines/core/config.ts';
import type { AppContext } from '../../pipelines/core/context.ts';
import { openDb } from '../../pipelines/core/db.ts';
import { LockHeldError } from '../../pipelines/core/errors.ts';
import { memoryLogger } from '../../pipelines/core/log.ts';
import { emptyResult, type Stage } from '../../pipelines/core/types.ts';
import { runPipeline } from '../../pipelines/orchestrator.ts';
import { describeBackends, freshDb } from '../helpers/db.ts';

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
        (err: Error) => err instanceof LockHeldError && /another run holds the lock since \d{4}-/.test(err.message),
      );
      assert.ok(Date.now() - t0 < 5000, 'refused at once, not after waiting');
      release();
      assert.equal((await first).exitCode, 0);
    });
  }
});
