// `registry import-legacy FILE.csv`: the CentOS-style mirror table (seed 002, the
// CentOS → MirrorManager conversion mail) into registry files for review. Pure:
// text in, sites and a per-row report out; the command writes the files.
import { parse } from 'csv-parse/sync';
import { isCountryCode } from '../core/countries.ts';
import { ValidationError } from '../core/errors.ts';
import { isDnsName, validateSites, type SiteFile } from './schema.ts';

/** What happens to each column of the CentOS table, and why (from the seed's discussion). */
const DROPPED: Array<[RegExp, string]> = [
  [/^speed$/, 'T1-era speed class for the www.centos.org list; bandwidth is used instead'],
  [/^(location-major|locmajidx|location-minor|continent)$/, 'GeoIP and cc place the host; the continent follows from the country (CountryContinentRedirect for exceptions)'],
  [/^state$/, "old mirror-status detail; the crawler records its own state"],
  [/^(contact-name|contact-tel)$/, 'MirrorManager keeps only admin account names (contact-email becomes the admin)'],
  [/^(arch_all|arches|centos.*|dvd.*|rsync-dvd-host)$/, 'content and architectures are detected by the crawler'],
  [/^(access.*|type|restructured|centostext|info_note|notes_private|infoblock|graphic_url|centos_code|priority)$/, 'not used (seed 002)'],
];
const MAPPED = ['name', 'http', 'ftp', 'rsync', 'bandwidth', 'status', 'cc', 'use-in-mirror-list', 'url', 'contact-email', 'comments'];

export interface LegacyRowReport {
  line: number;
  name: string;
  /** The site written for the row, when it was accepted. */
  site?: string;
  host?: string;
  dropped: Array<{ column: string; value: string; why: string }>;
  notes: string[];
  /** Why the row was skipped (no file written for it). */
  errors: string[];
}

export interface LegacyImport {
  sites: SiteFile[];
  rows: LegacyRowReport[];
  columns: string[];
}

export function dropReason(column: string): string | undefined {
  if (MAPPED.includes(column)) return undefined;
  return DROPPED.find(([re]) => re.test(column))?.[1] ?? 'not a column of the CentOS mirror table';
}

/** `100`, `1000Mbit`, `1 Gbps`, `10G` → Mbit/s; undefined when not understood. */
export function parseBandwidth(text: string): number | undefined {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(k|m|g|t)?(?:bit\/?s?|bps|b|bit)?\s*$/i.exec(text);
  if (!m) return undefined;
  const factor = { k: 0.001, m: 1, g: 1000, t: 1_000_000 }[(m[2] ?? 'm').toLowerCase() as 'k' | 'm' | 'g' | 't'];
  const v = Math.round(Number(m[1]) * factor);
  return v > 0 ? v : undefined;
}

/** `Mirror.Example.COM` → `mirror.example.com`; anything else → hyphens. */
export function slugSiteName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[^a-z0-9]+|[-.]+$/g, '');
}

const truthyNo = (v: string) => /^(no|n|0|false)$/i.test(v.trim());

/** The legacy `cc` is a TLD: `uk` means GB. */
function countryFromCc(cc: string): string | undefined {
  const c = cc.trim().toUpperCase();
  const code = c === 'UK' ? 'GB' : c;
  return isCountryCode(code) ? code : undefined;
}

/**
 * Converts the CSV text. A CSV that cannot be read as a table (bad quoting, a row
 * with the wrong column count, no `name` column) throws a ValidationError naming
 * the line; a row with bad values is reported and skipped.
 */
export function convertLegacyCsv(text: string, opts: { file: string; category: string; categories?: readonly string[] }): LegacyImport {
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, { relax_column_count: true, skip_empty_lines: true, trim: true, info: true, bom: true }) as unknown as typeof records;
  } catch (err) {
    throw new ValidationError(`${opts.file} is not a readable CSV table`, [`${opts.file}: ${(err as Error).message}`]);
  }
  const [head, ...rows] = records;
  if (!head) throw new ValidationError(`${opts.file} is empty`, [`${opts.file}: line 1: expected a header row naming the columns (name, http, ftp, rsync, bandwidth, cc, …)`]);
  const columns = head.record.map((c) => c.trim().toLowerCase());
  if (!columns.includes('name')) throw new ValidationError(`${opts.file} has no "name" column`, [`${opts.file}: line ${head.info.lines}: header has no "name" column (got: ${columns.join(', ')})`]);
  const countErrors = rows
    .filter((r) => r.record.length !== columns.length)
    .map((r) => `${opts.file}: line ${r.info.lines}: expected ${columns.length} columns (as in the header), got ${r.record.length}`);
  if (countErrors.length) throw new ValidationError(`${opts.file} has rows with the wrong column count; nothing was written`, countErrors);

  const sites: SiteFile[] = [];
  const reports: LegacyRowReport[] = [];
  const seenSites = new Map<string, number>();
  const seenHosts = new Map<string, number>();
  for (const { record, info } of rows) {
    const row = Object.fromEntries(columns.map((c, i) => [c, record[i] ?? '']));
    const name = row.name ?? '';
    const report: LegacyRowReport = { line: info.lines, name, dropped: [], notes: [], errors: [] };
    reports.push(report);
    for (const c of columns) {
      const why = dropReason(c);
      if (why && row[c]) report.dropped.push({ column: c, value: row[c]!, why });
    }
    const urls = (['http', 'ftp', 'rsync'] as const).map((c) => row[c] ?? '').filter(Boolean);
    const lowerName = name.toLowerCase();
    const hostName = isDnsName(lowerName) && lowerName.includes('.') ? lowerName : urls.map(urlHost).find((h) => h && isDnsName(h));
    const siteName = slugSiteName(name);
    if (!name) report.errors.push('name: empty');
    if (!hostName) report.errors.push('name: not a DNS name, and no http/ftp/rsync URL with a DNS host name to name the host after');
    if (!siteName) report.errors.push(`name: "${name}" gives no usable site name`);
    if (siteName && seenSites.has(siteName)) report.errors.push(`name: site "${siteName}" already came from line ${seenSites.get(siteName)}`);
    if (hostName && seenHosts.has(hostName)) report.errors.push(`name: host "${hostName}" already came from line ${seenHosts.get(hostName)}`);
    if (report.errors.length) continue;

    let bandwidth = 100;
    if (row.bandwidth) {
      const b = parseBandwidth(row.bandwidth);
      if (b) bandwidth = b;
      else report.notes.push(`bandwidth "${row.bandwidth}" not understood; using 100 Mbit/s`);
    } else report.notes.push('no bandwidth; using 100 Mbit/s');
    let country: string | undefined;
    if (row.cc) {
      country = countryFromCc(row.cc);
      if (!country) report.dropped.push({ column: 'cc', value: row.cc, why: 'not an ISO 3166 country code; GeoIP will place the host' });
    }
    const status = (row.status ?? '').trim();
    const dead = /^(dead|disabled)$/i.test(status);
    if (dead) report.notes.push(`status ${status}: imported with admin_active false`);
    const notListed = row['use-in-mirror-list'] !== undefined && truthyNo(row['use-in-mirror-list']);
    if (notListed) report.notes.push('use-in-mirror-list=no: imported with user_active false');
    if (!urls.length) report.notes.push('no http/ftp/rsync URL: the host carries no category');
    const email = (row['contact-email'] ?? '').trim();

    const site: SiteFile = {
      site: siteName,
      ...(row.url ? { org_url: row.url } : {}),
      private: false,
      admin_active: true,
      user_active: true,
      admins: email ? [email] : [],
      comment: row.comments ?? '',
      hosts: [
        {
          name: hostName!,
          ...(country ? { country } : {}),
          bandwidth_mbps: bandwidth,
          private: false,
          internet2: false,
          internet2_clients: false,
          asn_clients: false,
          countries_allowed: [],
          netblocks: [],
          acl_ips: [],
          max_connections: 1,
          admin_active: !dead,
          user_active: !notListed,
          comment: status && !/^(active|ok|up)$/i.test(status) ? `legacy status: ${status}` : '',
          categories: urls.length ? { [opts.category]: { always_up2date: false, urls, private_urls: [] } } : {},
        },
      ],
    };
    // Same rules as `registry apply`: a row the registry would refuse is skipped here.
    const checked = validateSites([{ file: `${opts.file} line ${info.lines}`, data: site }], opts.categories ?? [opts.category]);
    if (checked.errors.length) {
      report.errors.push(...checked.errors.map((e) => e.replace(`${opts.file} line ${info.lines}: `, '')));
      continue;
    }
    seenSites.set(siteName, info.lines);
    seenHosts.set(hostName!, info.lines);
    report.site = siteName;
    report.host = hostName;
    sites.push(checked.sites.map(({ file: _f, ...s }) => s)[0]!);
  }
  return { sites, rows: reports, columns };
}

function urlHost(url: string): string | undefined {
  try {
    return new URL(url).hostname.toLowerCase() || undefined;
  } catch {
    return undefined;
  }
}

/** The per-row report as printed by the command. */
export function formatLegacyReport(result: LegacyImport): string {
  const lines: string[] = [];
  for (const r of result.rows) {
    const head = r.errors.length ? `line ${r.line} (${r.name || 'no name'}): SKIPPED` : `line ${r.line} (${r.name}): site ${r.site}, host ${r.host}`;
    lines.push(head);
    for (const e of r.errors) lines.push(`  error: ${e}`);
    for (const n of r.notes) lines.push(`  note: ${n}`);
    const byReason = new Map<string, string[]>();
    for (const d of r.dropped) byReason.set(d.why, [...(byReason.get(d.why) ?? []), `${d.column}=${JSON.stringify(d.value)}`]);
    for (const [why, cols] of byReason) lines.push(`  dropped ${cols.join(', ')}: ${why}`);
  }
  const skipped = result.rows.filter((r) => r.errors.length).length;
  lines.push(`${result.sites.length} site(s) converted, ${skipped} row(s) skipped`);
  return lines.join('\n');
}
