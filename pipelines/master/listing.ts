// Parsers for the two listing formats a master tree can be read from: the output
// of `rsync --list-only -r -8` and a quick-fedora-mirror `fullfiletimelist-*`
// file. Both produce the same entries: a name relative to the category top
// ('' is the top itself), a type, a size and a time.
import { isUtf8 } from 'node:buffer';
import { canonicalName, nameToBytes, unescapeRsync } from './names.ts';

export type EntryType = 'd' | 'f' | 'l';

export interface ListEntry {
  name: string;
  type: EntryType;
  size: number;
  /** Seconds since the epoch: mtime in an rsync listing, the listed ctime in a fullfiletimelist. */
  time: number;
  /** Permission bits, when the listing has them (rsync does, fullfiletimelist does not). */
  mode?: number;
}

const RSYNC_LINE = /^([dlcbps-])([rwxsStT-]{9})\s+([\d,.]+)\s+(\d{4})\/(\d\d)\/(\d\d) (\d\d):(\d\d):(\d\d) /;

/**
 * One line of `rsync --list-only` (run with TZ=UTC and -8, so names are raw bytes
 * apart from `\#ooo` escapes of control characters). Returns null for lines that
 * are not entries (MOTD, blank) and for devices/fifos, which a mirror never serves.
 */
export function parseRsyncLine(line: Buffer): ListEntry | null {
  const head = line.toString('latin1', 0, Math.min(line.length, 80));
  const m = RSYNC_LINE.exec(head);
  if (!m) return null;
  const kind = m[1]!;
  if (kind !== 'd' && kind !== '-' && kind !== 'l') return null;
  const raw = canonicalName(unescapeRsync(line.subarray(m[0].length)));
  const name = raw === '.' ? '' : raw.replace(/\/$/, '');
  const time = Date.UTC(+m[4]!, +m[5]! - 1, +m[6]!, +m[7]!, +m[8]!, +m[9]!) / 1000;
  return { name, type: kind === 'd' ? 'd' : kind === 'l' ? 'l' : 'f', size: Number(m[3]!.replace(/[,.]/g, '')), time, mode: modeFromPerms(m[2]!) };
}

/** `rwxr-x---` → 0o750 (setuid/sticky letters count as the x they stand on). */
export function modeFromPerms(perms: string): number {
  let mode = 0;
  for (let i = 0; i < 9; i++) {
    const c = perms[i]!;
    if (c !== '-' && c !== 'S' && c !== 'T') mode |= 1 << (8 - i);
  }
  return mode;
}

export interface FileTimeList {
  entries: ListEntry[];
  /** Problems with their line numbers; any problem makes the list unusable. */
  issues: string[];
}

/**
 * A quick-fedora-mirror file list: `[Version]`, then `[Files]` with lines
 * `ctime<TAB>type<TAB>size<TAB>path`, optional checksum sections, and `[End]`
 * (its absence means the file was cut short).
 */
export function parseFullFileTimeList(data: Buffer, maxIssues = 20, onEntry?: (e: ListEntry) => void): FileTimeList {
  const entries: ListEntry[] = [];
  const parser = fileTimeListParser(maxIssues, onEntry ?? ((e: ListEntry) => void entries.push(e)));
  parser.push(data);
  return { entries, issues: parser.end() };
}

export interface FileTimeListParser {
  /** Bytes of the list, in order, in pieces of any size (a piece need not end at a line). */
  push(chunk: Buffer): void;
  /** After the last piece: the problems found (any problem makes the list unusable). */
  end(): string[];
}

/** Lines are decoded this many bytes at a time: a 40 MB list is never one 40 MB string. */
const DECODE_BYTES = 1 << 20;

/**
 * The same parser fed piece by piece, so a list can be read from disk in
 * chunks and never held whole (with its decoded text, twice its size).
 */
export function fileTimeListParser(maxIssues: number, sink: (e: ListEntry) => void): FileTimeListParser {
  const st: ParseState = { issues: [], maxIssues, section: '', sawFiles: false, sawEnd: false, lineNo: 0 };
  let carry: Buffer | null = null;
  const run = (piece: Buffer) => {
    // Fast path for the usual all-UTF-8 text: string scanning is several times
    // quicker than walking bytes; names needing escapes still go through canonicalName.
    if (isUtf8(piece)) parseText(piece.toString('utf8'), st, sink);
    else parseBytes(piece, st, sink);
  };
  return {
    push(chunk) {
      const data = carry ? Buffer.concat([carry, chunk]) : chunk;
      carry = null;
      let start = 0;
      while (start < data.length) {
        // Whole lines only: a newline byte never sits inside a UTF-8 sequence.
        const end = data.lastIndexOf(0x0a, Math.min(data.length, start + DECODE_BYTES) - 1);
        if (end < start) {
          const next = data.indexOf(0x0a, start + DECODE_BYTES);
          if (next < 0) break;
          run(data.subarray(start, next + 1));
          start = next + 1;
          continue;
        }
        run(data.subarray(start, end + 1));
        start = end + 1;
      }
      if (start < data.length) carry = Buffer.from(data.subarray(start));
    },
    end() {
      if (carry) run(carry);
      carry = null;
      if (!st.sawFiles) st.issues.unshift('no [Files] section');
      else if (!st.sawEnd) st.issues.push(`line ${st.lineNo}: no [End] marker (file truncated?)`);
      return st.issues;
    },
  };
}

interface ParseState {
  issues: string[];
  maxIssues: number;
  section: string;
  sawFiles: boolean;
  sawEnd: boolean;
  lineNo: number;
}

function addIssue(st: ParseState, msg: string): void {
  if (st.issues.length < st.maxIssues) st.issues.push(`line ${st.lineNo}: ${msg}`);
  else if (st.issues.length === st.maxIssues) st.issues.push('… more problems not shown');
}

const PLAIN = /^[^\x00-\x1f\x7f-\x9f\\]*$/;

/** Complete lines (the last one may lack its newline only at the end of the list). */
function parseText(text: string, st: ParseState, sink: (e: ListEntry) => void): void {
  const issue = (msg: string) => addIssue(st, msg);
  let pos = 0;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    let line = text.slice(pos, nl);
    pos = nl + 1;
    st.lineNo++;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '') continue;
    if (line[0] === '[') {
      st.section = line.trim();
      if (st.section === '[Files]') st.sawFiles = true;
      if (st.section === '[End]') st.sawEnd = true;
      continue;
    }
    if (st.section !== '[Files]') continue;
    const t1 = line.indexOf('\t');
    const t2 = t1 < 0 ? -1 : line.indexOf('\t', t1 + 1);
    const t3 = t2 < 0 ? -1 : line.indexOf('\t', t2 + 1);
    if (t3 < 0) {
      issue(`expected "ctime<TAB>type<TAB>size<TAB>path", got ${JSON.stringify(line.slice(0, 60))}`);
      continue;
    }
    const e = checkFields(line.slice(0, t1), line.slice(t1 + 1, t2), line.slice(t2 + 1, t3), issue);
    if (!e) continue;
    const raw = line.slice(t3 + 1);
    const text2 = PLAIN.test(raw) ? raw : canonicalName(Buffer.from(raw, 'utf8'));
    const name = cleanName(text2, issue);
    if (name !== null) sink({ name, type: e.type, size: e.size, time: e.time });
  }
}

/** A decimal of 1 to `max` digits, without a regex (this runs twice per line of a 400,000-line list). */
function isDigits(s: string, max: number): boolean {
  if (s.length === 0 || s.length > max) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function checkFields(ts: string, type: string, size: string, issue: (m: string) => void): Omit<ListEntry, 'name'> | null {
  if (!isDigits(ts, 12)) {
    issue(`bad ctime ${JSON.stringify(ts)}`);
    return null;
  }
  if (type !== 'd' && type !== 'f' && type !== 'l') {
    issue(`bad type ${JSON.stringify(type)} (expected d, f or l)`);
    return null;
  }
  if (!isDigits(size, 15)) {
    issue(`bad size ${JSON.stringify(size)}`);
    return null;
  }
  return { type, size: Number(size), time: Number(ts) };
}

const ESCAPES = /^\/|(?:^|\/)\.\.(?:\/|$)/;

function cleanName(text: string, issue: (m: string) => void): string | null {
  let name = text;
  if (name === '.') name = '';
  else {
    if (name.startsWith('./')) name = name.slice(2);
    if (name.endsWith('/')) name = name.slice(0, -1);
  }
  // Only a leading `/` or a `..` component escapes; most names have neither.
  if ((name.charCodeAt(0) === 47 || name.includes('..')) && ESCAPES.test(name)) {
    issue(`path ${JSON.stringify(name)} escapes the category top`);
    return null;
  }
  return name;
}

function parseBytes(data: Buffer, st: ParseState, sink: (e: ListEntry) => void): void {
  const issue = (msg: string) => addIssue(st, msg);
  let start = 0;
  while (start < data.length) {
    let end = data.indexOf(0x0a, start);
    if (end < 0) end = data.length;
    const line = data.subarray(start, end > start && data[end - 1] === 0x0d ? end - 1 : end);
    start = end + 1;
    st.lineNo++;
    if (line.length === 0) continue;
    if (line[0] === 0x5b /* [ */) {
      st.section = line.toString('latin1').trim();
      if (st.section === '[Files]') st.sawFiles = true;
      if (st.section === '[End]') st.sawEnd = true;
      continue;
    }
    if (st.section !== '[Files]') continue;
    const t1 = line.indexOf(9);
    const t2 = t1 < 0 ? -1 : line.indexOf(9, t1 + 1);
    const t3 = t2 < 0 ? -1 : line.indexOf(9, t2 + 1);
    if (t3 < 0) {
      issue(`expected "ctime<TAB>type<TAB>size<TAB>path", got ${JSON.stringify(line.toString('utf8').slice(0, 60))}`);
      continue;
    }
    const e = checkFields(line.toString('latin1', 0, t1), line.toString('latin1', t1 + 1, t2), line.toString('latin1', t2 + 1, t3), issue);
    if (!e) continue;
    const name = cleanName(canonicalName(line.subarray(t3 + 1)), issue);
    if (name !== null) sink({ name, type: e.type, size: e.size, time: e.time });
  }
}

const DIR_FIELD = Buffer.from('\td\t');

/**
 * Only the directories of a fullfiletimelist (the `d` lines of `[Files]`),
 * found by searching the bytes for the type field instead of splitting all
 * 400,000 lines: what the rescan of an unchanged list checks against the tree.
 * Null when the list is not sound (no `[Files]`, no `[End]`, a name escaping
 * the top): then the full parse runs and reports why.
 */
export function listedDirectories(data: Buffer): Array<{ name: string; time: number }> | null {
  let header = 0;
  if (data.toString('latin1', 0, 7) !== '[Files]') {
    header = data.indexOf('\n[Files]') + 1;
    if (header === 0) return null;
  }
  const bodyStart = data.indexOf(0x0a, header) + 1;
  if (bodyStart <= 0) return null;
  const next = data.indexOf('\n[', bodyStart - 1);
  const bodyEnd = next < 0 ? data.length : next + 1;
  if (data.indexOf('\n[End]', bodyEnd - 1) < 0) return null;
  const out: Array<{ name: string; time: number }> = [];
  let pos = bodyStart;
  for (;;) {
    const p = data.indexOf(DIR_FIELD, pos);
    if (p < 0 || p >= bodyEnd) break;
    let lineEnd = data.indexOf(0x0a, p);
    if (lineEnd < 0 || lineEnd > bodyEnd) lineEnd = bodyEnd;
    pos = lineEnd + 1;
    // The hit must be the line's first tab, after 1–12 ctime digits, not bytes of a name.
    let lineStart = p;
    while (lineStart > bodyStart && lineStart > p - 13 && data[lineStart - 1] !== 0x0a) lineStart--;
    let time = 0;
    let digits = lineStart < p && (lineStart === bodyStart || data[lineStart - 1] === 0x0a);
    for (let i = lineStart; digits && i < p; i++) {
      const c = data[i]!;
      if (c < 48 || c > 57) digits = false;
      time = time * 10 + (c - 48);
    }
    if (!digits) {
      pos = p + 1;
      continue;
    }
    const t3 = data.indexOf(9, p + 3);
    if (t3 < 0 || t3 > lineEnd) continue;
    const nameEnd = lineEnd > t3 + 1 && data[lineEnd - 1] === 0x0d ? lineEnd - 1 : lineEnd;
    // Plain ASCII names (nearly all) are decoded directly; others as canonicalName does.
    let plain = true;
    for (let i = t3 + 1; i < nameEnd; i++) {
      const c = data[i]!;
      if (c < 0x20 || c >= 0x7f || c === 0x5c) {
        plain = false;
        break;
      }
    }
    const raw = plain ? data.toString('latin1', t3 + 1, nameEnd) : canonicalName(data.subarray(t3 + 1, nameEnd));
    let escaped = false;
    const name = cleanName(raw, () => void (escaped = true));
    if (escaped || name === null) return null;
    out.push({ name, time });
  }
  return out;
}

/**
 * Writes a fullfiletimelist (the demo tree and the benchmark generate one). Names
 * go out as their raw bytes; a name holding a newline cannot be written in this
 * line format and is left out, as quick-fedora-mirror's create-filelist must.
 */
export function formatFullFileTimeList(entries: readonly ListEntry[]): Buffer {
  const parts: Buffer[] = [Buffer.from('[Version]\n2\n\n[Files]\n')];
  for (const e of [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (e.name === '') continue;
    const raw = nameToBytes(e.name);
    if (raw.includes(0x0a) || raw.includes(0x0d)) continue;
    parts.push(Buffer.from(`${e.time}\t${e.type}\t${e.size}\t`), raw, Buffer.from('\n'));
  }
  parts.push(Buffer.from('\n[End]\n'));
  return Buffer.concat(parts);
}
