// Pure core of `ingest`: parse a waiting report and turn it into per-directory
// verdicts against a snapshot of the master list, or a rejection with a reason.
// No I/O here; the stage loads the snapshot and applies the plan.
import { zodIssues } from '../core/config.ts';
import { ReportSchema, type Report } from './format.ts';

export type Parsed = { ok: true; report: Report } | { ok: false; reason: string };

/** What the database says about the reporting host. */
export interface HostFacts {
  id: number;
  name: string;
  site: string;
  /** Private by the one rule (core/private.ts): the host or its site. */
  private: boolean;
  /** category name → host_category.id, for the categories the host carries. */
  categories: ReadonlyMap<string, number>;
}

/** The master list of one category. */
export interface MasterCategory {
  name: string;
  /** directory name (relative to the category top) → directory.id */
  directories: ReadonlyMap<string, number>;
  /** repository directory name → repomd.xml sha256 history, newest (current) first */
  repomd: ReadonlyMap<string, readonly string[]>;
}

export interface DirVerdict {
  hostCategoryId: number;
  directoryId: number;
  up2date: boolean;
  reason: string;
}

export type Plan =
  | { ok: true; verdicts: DirVerdict[]; counts: { upToDate: number; behind: number; absent: number }; categories: string[] }
  | { ok: false; reason: string };

/** Parses the report text and checks it against its spool path (nginx let only that user write there). */
export function parseReport(text: string, expected: { site: string; host: string }): Parsed {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `not valid JSON: ${(err as Error).message}` };
  }
  const parsed = ReportSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = zodIssues(parsed.error, '');
    return { ok: false, reason: `does not match the report schema: ${issues.slice(0, 5).join('; ')}${issues.length > 5 ? ` (and ${issues.length - 5} more)` : ''}` };
  }
  const report = parsed.data;
  if (report.site !== expected.site || report.host !== expected.host) {
    return { ok: false, reason: `report names ${report.site}/${report.host} but was uploaded as ${expected.site}/${expected.host}` };
  }
  const seen = new Set<string>();
  for (const c of report.categories) {
    if (seen.has(c.name)) return { ok: false, reason: `category "${c.name}" appears twice` };
    seen.add(c.name);
  }
  return { ok: true, report };
}

/** A report must be recent (a replayed old one must not vouch for today) and not from the future. */
export function checkReportAge(generatedAt: string, now: Date, maxAgeHours: number): string | null {
  const t = Date.parse(generatedAt);
  const ageH = (now.getTime() - t) / 3_600_000;
  if (ageH > maxAgeHours) return `report was generated at ${generatedAt}, more than ${maxAgeHours} hours ago (ingest.staleAfterHours)`;
  // A little clock skew is tolerated; a report from tomorrow is not.
  if (ageH < -1) return `report claims to be generated at ${generatedAt}, in the future (check the mirror's clock)`;
  return null;
}

/**
 * Decides every master directory of each reported category for the host:
 * a repository is up to date only when its repomd.xml hash is the current one;
 * an older (alternate) hash means behind; a hash we never published, a directory
 * the master does not have, or a public host reject the whole report.
 */
export function planReport(report: Report, host: HostFacts | null, master: ReadonlyMap<string, MasterCategory>): Plan {
  const who = `${report.site}/${report.host}`;
  if (!host) return { ok: false, reason: `unknown host ${who}: not in the registry` };
  if (host.site !== report.site) return { ok: false, reason: `host ${report.host} belongs to site ${host.site}, not ${report.site}` };
  // MirrorManager had to disable check-ins from public hosts: they kept stale mirrors listed.
  if (!host.private) return { ok: false, reason: `host ${who} is public: public mirrors are crawled, reports are accepted only from private hosts` };

  const verdicts: DirVerdict[] = [];
  const counts = { upToDate: 0, behind: 0, absent: 0 };
  for (const cat of report.categories) {
    const m = master.get(cat.name);
    if (!m) return { ok: false, reason: `unknown category "${cat.name}"` };
    const hostCategoryId = host.categories.get(cat.name);
    if (hostCategoryId === undefined) return { ok: false, reason: `host ${who} does not carry category "${cat.name}" in the registry` };

    const present = new Set(cat.directories);
    for (const d of Object.keys(cat.repomd)) present.add(d);
    const unknown = [...present].filter((d) => !m.directories.has(d)).sort();
    if (unknown.length) {
      return { ok: false, reason: `category "${cat.name}": ${unknown.length} director${unknown.length === 1 ? 'y is' : 'ies are'} not in the master list: ${listSome(unknown)}` };
    }
    for (const [dir, sha] of Object.entries(cat.repomd)) {
      const history = m.repomd.get(dir);
      if (history && !history.includes(sha)) {
        return { ok: false, reason: `category "${cat.name}": ${dir}/repodata/repomd.xml sha256 ${sha.slice(0, 12)}… matches neither the current nor an alternate version` };
      }
    }
    for (const [dir, directoryId] of [...m.directories].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      // The category top itself ('') is present whenever the category is reported.
      const here = dir === '' || present.has(dir);
      const v = verdictFor(here, cat.repomd[dir], m.repomd.get(dir));
      if (v.up2date) counts.upToDate++;
      else if (here) counts.behind++;
      else counts.absent++;
      verdicts.push({ hostCategoryId, directoryId, ...v });
    }
  }
  return { ok: true, verdicts, counts, categories: report.categories.map((c) => c.name) };
}

function verdictFor(present: boolean, sha: string | undefined, history: readonly string[] | undefined): { up2date: boolean; reason: string } {
  if (!present) return { up2date: false, reason: 'report: directory absent' };
  if (!history || history.length === 0) return { up2date: true, reason: 'report: directory present' };
  if (!sha) return { up2date: false, reason: 'report: repository without a repomd.xml hash' };
  const behind = history.indexOf(sha);
  if (behind === 0) return { up2date: true, reason: 'report: repomd.xml sha256 is current' };
  return { up2date: false, reason: `report: repomd.xml sha256 is the previous push (-${behind})` };
}

function listSome(items: string[], n = 5): string {
  const shown = items.slice(0, n).map((s) => JSON.stringify(s)).join(', ');
  return items.length > n ? `${shown} and ${items.length - n} more` : shown;
}
