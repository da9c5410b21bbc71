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
  /** metalink <mm0:timestamp>/<size>/<verification> and <mm0:alternates> */
  head: '@@H@@',
  /** metalink pubdate */
  pubdate: '@@D@@',
  /** `fedora-41 arch = x86_64` or `(invalid) arch = (invalid)` in the 404 body */
  echo: '@@E@@',
} as const;

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

/** Plain-text mirrorlist: `# repo = R arch = A <header words>` then one URL per line. */
export function mirrorlistBlob(headerWords: string, hosts: readonly FormatHost[], protocols: readonly string[] | null): string {
  let out = `# repo = ${PH.repo} ${headerWords}`;
  if (protocols) out += `protocol = ${protocols.join(',')}`;
  out += '\n';
  for (const h of hosts) for (const u of hostUrls(h, protocols, 'mirrorlist')) out += `${u}/${PH.path}/\n`;
  return out;
}

export function metalinkHeader(pubdate: string): string {
  return (
    '<?xml version="1.0" encoding="utf-8"?>\n' +
    `<metalink version="3.0" xmlns="http://www.metalinker.org/" type="dynamic" pubdate="${pubdate}" generator="mirrormanager" xmlns:mm0="http://fedorahosted.org/mirrormanager">\n`
  );
}

/** Metalink 3.0 for repodata/repomd.xml; preference 100 decreasing per host (not per URL). */
export function metalinkBlob(hosts: readonly FormatHost[], protocols: readonly string[] | null): string {
  let doc = metalinkHeader(PH.pubdate);
  doc += ' <files>\n  <file name="repomd.xml">\n';
  doc += PH.head;
  doc += '   <resources maxconnections="1">\n';
  let preference = 100;
  for (const h of hosts) {
    const urls = hostUrls(h, protocols, 'metalink');
    if (!urls.length) continue;
    const priv = h.private ? ' mm0:private="True"' : '';
    for (const u of urls) {
      const p = schemeOf(u);
      doc += `    <url protocol="${p}" type="${p}" location="${(h.country ?? '').toUpperCase()}" preference="${preference}"${priv}>${xmlEscape(u)}/${PH.path}/repodata/repomd.xml</url>\n`;
    }
    preference = Math.max(preference - 1, 1);
  }
  doc += '   </resources>\n  </file>\n </files>\n</metalink>\n';
  return doc;
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

/** RFC 1123 date as MirrorManager writes pubdate. */
export function httpDate(d: Date): string {
  return d.toUTCString();
}

export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** What nginx sends, composed in JS: for tests and the reference path. */
export function compose(blob: string, values: Partial<Record<keyof typeof PH, string>>): string {
  let out = blob;
  for (const [k, ph] of Object.entries(PH) as Array<[keyof typeof PH, string]>) {
    if (values[k] !== undefined) out = out.split(ph).join(values[k]);
  }
  return out;
}
