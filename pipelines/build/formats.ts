// MirrorManager's response formats (as its mirrorlist server writes them), split
// into what depends on the client (the host ordering blob) and what depends on the
// repository (path, header, repomd.xml facts) — nginx joins them with sub_filter
// on the placeholders below. Pure.
import type { FileDetail } from './snapshot.ts';

/** Placeholders nginx replaces per request (sub_filter) with mapped, pre-validated values. */
export const PH = {
  /** `fedora-41 arch = x86_64` */
  repo: '@@R@@',
  /** directory below the category top, e.g. `releases/41/Everything/x86_64/os` */
  path: '@@P@@',
  /**
   * mirrorlist: the path in the blob's last line. sub_filter emits text that is a
   * partial match of a longer pattern at the end of the body unreplaced, and the
   * deletion patterns start with `@@P@@/\n`; the last line must not end like that.
   */
  lastPath: '@@Q@@',
  /** metalink: the end of the last URL, `/<path>/repodata/repomd.xml</url>` */
  urlTail: '@@M@@',
  /** metalink: the end of a URL and the start of the next, `/<path>/repodata/repomd.xml</url>\n    <url protocol="` (one match per URL line, and the fixed text stays out of the blobs) */
  join: '@@J@@',
  /** metalink <mm0:timestamp>/<size>/<verification> and <mm0:alternates> */
  head: '@@H@@',
  /** metalink pubdate */
  pubdate: '@@D@@',
  /** `fedora-41 arch = x86_64` or `(invalid) arch = (invalid)` in the 404 body */
  echo: '@@E@@',
  /** where the weighted-first host of the lead group goes (its own lines are deleted by a second sub_filter) */
  first: '@@F@@',
} as const;

/** Where a blob's lead group starts, for lists with weighted variants: see `mirrorlistBlob`. */
export interface LeadSlot {
  /** index into the hosts of the lead group's first host */
  start: number;
  /** number of hosts in the lead group */
  size: number;
}

export const PROTOCOL_ORDER = ['https', 'http', 'ftp', 'rsync'] as const;
export type Protocol = (typeof PROTOCOL_ORDER)[number];

export interface FormatHost {
  country: string | null;
  private: boolean;
  /** Public URLs of the host for the category top, in protocol preference order. */
  urls: readonly string[];
}

export function schemeOf(url: string): string {
  return url.slice(0, Math.max(0, url.indexOf(':')));
}

/** URLs a host contributes: the preferred one (mirrorlist default) or all in `protocols`. */
export function hostUrls(h: FormatHost, protocols: readonly string[] | null, format: 'mirrorlist' | 'metalink'): string[] {
  if (protocols) return h.urls.filter((u) => protocols.includes(schemeOf(u))).slice(0, protocols.length);
  if (format === 'metalink') return [...h.urls];
  for (const p of ['https', 'http', 'ftp']) {
    const u = h.urls.find((x) => schemeOf(x) === p);
    if (u) return [u];
  }
  return [];
}

/** The lines one host contributes to a mirrorlist, each newline-first, with the path placeholder. */
export function mirrorlistUnit(h: FormatHost, protocols: readonly string[] | null, last = false): string {
  const urls = hostUrls(h, protocols, 'mirrorlist');
  let out = '';
  for (const [i, u] of urls.entries()) out += `\n${u}/${last && i === urls.length - 1 ? PH.lastPath : PH.path}/`;
  return out;
}

/**
 * Plain-text mirrorlist: `# repo = R arch = A <header words>` then one URL per line.
 * Each host's lines start with their newline, so the text of one host is a unique
 * string nginx can delete (sub_filter with a mapped pattern) when a variant moves
 * that host to `lead.start`, where `PH.first` stands.
 */
export function mirrorlistBlob(headerWords: string | null, hosts: readonly FormatHost[], protocols: readonly string[] | null, lead?: LeadSlot): string {
  // headerWords null: nginx puts them in with the repository (PH.repo → `R arch = A <words>`).
  let out = `# repo = ${PH.repo}`;
  if (headerWords !== null) out += ` ${mirrorlistHeaderWords(headerWords, protocols)}`;
  const last = mirrorlistLastHost(hosts, protocols);
  for (const [i, h] of hosts.entries()) {
    if (lead && i === lead.start) out += PH.first;
    out += mirrorlistUnit(h, protocols, i === last);
  }
  return out + '\n';
}

/** What follows `# repo = R arch = A ` in a mirrorlist header. */
export function mirrorlistHeaderWords(headerWords: string, protocols: readonly string[] | null): string {
  return protocols ? `${headerWords}protocol = ${protocols.join(',')}` : headerWords;
}

export function metalinkHeader(pubdate: string): string {
  return (
    '<?xml version="1.0" encoding="utf-8"?>\n' +
    `<metalink version="3.0" xmlns="http://www.metalinker.org/" type="dynamic" pubdate="${pubdate}" generator="mirrormanager" xmlns:mm0="http://fedorahosted.org/mirrormanager">\n`
  );
}

const URL_OPEN = '\n    <url protocol="';

/** One `<url>` line of a metalink without its opening `\n    <url protocol="` and its end (PH.join / PH.urlTail stand for those). */
function metalinkBodies(h: FormatHost, protocols: readonly string[] | null, preference: number | string): string[] {
  const priv = h.private ? ' mm0:private="True"' : '';
  return hostUrls(h, protocols, 'metalink').map((u) => {
    const p = schemeOf(u);
    return `${p}" type="${p}" location="${(h.country ?? '').toUpperCase()}" preference="${preference}"${priv}>${xmlEscape(u)}`;
  });
}

/**
 * The text of one host's `<url>` lines in a metalink blob, at one preference (a number, or a
 * marker the emitter turns into an nginx variable): as inserted at PH.first (`insert`,
 * always followed by more lines), or as nginx's deletion pattern finds it in the blob —
 * with PH.first before it for the blob's first host (`first`; nginx puts the insertion
 * there instead), else with the join before it (`other`; the join after it stays).
 * Either way the pattern starts with a placeholder: its first bytes are rare, which
 * keeps sub_filter's skip table (built from every pattern's first bytes) fast.
 */
export function metalinkUnit(h: FormatHost, protocols: readonly string[] | null, preference: number | string, role: 'insert' | 'first' | 'other'): string {
  const bodies = metalinkBodies(h, protocols, preference);
  if (!bodies.length) return '';
  const text = bodies.join(PH.join);
  return role === 'insert' ? text + PH.join : role === 'first' ? PH.first + text + PH.join : PH.join + text;
}

/** The mirrorlist counterpart of metalinkUnit's deletion patterns: PH.first or the previous line's `@@P@@/` first. */
export function mirrorlistDeletion(h: FormatHost, protocols: readonly string[] | null, first: boolean, last: boolean): string {
  const unit = mirrorlistUnit(h, protocols, last);
  return unit ? (first ? PH.first : `${PH.path}/`) + unit : '';
}

/** Index of the first host with a metalink URL. */
export function metalinkFirstHost(hosts: readonly FormatHost[], protocols: readonly string[] | null): number {
  return hosts.findIndex((h) => hostUrls(h, protocols, 'metalink').length > 0);
}

/** Index of the last host with a mirrorlist line. */
export function mirrorlistLastHost(hosts: readonly FormatHost[], protocols: readonly string[] | null): number {
  for (let i = hosts.length - 1; i >= 0; i--) if (hostUrls(hosts[i], protocols, 'mirrorlist').length) return i;
  return -1;
}

/** Index of the first host with a mirrorlist line. */
export function mirrorlistFirstHost(hosts: readonly FormatHost[], protocols: readonly string[] | null): number {
  return hosts.findIndex((h) => hostUrls(h, protocols, 'mirrorlist').length > 0);
}

/** Index of the last host with a metalink URL (the one whose unit is `last`), -1 when none. */
export function metalinkLastHost(hosts: readonly FormatHost[], protocols: readonly string[] | null): number {
  for (let i = hosts.length - 1; i >= 0; i--) if (hostUrls(hosts[i], protocols, 'metalink').length) return i;
  return -1;
}

/**
 * Metalink 3.0 for repodata/repomd.xml; preference 100 decreasing per host (not per URL).
 * With `lead`, the lead group's hosts are written one preference lower than their
 * place (the variant's first host, inserted at `PH.first`, takes the lead group's
 * first preference) and the groups after it continue below: order and strict
 * decrease hold for every variant, with one preference value left out.
 */
export function metalinkBlob(hosts: readonly FormatHost[], protocols: readonly string[] | null, lead?: LeadSlot, firstPreference = 100): string {
  let doc = metalinkHeader(PH.pubdate);
  doc += ' <files>\n  <file name="repomd.xml">\n';
  doc += PH.head;
  doc += '   <resources maxconnections="1">';
  let preference = firstPreference;
  let lines = 0;
  let slot = false;
  for (const [i, h] of hosts.entries()) {
    if (lead && i === lead.start) {
      slot = true;
      preference = Math.max(preference - 1, 1);
    }
    const bodies = metalinkBodies(h, protocols, preference);
    if (!bodies.length) continue;
    for (const body of bodies) {
      doc += (lines++ ? PH.join : URL_OPEN) + (slot ? PH.first : '') + body;
      slot = false;
    }
    preference = Math.max(preference - 1, 1);
  }
  if (lines) doc += PH.urlTail;
  doc += '\n   </resources>\n  </file>\n </files>\n</metalink>\n';
  return doc;
}

/** The preference each host carries in a blob (as `metalinkBlob` writes it), and the one reserved for a variant's first host. */
export function metalinkPreferences(hosts: readonly FormatHost[], protocols: readonly string[] | null, lead?: LeadSlot, firstPreference = 100): { hosts: number[]; first: number } {
  const out: number[] = [];
  let preference = firstPreference;
  let first = firstPreference;
  for (const [i, h] of hosts.entries()) {
    if (lead && i === lead.start) {
      first = preference;
      preference = Math.max(preference - 1, 1);
    }
    out.push(preference);
    if (hostUrls(h, protocols, 'metalink').length) preference = Math.max(preference - 1, 1);
  }
  return { hosts: out, first };
}

function details(d: FileDetail, indent: string): string {
  let s = '';
  if (d.timestamp) s += `${indent} <mm0:timestamp>${d.timestamp}</mm0:timestamp>\n`;
  if (d.size) s += `${indent} <size>${d.size}</size>\n`;
  s += `${indent} <verification>\n`;
  for (const t of ['md5', 'sha1', 'sha256', 'sha512'] as const) {
    const v = d[t];
    if (v) s += `${indent}  <hash type="${t}">${v}</hash>\n`;
  }
  s += `${indent} </verification>\n`;
  return s;
}

/** The repomd.xml facts block: current details, then alternates (older versions still accepted). */
export function metalinkFacts(history: readonly FileDetail[]): { current: string; alternates: string[] } {
  if (!history.length) return { current: '', alternates: [] };
  const current = details(history[0], '  ');
  const alternates = history.slice(1).map((d) => `    <mm0:alternate>\n${details(d, '     ')}    </mm0:alternate>\n`);
  return { current, alternates };
}

export function wrapAlternates(parts: readonly string[]): string {
  return parts.length ? `   <mm0:alternates>\n${parts.join('')}   </mm0:alternates>\n` : '';
}

/** MirrorManager's error document for metalink requests: the message in an XML comment. */
export function metalinkFailure(pubdate: string, message: string): string {
  return `${metalinkHeader(pubdate)}<!-- ${message.replace(/--/g, '- -')}\n-->\n</metalink>\n`;
}

/** The 404 body for an unknown repo/arch; PH.echo becomes `R arch = A` (mapped values or `(invalid)`). */
export function invalidRepoText(pairs: ReadonlyArray<readonly [string, string]>): string {
  const keys = pairs.map(([r, a]) => `${r}+${a}`).sort();
  let s = `# repo = ${PH.echo} error: invalid repo or arch\n# following repositories are available:\n`;
  for (const k of keys) {
    const [r, a] = k.split('+');
    s += `# repo=${r}&arch=${a}\n`;
  }
  return s;
}

/** What PH.urlTail stands for. */
export function metalinkUrlTail(path: string): string {
  return `/${path}/repodata/repomd.xml</url>`;
}

/** What PH.join stands for. */
export function metalinkJoin(path: string): string {
  return metalinkUrlTail(path) + URL_OPEN;
}

/** RFC 1123 date as MirrorManager writes pubdate. */
export function httpDate(d: Date): string {
  return d.toUTCString();
}

export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/**
 * A variant as nginx makes it: the deletion pattern (`del`, matched case-insensitively
 * like sub_filter) replaced by `delWith`, then the insertion (`ins`) at `PH.first`.
 * Placeholders in `delWith` and `ins` are left for `compose`.
 */
export function moveFirst(blob: string, del: string, delWith: string, ins: string): string {
  let out = blob;
  if (del) {
    const lower = out.toLowerCase();
    const needle = del.toLowerCase();
    let kept = '';
    let from = 0;
    for (let at = lower.indexOf(needle); at >= 0; at = lower.indexOf(needle, from)) {
      kept += out.slice(from, at) + delWith;
      from = at + del.length;
    }
    out = kept + out.slice(from);
  }
  return out.split(PH.first).join(ins);
}

/** What nginx sends, composed in JS: for tests and the reference path. */
export function compose(blob: string, values: Partial<Record<keyof typeof PH, string>>): string {
  let out = blob;
  if (values.path !== undefined) values = { urlTail: metalinkUrlTail(values.path), join: metalinkJoin(values.path), lastPath: values.path, ...values };
  for (const [k, ph] of Object.entries(PH) as Array<[keyof typeof PH, string]>) {
    if (values[k] !== undefined) out = out.split(ph).join(values[k]);
  }
  return out;
}
