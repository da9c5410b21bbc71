// One database surface over two engines: PGlite (embedded, the default) and a real
// Postgres through `pg` when DATABASE_URL is set. The SQL is identical; only the
// connection, transaction and type-parsing plumbing differ, and that lives here.
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { acquireDirLock, type DirLock } from './lock.ts';

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

/** What a query callback gets: a connection or a transaction. */
export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** Runs a script of several statements without parameters. */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: 'pglite' | 'pg';
  /** A human description without credentials, e.g. "PGlite at var/db". */
  readonly description: string;
  /** Runs `fn` inside BEGIN … COMMIT; rolls back and rethrows on error. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs `fn` on one dedicated connection (session-level state such as advisory locks). */
  withClient<T>(fn: (client: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /** PGlite only: a snapshot of the whole data directory (tests clone migrated databases from it). */
  dump?(): Promise<Blob>;
}

export interface OpenDbOptions {
  /** postgres:// URL; when absent the embedded PGlite at `dataDir` is used. */
  url?: string;
  /** PGlite data directory. `memory://` keeps it in memory (tests). */
  dataDir: string;
  /** Label written into the lock file: which command holds the embedded database. */
  holder?: string;
  /** Told about things worth a warning, e.g. a stale lock taken over. */
  onNotice?: (message: string) => void;
  /** PGlite only: start from this dump of a data directory (see `dumpPglite`). */
  loadDataDir?: Blob;
}

// int8 (counts, sizes) and numeric come back as JS numbers on both engines; our
// values stay far below 2^53.
const INT8 = 20;
const NUMERIC = 1700;
const toNumber = (v: string) => (v === null ? v : Number(v));

export async function openDb(opts: OpenDbOptions): Promise<Db> {
  return opts.url ? openPg(opts.url) : openPglite(opts.dataDir, opts.holder ?? 'mirrorsmith', opts.onNotice, opts.loadDataDir);
}

async function openPg(url: string): Promise<Db> {
  const types = {
    getTypeParser(oid: number, format?: 'text' | 'binary') {
      if (oid === INT8 || oid === NUMERIC) return toNumber;
      return pg.types.getTypeParser(oid, format as 'text');
    },
  };
  const pool = new pg.Pool({ connectionString: url, max: 8, types: types as pg.CustomTypesConfig });
  // An idle pooled connection dropped by the server (restart, admin kill) must not
  // crash the process; the next query gets a fresh connection or a clear error.
  pool.on('error', () => {});
  // Fail fast with a clear message instead of on the first query.
  try {
    const c = await pool.connect();
    c.release();
  } catch (err) {
    await pool.end().catch(() => {});
    throw new Error(`cannot connect to Postgres at ${redactUrl(url)}: ${(err as Error).message}`, { cause: err });
  }
  const wrap = (c: pg.Pool | pg.PoolClient): Queryable => ({
    async query<R>(sql: string, params?: readonly unknown[]) {
      const r = await c.query(sql, params as unknown[] | undefined);
      return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
    },
    async exec(sql: string) {
      await c.query(sql);
    },
  });
  const withClient = async <T>(fn: (client: Queryable) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    try {
      return await fn(wrap(client));
    } finally {
      client.release();
    }
  };
  return {
    kind: 'pg',
    description: `Postgres at ${redactUrl(url)}`,
    ...wrap(pool),
    withClient,
    transaction: (fn) =>
      withClient(async (client) => {
        await client.exec('BEGIN');
        try {
          const result = await fn(client);
          await client.exec('COMMIT');
          return result;
        } catch (err) {
          await client.exec('ROLLBACK').catch(() => {});
          throw err;
        }
      }),
    close: () => pool.end(),
  };
}

async function openPglite(dataDir: string, holder: string, onNotice?: (message: string) => void, loadDataDir?: Blob): Promise<Db> {
  const inMemory = dataDir.startsWith('memory://');
  let lock: DirLock | undefined;
  if (!inMemory) {
    fs.mkdirSync(path.dirname(path.resolve(dataDir)), { recursive: true });
    // PGlite is single-process: two processes on one directory silently lose writes.
    lock = acquireDirLock(path.resolve(dataDir), holder);
    const stale = lock.replacedStale;
    if (stale) onNotice?.(`took over a stale lock on ${dataDir} left by dead pid ${stale.pid} ("${stale.holder}", since ${stale.startedAt})`);
  }
  let lite: PGlite;
  try {
    lite = await PGlite.create(inMemory ? undefined : dataDir, {
      parsers: { [INT8]: toNumber, [NUMERIC]: toNumber },
      loadDataDir,
    });
  } catch (err) {
    lock?.release();
    throw new Error(`cannot open the embedded database at ${dataDir}: ${(err as Error).message}`, { cause: err });
  }
  const wrap = (c: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    async query<R>(sql: string, params?: readonly unknown[]) {
      const r = await c.query<R>(sql, params as unknown[] | undefined);
      return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
    },
    async exec(sql: string) {
      await c.exec(sql);
    },
  });
  // PGlite serialises everything on one connection; a transaction holds it.
  return {
    kind: 'pglite',
    description: `PGlite at ${dataDir}`,
    ...wrap(lite),
    withClient: (fn) => fn(wrap(lite)),
    dump: () => lite.dumpDataDir('none'),
    transaction: (fn) => lite.transaction((tx) => fn(wrap(tx))),
    async close() {
      try {
        await lite.close();
      } finally {
        lock?.release();
      }
    },
  };
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}
