// Opening and closing what every command needs: the validated config, the logger
// and the migrated database with the config's categories synced in.
import fs from 'node:fs';
import { loadConfig, parseConfig, resolvePath, type Config } from './config.ts';
import { openDb, type Db, type Queryable } from './db.ts';
import { createLogger, type LogFormat, type Logger, type LogLevel } from './log.ts';
import { migrate } from './migrate.ts';

export interface GlobalOptions {
  config: string;
  logFormat?: LogFormat;
  verbose?: boolean;
  quiet?: boolean;
}

export interface AppContext {
  config: Config;
  db: Db;
  log: Logger;
  /** Whether a human is watching (progress bars, tables). */
  interactive: boolean;
}

export function makeLogger(opts: Pick<GlobalOptions, 'logFormat' | 'verbose' | 'quiet'>, env = process.env): Logger {
  const level: LogLevel = opts.verbose ? 'debug' : opts.quiet ? 'warn' : 'info';
  return createLogger({ format: opts.logFormat ?? 'text', level, sink: env.MIRRORSMITH_LOG_SINK === 'stdout' ? { write: (l) => process.stdout.write(l + '\n') } : undefined });
}

/** Loads the config file; a missing default file means built-in defaults. */
export function readConfig(file: string, explicit: boolean, env = process.env): Config {
  if (!explicit && !fs.existsSync(file)) return parseConfig({}, '', env);
  return loadConfig(file, env);
}

export async function openApp(opts: GlobalOptions & { configExplicit?: boolean; holder: string }, env = process.env): Promise<AppContext> {
  const log = makeLogger(opts, env);
  const config = readConfig(opts.config, opts.configExplicit ?? true, env);
  const db = await openDb({ url: config.databaseUrl, dataDir: resolvePath(config, config.database.dataDir), holder: opts.holder, onNotice: (m) => log.warn(m) });
  try {
    const applied = await migrate(db);
    if (applied.length) log.info(`database migrated: ${applied.join(', ')}`);
    await db.transaction((tx) => syncConfigTables(tx, config));
  } catch (err) {
    await db.close();
    throw err;
  }
  const interactive = Boolean(process.stderr.isTTY) && env.CI !== 'true' && (opts.logFormat ?? 'text') === 'text';
  return { config, db, log, interactive };
}

/** Categories, repository aliases and continent redirects are owned by the config file. */
export async function syncConfigTables(tx: Queryable, config: Config): Promise<void> {
  for (const c of config.categories) {
    await tx.query(
      `INSERT INTO category (name, topdir) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET topdir = EXCLUDED.topdir WHERE category.topdir IS DISTINCT FROM EXCLUDED.topdir`,
      [c.name, c.topdir],
    );
  }
  const aliases = config.repositoryAliases;
  await tx.query('DELETE FROM repository_redirect WHERE NOT (from_repo = ANY($1::text[]))', [aliases.map((a) => a.from)]);
  for (const a of aliases) {
    await tx.query(
      `INSERT INTO repository_redirect (from_repo, to_repo) VALUES ($1, $2)
       ON CONFLICT (from_repo) DO UPDATE SET to_repo = EXCLUDED.to_repo WHERE repository_redirect.to_repo IS DISTINCT FROM EXCLUDED.to_repo`,
      [a.from, a.to],
    );
  }
  const redirects = Object.entries(config.countryContinentRedirects);
  await tx.query('DELETE FROM country_continent_redirect WHERE NOT (country = ANY($1::text[]))', [redirects.map(([c]) => c)]);
  for (const [country, continent] of redirects) {
    await tx.query(
      `INSERT INTO country_continent_redirect (country, continent) VALUES ($1, $2)
       ON CONFLICT (country) DO UPDATE SET continent = EXCLUDED.continent WHERE country_continent_redirect.continent IS DISTINCT FROM EXCLUDED.continent`,
      [country, continent],
    );
  }
}

/** Opens the app, runs `fn`, always closes the database; returns fn's exit code. */
export async function withApp(opts: GlobalOptions & { configExplicit?: boolean; holder: string }, fn: (app: AppContext) => Promise<number | void>): Promise<number> {
  const app = await openApp(opts);
  try {
    return (await fn(app)) ?? 0;
  } finally {
    await app.db.close();
  }
}
