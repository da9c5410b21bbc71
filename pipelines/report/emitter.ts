// Build emitter for the private-mirror report upload: the server-level nginx
// fragment (WebDAV PUT, basic auth, own-path check, size limit) and the htpasswd
// file of the private hosts (host or site private) that have a report password.
import fs from 'node:fs';
import Handlebars from 'handlebars';
import { resolvePath } from '../core/config.ts';
import type { Emitter } from '../core/generation.ts';
import type { Queryable } from '../core/db.ts';
import { PRIVATE_HOST_SQL } from '../core/private.ts';
import { HOST_NAME_RE, PASSWORD_HASH_RE, SITE_NAME_RE, renderHtpasswd, reportUser } from './htpasswd.ts';

export const REPORTS_FRAGMENT = 'nginx/server.d/30-reports.conf';
export const REPORTS_HTPASSWD = 'nginx/reports.htpasswd';

const TEMPLATE_FILE = decodeURIComponent(new URL('../../templates/nginx/reports.conf.hbs', import.meta.url).pathname);
// nginx config has no quoting we could rely on: the spool path goes in bare.
const SAFE_ABS_PATH = /^\/[A-Za-z0-9._/+@=,-]*$/;

let template: HandlebarsTemplateDelegate | null = null;

export interface ReportsView {
  /** Absolute spool directory (ingest.spoolDir). */
  spoolDir: string;
  /** Absolute directory of the per-host ingest outcomes (ingest.statusDir). */
  statusDir: string;
  maxBodyBytes: number;
}

export interface ReportAccount {
  site: string;
  host: string;
  hash: string;
}

/** The server-level fragment; throws when the spool path cannot go into nginx config. */
export function renderReportsFragment(view: ReportsView): string {
  const spoolDir = safeDir('ingest.spoolDir', view.spoolDir);
  const statusDir = safeDir('ingest.statusDir', view.statusDir);
  if (!Number.isInteger(view.maxBodyBytes) || view.maxBodyBytes < 1) throw new Error(`ingest.maxReportBytes must be a positive integer`);
  template ??= Handlebars.compile(fs.readFileSync(TEMPLATE_FILE, 'utf8'), { strict: true, noEscape: true });
  return template({ spoolDir, statusDir, maxBodyBytes: view.maxBodyBytes, htpasswd: REPORTS_HTPASSWD });
}

function safeDir(key: string, dir: string): string {
  const d = dir.replace(/\/+$/, '');
  if (!SAFE_ABS_PATH.test(d)) throw new Error(`${key} ${JSON.stringify(dir)} cannot be used in nginx config (absolute path of letters, digits and ._/+@=,- only)`);
  return d;
}

/** Splits accounts into htpasswd entries and notes about those left out (never trusted unvalidated). */
export function reportAccounts(rows: readonly ReportAccount[]): { entries: Array<{ user: string; hash: string }>; notes: string[] } {
  const entries: Array<{ user: string; hash: string }> = [];
  const notes: string[] = [];
  for (const r of rows) {
    if (!SITE_NAME_RE.test(r.site) || !HOST_NAME_RE.test(r.host)) {
      notes.push(`report upload: ${JSON.stringify(`${r.site}/${r.host}`)} left out: site or host name unusable in a URL path`);
    } else if (!PASSWORD_HASH_RE.test(r.hash)) {
      notes.push(`report upload: ${r.site}/${r.host} left out: report_password_hash is not an apr1/SHA/SSHA/bcrypt hash`);
    } else {
      entries.push({ user: reportUser(r.site, r.host), hash: r.hash });
    }
  }
  return { entries, notes };
}

export async function loadReportAccounts(db: Queryable): Promise<ReportAccount[]> {
  const { rows } = await db.query<ReportAccount>(
    `SELECT s.name AS site, h.name AS host, h.report_password_hash AS hash
       FROM host h JOIN site s ON s.id = h.site_id
      WHERE ${PRIVATE_HOST_SQL} AND h.report_password_hash IS NOT NULL
      ORDER BY s.name, h.name`,
  );
  return rows;
}

export const reportsEmitter: Emitter = {
  name: 'reports',
  async emit(ctx, gen) {
    const spoolDir = resolvePath(ctx.config, ctx.config.ingest.spoolDir);
    const statusDir = resolvePath(ctx.config, ctx.config.ingest.statusDir);
    const fragment = renderReportsFragment({ spoolDir, statusDir, maxBodyBytes: ctx.config.ingest.maxReportBytes });
    const { entries, notes } = reportAccounts(await loadReportAccounts(ctx.db));
    gen.write(REPORTS_FRAGMENT, fragment);
    gen.write(REPORTS_HTPASSWD, renderHtpasswd(entries));
    for (const n of notes) ctx.log.warn(n);
    return { counts: { reportAccounts: entries.length }, notes };
  },
};
