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
  /**
   * PGlite only: `COPY … FROM '/dev/blob'` with `data` (COPY text format) as
   * the blob; returns the rows copied. Use insertRows, which falls back to
   * unnest arrays on Postgres.
   */
  copyFrom?(sql: string, data: string): Promise<number>;
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

/**
 * Postgres settings for the embedded PGlite, on top of its own start
 * parameters. Stock Postgres reserves 128 MB of shared buffers and shared
 * state for 100 connections; PGlite touches all of it at start (it is part of
 * the WebAssembly heap), which was ~130 MB of every stage process's RSS. One
 * connection, and a database of tens of MB whose pages also sit in the OS page
 * cache, need neither.
 */
export const PGLITE_SETTINGS: readonly string[] = ['shared_buffers=32MB', 'max_connections=8'];

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
      startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS.flatMap((kv) => ['-c', kv])],
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
    async copyFrom(sql: string, data: string) {
      const r = await c.query(sql, [], { blob: new Blob([data]) });
      return r.affectedRows ?? 0;
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

export interface BulkColumn {
  name: string;
  /** Postgres type of the column, e.g. `text`, `bigint`, `jsonb`. */
  type: string;
}

/**
 * Inserts many rows into `table` without a round trip per row and without
 * RETURNING: COPY on PGlite (rows go straight to the input functions; 20–25%
 * less CPU than a SELECT over json_to_recordset in WebAssembly), one
 * `INSERT … SELECT FROM json_to_recordset($1)` per few thousand rows on
 * Postgres (as fast there as unnest arrays, whose client-side array encoding
 * cost more). Values: strings, numbers, booleans, null; a json/jsonb column
 * takes any JSON-serialisable value. Returns the rows inserted.
 */
export async function insertRows(q: Queryable, table: string, columns: readonly BulkColumn[], rows: ReadonlyArray<readonly unknown[]>): Promise<number> {
  if (rows.length === 0) return 0;
  const names = columns.map((c) => c.name).join(', ');
  const isJson = columns.map((c) => c.type === 'jsonb' || c.type === 'json');
  let n = 0;
  if (q.copyFrom) {
    // Chunks of a few MB keep the COPY text (a string, then a blob copied into WebAssembly) small.
    for (let i = 0; i < rows.length; i += COPY_CHUNK) {
      let text = '';
      for (const row of rows.slice(i, i + COPY_CHUNK)) text += row.map((v, c) => copyValue(isJson[c] && v !== null && v !== undefined ? JSON.stringify(v) : v)).join('\t') + '\n';
      n += await q.copyFrom(`COPY ${table} (${names}) FROM '/dev/blob'`, text);
    }
    return n;
  }
  const record = columns.map((c, i) => `c${i} ${c.type}`).join(', ');
  const select = columns.map((_, i) => `r.c${i}`).join(', ');
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    const chunk = rows.slice(i, i + INSERT_CHUNK).map((row) => Object.fromEntries(row.map((v, c) => [`c${c}`, v ?? null])));
    const r = await q.query(`INSERT INTO ${table} (${names}) SELECT ${select} FROM json_to_recordset($1::json) AS r(${record})`, [JSON.stringify(chunk)]);
    n += r.rowCount;
  }
  return n;
}

const COPY_CHUNK = 5000;
const INSERT_CHUNK = 2000;

/** One value in COPY's text format: `\N` is NULL; backslash, tab, newline and carriage return are escaped. */
function copyValue(v: unknown): string {
  if (v === null || v === undefined) return '\\N';
  const s = typeof v === 'boolean' ? (v ? 't' : 'f') : String(v);
  return /[\\\t\n\r]/.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : s;
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
