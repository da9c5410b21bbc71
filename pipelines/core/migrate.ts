// Numbered migrations in sql/NNN_name.sql, applied in order, each in its own
// transaction whose first statement records it (a concurrent migrator clashes on
// the primary key and backs off). Re-running is a no-op.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db, Queryable } from './db.ts';

export const SQL_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'sql');

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

export interface MigrationStatus {
  id: number;
  name: string;
  appliedAt: Date | null;
}

export function loadMigrations(dir = SQL_DIR): Migration[] {
  const files = fs.readdirSync(dir).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f));
  const migrations = files
    .map((file) => ({ id: Number(file.slice(0, 3)), name: file.replace(/\.sql$/, ''), sql: fs.readFileSync(path.join(dir, file), 'utf8') }))
    .sort((a, b) => a.id - b.id);
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.id === migrations[i - 1]!.id) throw new Error(`two migrations share number ${migrations[i]!.id}: ${migrations[i - 1]!.name}, ${migrations[i]!.name}`);
  }
  return migrations;
}

async function ensureTable(db: Queryable): Promise<void> {
  await db.exec(`CREATE TABLE IF NOT EXISTS schema_migration (
    id integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
}

/** Applies every migration not yet recorded; returns the names applied. */
export async function migrate(db: Db, migrations = loadMigrations()): Promise<string[]> {
  await ensureTable(db);
  const applied: string[] = [];
  for (const m of migrations) {
    const done = await db.transaction(async (tx) => {
      const inserted = await tx.query(
        'INSERT INTO schema_migration (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING',
        [m.id, m.name],
      );
      if (inserted.rowCount === 0) return false;
      try {
        await tx.exec(m.sql);
      } catch (err) {
        throw new Error(`migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
      }
      return true;
    });
    if (done) applied.push(m.name);
  }
  return applied;
}

export async function migrationStatus(db: Db, migrations = loadMigrations()): Promise<MigrationStatus[]> {
  await ensureTable(db);
  const { rows } = await db.query<{ id: number; applied_at: Date }>('SELECT id, applied_at FROM schema_migration');
  const at = new Map(rows.map((r) => [r.id, r.applied_at]));
  return migrations.map((m) => ({ id: m.id, name: m.name, appliedAt: at.get(m.id) ?? null }));
}

/**
 * A stable, engine-independent text dump of the public schema (tables, columns,
 * constraints, indexes), compared in tests against the committed test/schema.sql.
 */
export async function dumpSchema(db: Queryable): Promise<string> {
  const cols = await db.query<{ table_name: string; column_name: string; data_type: string; is_nullable: string; column_default: string | null }>(
    `SELECT table_name, column_name, data_type, is_nullable, column_default
       FROM information_schema.columns WHERE table_schema = 'public'
      ORDER BY table_name, ordinal_position`,
  );
  const cons = await db.query<{ table_name: string; conname: string; def: string }>(
    `SELECT c.conrelid::regclass::text AS table_name, c.conname, pg_get_constraintdef(c.oid) AS def
       FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
      WHERE n.nspname = 'public' AND c.contype <> 'n' ORDER BY 1, 2`,
  );
  const idx = await db.query<{ tablename: string; indexname: string; indexdef: string }>(
    `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2`,
  );
  const out: string[] = [];
  const tables = [...new Set(cols.rows.map((c) => c.table_name))];
  for (const t of tables) {
    out.push(`TABLE ${t}`);
    for (const c of cols.rows.filter((r) => r.table_name === t)) {
      out.push(`  ${c.column_name} ${c.data_type}${c.is_nullable === 'NO' ? ' NOT NULL' : ''}${c.column_default ? ` DEFAULT ${c.column_default}` : ''}`);
    }
    for (const c of cons.rows.filter((r) => r.table_name === t)) out.push(`  CONSTRAINT ${c.conname} ${c.def}`);
    for (const i of idx.rows.filter((r) => r.tablename === t)) out.push(`  INDEX ${i.indexdef.replace(/ ON public\./, ' ON ')}`);
  }
  return out.join('\n') + '\n';
}
