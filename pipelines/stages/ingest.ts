// Stage `ingest`: private mirrors' reports that nginx's WebDAV PUT left in the
// spool are validated against the master list and applied, each in one
// transaction, then filed under processed/ or rejected/ (with a .reason file).
// A report never marks a public host fresh: public hosts are the crawler's.
import fs from 'node:fs';
import path from 'node:path';
import { resolvePath } from '../core/config.ts';
import type { Queryable } from '../core/db.ts';
import { PRIVATE_HOST_SQL } from '../core/private.ts';
import { emptyResult, type Stage, type StageContext, type StageResult } from '../core/types.ts';
import { claim, fileReport, listSpool, readBounded, stampOf, writeStatus, type SpoolDirs, type SpoolEntry } from '../report/spool.ts';
import { checkReportAge, parseReport, planReport, type DirVerdict, type HostFacts, type MasterCategory } from '../report/validate.ts';

export const ingestStage: Stage = {
  name: 'ingest',
  description: 'validate and apply the reports private mirrors uploaded (nginx WebDAV spool), file them under processed/ or rejected/',
  run,
};

type Outcome = { subject: string; ok: true; note: string } | { subject: string; ok: false; reason: string };

export async function run(ctx: StageContext): Promise<StageResult> {
  const dirs = spoolDirs(ctx);
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  const waiting = listSpool(dirs.incoming);
  const master = new Map<string, MasterCategory | null>();
  const result = emptyResult('ingest');
  const bar = ctx.progress('ingest', waiting.length);
  let bytes = 0;

  for (const entry of waiting) {
    if (ctx.signal.aborted) break;
    const outcome = await ingestOne(ctx, dirs, entry, master, (n) => (bytes += n));
    bar.tick();
    if (outcome.ok) {
      result.counts.ok++;
      ctx.log.info(`${outcome.subject}: ${outcome.note}`);
    } else {
      result.counts.failed++;
      result.failures.push({ subject: outcome.subject, kind: 'rejected', message: outcome.reason });
      ctx.log.warn(`${outcome.subject}: rejected: ${outcome.reason}`);
    }
  }
  bar.done();
  const expired = ctx.run.dryRun || ctx.signal.aborted ? 0 : await ctx.db.transaction((tx) => expireSilentHosts(tx, ctx.config.ingest.staleAfterHours));
  if (expired) ctx.log.warn(`${expired} up-to-date verdict(s) of private hosts without a report for ${ctx.config.ingest.staleAfterHours} h withdrawn`);
  result.stats = { reports: waiting.length, bytes, expired };
  if (ctx.run.dryRun) result.notes = ['dry run: nothing applied, reports left in the spool'];
  return result;
}

async function ingestOne(ctx: StageContext, dirs: SpoolDirs, entry: SpoolEntry, master: Map<string, MasterCategory | null>, countBytes: (n: number) => void): Promise<Outcome> {
  const { keepPerHost, maxReportBytes } = ctx.config.ingest;
  const stamp = stampOf(new Date());
  if (entry.kind === 'stray') {
    const subject = path.relative(dirs.incoming, entry.file);
    // Only regular files are filed away; anything else stays and is reported each run.
    if (!ctx.run.dryRun && fs.lstatSync(entry.file).isFile()) {
      fileReport(claim(entry.file), dirs.rejected, ['_stray'], `${stamp}-${path.basename(entry.file).replace(/[^A-Za-z0-9._-]/g, '_')}`, keepPerHost, entry.why);
    }
    return { subject, ok: false, reason: entry.why };
  }
  const subject = `${entry.site}/${entry.host}`;
  const file = ctx.run.dryRun ? entry.file : claim(entry.file);
  let generatedAt: string | undefined;
  const reject = (reason: string): Outcome => {
    if (!ctx.run.dryRun) {
      fileReport(file, dirs.rejected, [entry.site, entry.host], stamp, keepPerHost, reason);
      writeStatus(dirs.status, { format: 'mirrorsmith-report-status/1', site: entry.site, host: entry.host, outcome: 'rejected', at: new Date().toISOString(), generatedAt, reason });
    }
    return { subject, ok: false, reason };
  };

  const read = readBounded(file, maxReportBytes);
  countBytes(read.bytes);
  if (!read.ok) return reject(read.reason);
  const parsed = parseReport(read.text, { site: entry.site, host: entry.host });
  if (!parsed.ok) return reject(parsed.reason);
  const report = parsed.report;
  generatedAt = report.generatedAt;
  const tooOld = checkReportAge(report.generatedAt, new Date(), ctx.config.ingest.staleAfterHours);
  if (tooOld) return reject(tooOld);

  const host = await loadHost(ctx.db, report.host);
  const snapshot = new Map<string, MasterCategory>();
  for (const c of report.categories) {
    if (!master.has(c.name)) master.set(c.name, await loadMasterCategory(ctx.db, c.name, ctx.config.fileDetailRetentionDays));
    const m = master.get(c.name);
    if (m) snapshot.set(c.name, m);
  }
  const plan = planReport(report, host, snapshot);
  if (!plan.ok) return reject(plan.reason);

  if (!ctx.run.dryRun) {
    try {
      await ctx.db.transaction((tx) => applyPlan(tx, host!.id, plan.verdicts));
    } catch (err) {
      if (err instanceof NotPrivateError) return reject(err.message);
      throw err; // the database is the infrastructure: abort the stage
    }
    fileReport(file, dirs.processed, [entry.site, entry.host], stamp, keepPerHost);
    writeStatus(dirs.status, { format: 'mirrorsmith-report-status/1', site: entry.site, host: entry.host, outcome: 'processed', at: new Date().toISOString(), generatedAt, counts: plan.counts });
  }
  const { upToDate, behind, absent } = plan.counts;
  return { subject, ok: true, note: `report of ${report.generatedAt} applied (${plan.categories.join(', ')}): ${upToDate} up to date, ${behind} behind, ${absent} absent` };
}

class NotPrivateError extends Error {}

/** One transaction: the verdicts and the check-in time; re-checks the host is still private. */
export async function applyPlan(tx: Queryable, hostId: number, verdicts: readonly DirVerdict[]): Promise<void> {
  const touched = await tx.query(
    `UPDATE host h SET last_checked_in = now() FROM site s WHERE s.id = h.site_id AND h.id = $1 AND ${PRIVATE_HOST_SQL} RETURNING h.id`,
    [hostId],
  );
  if (touched.rowCount !== 1) throw new NotPrivateError(`host id ${hostId} is no longer private or no longer exists`);
  const CHUNK = 5000;
  for (let i = 0; i < verdicts.length; i += CHUNK) {
    const part = verdicts.slice(i, i + CHUNK);
    await tx.query(
      `INSERT INTO host_category_dir (host_category_id, directory_id, up2date, checked_at, reason)
       SELECT hc, d, u, now(), r FROM unnest($1::int[], $2::int[], $3::boolean[], $4::text[]) AS t(hc, d, u, r)
       ON CONFLICT (host_category_id, directory_id)
       DO UPDATE SET up2date = EXCLUDED.up2date, checked_at = EXCLUDED.checked_at, reason = EXCLUDED.reason`,
      [part.map((v) => v.hostCategoryId), part.map((v) => v.directoryId), part.map((v) => v.up2date), part.map((v) => v.reason)],
    );
  }
}

/**
 * Private hosts are never crawled: one that stops reporting would stay listed
 * forever. After `hours` without a report its verdicts are withdrawn; so are the
 * report-made verdicts of a host that has become public.
 */
export async function expireSilentHosts(tx: Queryable, hours: number): Promise<number> {
  const r = await tx.query(
    `UPDATE host_category_dir hcd
        SET up2date = false, checked_at = now(), reason = $2
       FROM host_category hc JOIN host h ON h.id = hc.host_id JOIN site s ON s.id = h.site_id
      WHERE hcd.host_category_id = hc.id AND ${PRIVATE_HOST_SQL} AND hcd.up2date
        AND (h.last_checked_in IS NULL OR h.last_checked_in < now() - make_interval(secs => $1::double precision))`,
    [hours * 3600, `report: none received for more than ${hours} hours`],
  );
  // A host made public since its last report keeps no report-made verdict: only the crawler vouches for public hosts.
  const pub = await tx.query(
    `UPDATE host_category_dir hcd
        SET up2date = false, checked_at = now(), reason = 'report: host is public now; waiting for the crawler'
       FROM host_category hc JOIN host h ON h.id = hc.host_id JOIN site s ON s.id = h.site_id
      WHERE hcd.host_category_id = hc.id AND NOT ${PRIVATE_HOST_SQL} AND hcd.up2date AND hcd.reason LIKE 'report:%'`,
  );
  return r.rowCount + pub.rowCount;
}

export async function loadHost(db: Queryable, name: string): Promise<HostFacts | null> {
  const h = await db.query<{ id: number; name: string; site: string; private: boolean }>(
    `SELECT h.id, h.name, s.name AS site, ${PRIVATE_HOST_SQL} AS private FROM host h JOIN site s ON s.id = h.site_id WHERE h.name = $1`,
    [name],
  );
  const row = h.rows[0];
  if (!row) return null;
  const cats = await db.query<{ name: string; id: number }>(
    'SELECT c.name, hc.id FROM host_category hc JOIN category c ON c.id = hc.category_id WHERE hc.host_id = $1',
    [row.id],
  );
  return { ...row, categories: new Map(cats.rows.map((c) => [c.name, c.id])) };
}

/** The master list of a category: directories and repomd.xml hash history (current + alternates in retention). */
export async function loadMasterCategory(db: Queryable, name: string, retentionDays: number): Promise<MasterCategory | null> {
  const cat = await db.query<{ id: number }>('SELECT id FROM category WHERE name = $1', [name]);
  if (!cat.rows[0]) return null;
  const categoryId = cat.rows[0].id;
  const dirs = await db.query<{ id: number; name: string }>('SELECT id, name FROM directory WHERE category_id = $1', [categoryId]);
  const hashes = await db.query<{ name: string; sha256: string; recent: boolean }>(
    `SELECT d.name, fd.sha256, fd.created_at >= now() - make_interval(secs => $2::double precision) AS recent
       FROM file_detail fd JOIN directory d ON d.id = fd.directory_id
      WHERE d.category_id = $1 AND fd.filename = 'repomd.xml' AND fd.sha256 IS NOT NULL
      ORDER BY d.name, fd.created_at DESC, fd.id DESC`,
    [categoryId, retentionDays * 86400],
  );
  const repomd = new Map<string, string[]>();
  for (const r of hashes.rows) {
    // The history may be kept on the repository directory or on its repodata/.
    const repoDir = r.name.endsWith('/repodata') ? r.name.slice(0, -'/repodata'.length) : r.name;
    const list = repomd.get(repoDir) ?? [];
    // The newest row is current whatever its age; older ones count within retention.
    if (list.length === 0 || r.recent) list.push(r.sha256.toLowerCase());
    repomd.set(repoDir, list);
  }
  return { name, directories: new Map(dirs.rows.map((d) => [d.name, d.id])), repomd };
}

function spoolDirs(ctx: StageContext): SpoolDirs {
  const i = ctx.config.ingest;
  return {
    incoming: resolvePath(ctx.config, i.spoolDir),
    processed: resolvePath(ctx.config, i.processedDir),
    rejected: resolvePath(ctx.config, i.rejectedDir),
    status: resolvePath(ctx.config, i.statusDir),
  };
}
