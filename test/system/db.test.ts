import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { openDb } from '../../pipelines/core/db.ts';
import { dumpSchema, loadMigrations, migrate, migrationStatus } from '../../pipelines/core/migrate.ts';
import { describeBackends, freshDb } from '../helpers/db.ts';

const SCHEMA_SNAPSHOT = path.join(import.meta.dirname, '..', 'schema.sql');

describeBackends('database', (backend) => {
  test('migrating an empty database twice applies everything once and matches test/schema.sql', async (t) => {
    const { db } = await freshDb(t, backend, { migrate: false });
    const first = await migrate(db);
    assert.deepEqual(first, loadMigrations().map((m) => m.name));
    assert.deepEqual(await migrate(db), [], 'second migrate is a no-op');
    const status = await migrationStatus(db);
    assert.ok(status.every((s) => s.appliedAt instanceof Date));
    const dump = await dumpSchema(db);
    if (process.env.UPDATE_SCHEMA_SNAPSHOT === '1') fs.writeFileSync(SCHEMA_SNAPSHOT, dump);
    assert.equal(dump, fs.readFileSync(SCHEMA_SNAPSHOT, 'utf8'), 'schema differs from test/schema.sql (UPDATE_SCHEMA_SNAPSHOT=1 rewrites it)');
  });

  test('a failing transaction rolls back and the error propagates', async (t) => {
    const { db } = await freshDb(t, backend);
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(`INSERT INTO site (name) VALUES ('rolled-back')`);
        await tx.query(`INSERT INTO site (name) VALUES ('rolled-back')`); // unique violation
      }),
      /duplicate key|unique/i,
    );
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM site`);
    assert.equal(rows[0]!.n, 0);
  });

  test('int8 values and arrays come back the same on both engines', async (t) => {
    const { db } = await freshDb(t, backend);
    const { rows } = await db.query<{ big: number; arr: string[]; j: unknown }>(`SELECT 5000000000::bigint AS big, ARRAY['a','b']::text[] AS arr, '{"x":1}'::jsonb AS j`);
    assert.deepEqual(rows[0], { big: 5_000_000_000, arr: ['a', 'b'], j: { x: 1 } });
  });
});

test('the embedded database refuses a second opener and reports a stale lock', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-lock-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const dataDir = path.join(dir, 'db');
  const db = await openDb({ dataDir, holder: 'first' });
  await assert.rejects(openDb({ dataDir, holder: 'second' }), /in use by another mirrorsmith process \(pid \d+.*"first"/);
  await db.close();
  // A lock file left by a dead process is taken over with a notice.
  fs.writeFileSync(`${dataDir}.lock`, JSON.stringify({ pid: 2 ** 22 + 12345, hostname: os.hostname(), startedAt: '2026-01-01T00:00:00.000Z', holder: 'crashed run' }));
  const notices: string[] = [];
  const again = await openDb({ dataDir, holder: 'third', onNotice: (m) => notices.push(m) });
  await again.close();
  assert.match(notices.join('\n'), /stale lock .* dead pid 4206649 \("crashed run"/);
  assert.equal(fs.existsSync(`${dataDir}.lock`), false, 'lock released on close');
});
