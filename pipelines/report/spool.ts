// The report spool on disk: nginx's WebDAV PUT writes incoming/<site>/<host>.json
// (a temp file renamed into place, so a file seen here is complete); ingest claims
// a report by renaming it, then files it under processed/ or rejected/.
import fs from 'node:fs';
import path from 'node:path';
import { HOST_NAME_RE, SITE_NAME_RE } from './htpasswd.ts';

export interface SpoolDirs {
  incoming: string;
  processed: string;
  rejected: string;
  /** <site>/<host>.json: the last ingest outcome, served back to that host by nginx. */
  status: string;
}

/** What `mirrorsmith report --status` shows a mirror admin. */
export interface IngestStatus {
  format: 'mirrorsmith-report-status/1';
  site: string;
  host: string;
  outcome: 'processed' | 'rejected';
  /** When ingest decided. */
  at: string;
  /** The report's own generatedAt, when it could be read. */
  generatedAt?: string;
  reason?: string;
  counts?: { upToDate: number; behind: number; absent: number };
}

export function writeStatus(statusDir: string, s: IngestStatus): void {
  const dir = path.join(statusDir, s.site);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${s.host}.json.tmp`);
  fs.writeFileSync(tmp, JSON.stringify(s, null, 2) + '\n');
  fs.renameSync(tmp, path.join(dir, `${s.host}.json`));
}

export type SpoolEntry =
  | { kind: 'report'; site: string; host: string; file: string }
  | { kind: 'stray'; file: string; why: string };

const CLAIM_SUFFIX = '.ingesting';

/** What waits in incoming/, in a stable order; at most `limit` entries (the rest wait for the next run). */
export function listSpool(incoming: string, limit = 100_000): SpoolEntry[] {
  const out: SpoolEntry[] = [];
  const sorted = (dir: string) => fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const top of sorted(incoming)) {
    if (out.length >= limit) break;
    if (top.name.startsWith('.')) continue; // a deposit in progress (see depositReport)
    const topPath = path.join(incoming, top.name);
    if (!top.isDirectory() || !SITE_NAME_RE.test(top.name)) {
      out.push({ kind: 'stray', file: topPath, why: 'not a <site>/<host>.json report path' });
      continue;
    }
    // An older claim left by a crashed ingest goes before a newer upload of the same host.
    const entries = sorted(topPath);
    const ordered = [...entries.filter((f) => f.name.endsWith(CLAIM_SUFFIX)), ...entries.filter((f) => !f.name.endsWith(CLAIM_SUFFIX))];
    for (const f of ordered) {
      if (out.length >= limit) break;
      const file = path.join(topPath, f.name);
      const base = f.name.endsWith(CLAIM_SUFFIX) ? f.name.slice(0, -CLAIM_SUFFIX.length) : f.name;
      const host = base.endsWith('.json') ? base.slice(0, -'.json'.length) : '';
      if (f.isFile() && host && HOST_NAME_RE.test(host)) out.push({ kind: 'report', site: top.name, host, file });
      else out.push({ kind: 'stray', file, why: 'not a <site>/<host>.json report path' });
    }
  }
  return out;
}

/** Renames the report aside so a new upload during ingest is kept for the next run. */
export function claim(file: string): string {
  if (file.endsWith(CLAIM_SUFFIX)) return file;
  const claimed = file + CLAIM_SUFFIX;
  fs.renameSync(file, claimed);
  return claimed;
}

/** Reads at most maxBytes; a larger file is refused without being read. */
export function readBounded(file: string, maxBytes: number): { ok: true; text: string; bytes: number } | { ok: false; reason: string; bytes: number } {
  const fd = fs.openSync(file, 'r');
  try {
    const { size } = fs.fstatSync(fd);
    if (size > maxBytes) return { ok: false, bytes: size, reason: `report is ${size} bytes, more than ingest.maxReportBytes (${maxBytes})` };
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = fs.readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    const text = new TextDecoder('utf-8', { fatal: false }).decode(buf.subarray(0, off));
    return { ok: true, text, bytes: off };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Moves a claimed report to <dest>/<site>/<host>/<stamp>.json (plus <stamp>.reason
 * when rejected) and keeps only the newest `keep` there. Returns the new path.
 */
export function fileReport(claimed: string, destRoot: string, subject: string[], stamp: string, keep: number, reason?: string): string {
  const dir = path.join(destRoot, ...subject);
  fs.mkdirSync(dir, { recursive: true });
  let name = `${stamp}.json`;
  for (let i = 1; fs.existsSync(path.join(dir, name)); i++) name = `${stamp}-${i}.json`;
  const dest = path.join(dir, name);
  if (reason !== undefined) fs.writeFileSync(dest.replace(/\.json$/, '.reason'), reason.endsWith('\n') ? reason : reason + '\n');
  moveFile(claimed, dest);
  prune(dir, keep);
  return dest;
}

/**
 * Puts a report into the spool the way nginx's PUT does (temp file, then rename),
 * for setups without nginx in front (the demo, a mirror on the same machine).
 */
export function depositReport(incoming: string, report: { site: string; host: string }, body: string): string {
  if (!SITE_NAME_RE.test(report.site) || !HOST_NAME_RE.test(report.host)) throw new Error(`report names an unusable site/host ${JSON.stringify(`${report.site}/${report.host}`)}`);
  const dir = path.join(incoming, report.site);
  fs.mkdirSync(dir, { recursive: true });
  const dest = path.join(dir, `${report.host}.json`);
  const tmp = path.join(incoming, `.deposit-${process.pid}-${report.host}`);
  fs.writeFileSync(tmp, body);
  fs.renameSync(tmp, dest);
  return dest;
}

/** `20261123T185501.123Z`: sortable, no characters special to shells. */
export function stampOf(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '');
}

function moveFile(from: string, to: string): void {
  try {
    fs.renameSync(from, to);
  } catch (err) {
    // The filing directories may sit on another filesystem than the spool.
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    fs.copyFileSync(from, to);
    fs.unlinkSync(from);
  }
}

function prune(dir: string, keep: number): void {
  const reports = fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort();
  for (const old of reports.slice(0, Math.max(0, reports.length - keep))) {
    fs.rmSync(path.join(dir, old), { force: true });
    fs.rmSync(path.join(dir, old.replace(/\.json$/, '.reason')), { force: true });
  }
}
