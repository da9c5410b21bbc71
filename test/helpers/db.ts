// Runs database tests against both engines: PGlite in memory (always) and a real
// Postgres when DATABASE_URL is set (each test gets its own fresh database there).
import { randomBytes } from 'node:crypto';
import { describe, type TestContext } from 'node:test';
import pg from 'pg';
import { openDb, type Db } from '../../pipelines/core/db.ts';
import { migrate } from '../../pipelines/core/migrate.ts';
import { REQUIRE_SYSTEM } from './system.ts';

export type Backend = 'pglite' | 'pg';

export const PG_URL = process.env.DATABASE_URL || '';

/** describe() once per backend; the pg pass skips loudly without DATABASE_URL. */
export function describeBackends(name: string, body: (backend: Backend) => void): void {
  describe(`${name} [pglite]`, () => body('pglite'));
  if (PG_URL) {
    describe(`${name} [pg]`, () => body('pg'));
  } else if (REQUIRE_SYSTEM) {
    describe(`${name} [pg]`, () => {
      throw new Error('DATABASE_URL is required (MIRRORSMITH_REQUIRE_SYSTEM=1) for the Postgres pass');
    });
  } else {
    describe(`${name} [pg]`, { skip: 'SKIPPED: no DATABASE_URL; the real-Postgres pass did not run' }, () => {});
    warnOnce();
  }
}

let warned = false;
function warnOnce() {
  if (warned) return;
  warned = true;
  process.stderr.write('\n*** DATABASE TESTS ON REAL POSTGRES SKIPPED: set DATABASE_URL=postgres://… to run them\n');
}

let templateDump: Promise<Blob> | undefined;

/** A dump of a freshly migrated PGlite, made once per test process. */
function pgliteTemplate(): Promise<Blob> {
  templateDump ??= (async () => {
    const db = await openDb({ dataDir: 'memory://' });
    try {
      await migrate(db);
      return await db.dump!();
    } finally {
      await db.close();
    }
  })();
  return templateDump;
}

/** A fresh, migrated database on `backend`; dropped when the test ends. */
export async function freshDb(t: TestContext | undefined, backend: Backend, opts: { migrate?: boolean } = {}): Promise<{ db: Db; url?: string }> {
  let db: Db;
  let url: string | undefined;
  if (backend === 'pglite') {
    // Migrating costs more than starting PGlite: clone a migrated template instead.
    const template = opts.migrate === false ? undefined : await pgliteTemplate();
    db = await openDb({ dataDir: 'memory://', loadDataDir: template });
    t?.after(() => db.close());
    if (template) return { db };
  } else {
    const name = `ms_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const u = new URL(PG_URL);
    u.pathname = `/${name}`;
    url = u.toString();
    db = await openDb({ url, dataDir: '' });
    t?.after(async () => {
      await db.close().catch(() => {});
      const a = new pg.Client({ connectionString: PG_URL });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    });
  }
  if (opts.migrate !== false) await migrate(db);
  return { db, url };
}
