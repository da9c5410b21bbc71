// File details: the hashes of repodata/repomd.xml (metalinks name them, with the
// recent versions as alternates) and the hashes listed in checksum files beside
// images. Pure: bytes in, details out.
import { createHash } from 'node:crypto';
import { SaxesParser } from 'saxes';

export interface FileDetail {
  filename: string;
  size: number | null;
  md5: string | null;
  sha1: string | null;
  sha256: string | null;
  sha512: string | null;
  /** repomd.xml: the newest <timestamp> in it; other files: the listed mtime. */
  timestamp: number | null;
}

export interface RepomdInfo {
  /** Newest <timestamp> over the data entries (or <revision> when it is a number). */
  timestamp: number;
  revision: string | null;
  types: string[];
}

/**
 * Parses repomd.xml with a real (strict, streaming) XML parser; throws a
 * one-line error when it is malformed or truncated. Streaming, not a document
 * tree: a fresh scan parses one per repository (1,148 on Fedora), and building
 * the tree cost ten times the parse.
 */
export function parseRepomd(xml: Buffer | string): RepomdInfo {
  const text = typeof xml === 'string' ? xml : xml.toString('utf8');
  const local = (name: string) => name.slice(name.indexOf(':') + 1);
  const data: Array<{ type: string; timestamp: string }> = [];
  let root: string | null = null;
  let revision: string | null = null;
  // Path below the root: ['data', 'timestamp'] while inside a <data>'s <timestamp>.
  const path: string[] = [];
  let collecting: 'revision' | 'timestamp' | null = null;
  let textBuf = '';
  const p = new SaxesParser();
  p.on('opentag', (tag) => {
    const name = local(tag.name);
    if (root === null) {
      root = name;
      return;
    }
    path.push(name);
    if (root !== 'repomd') return;
    if (path.length === 1 && name === 'data') data.push({ type: String(tag.attributes.type ?? ''), timestamp: '' });
    else if (path.length === 1 && name === 'revision') collecting = 'revision';
    else if (path.length === 2 && path[0] === 'data' && name === 'timestamp') collecting = 'timestamp';
    else return;
    textBuf = '';
  });
  p.on('text', (t) => {
    if (collecting) textBuf += t;
  });
  p.on('closetag', () => {
    if (path.length === 0) return;
    path.pop();
    if (collecting === 'revision') revision = textBuf.trim();
    else if (collecting === 'timestamp') data[data.length - 1]!.timestamp += textBuf;
    collecting = null;
  });
  try {
    p.write(text).close();
  } catch (err) {
    throw new Error(`malformed repomd.xml: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  if (root !== 'repomd') throw new Error('malformed repomd.xml: no <repomd> root element');
  if (data.length === 0) throw new Error('malformed repomd.xml: no <data> entries');
  let timestamp = 0;
  for (const d of data) {
    const t = Number(d.timestamp.trim());
    if (d.timestamp.trim() === '' || !Number.isFinite(t) || t <= 0) throw new Error(`malformed repomd.xml: <data type="${d.type || '?'}"> has no valid <timestamp>`);
    timestamp = Math.max(timestamp, Math.floor(t));
  }
  return { timestamp, revision, types: data.map((d) => d.type).sort() };
}

/** size/md5/sha1/sha256/sha512 and the repomd timestamp of one repomd.xml. */
export function repomdDetail(bytes: Buffer): FileDetail {
  const info = parseRepomd(bytes);
  return { filename: 'repomd.xml', size: bytes.length, ...hashes(bytes), timestamp: info.timestamp };
}

export function hashes(bytes: Buffer): Pick<FileDetail, 'md5' | 'sha1' | 'sha256' | 'sha512'> {
  const h = (alg: string) => createHash(alg).update(bytes).digest('hex');
  return { md5: h('md5'), sha1: h('sha1'), sha256: h('sha256'), sha512: h('sha512') };
}

const HEX_ALG: Record<number, 'md5' | 'sha1' | 'sha256' | 'sha512'> = { 32: 'md5', 40: 'sha1', 64: 'sha256', 128: 'sha512' };
const BSD_ALG: Record<string, 'md5' | 'sha1' | 'sha256' | 'sha512'> = { MD5: 'md5', SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512' };

export interface ChecksumFile {
  details: FileDetail[];
  /** Lines that were neither a checksum, a comment nor PGP armor, with line numbers. */
  skipped: string[];
}

/**
 * Reads a checksum file in GNU (`<hex>  name`, `<hex> *name`) or BSD
 * (`SHA256 (name) = <hex>`) format, as Fedora's PGP-signed `*-CHECKSUM` files
 * (with `# name: N bytes` comments giving sizes) and `SHA256SUMS` are written.
 */
export function parseChecksumFile(text: string): ChecksumFile {
  const byName = new Map<string, FileDetail>();
  const sizes = new Map<string, number>();
  const skipped: string[] = [];
  const get = (filename: string) => {
    let d = byName.get(filename);
    if (!d) byName.set(filename, (d = { filename, size: null, md5: null, sha1: null, sha256: null, sha512: null, timestamp: null }));
    return d;
  };
  let inSignature = false;
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line.startsWith('-----BEGIN PGP SIGNATURE')) inSignature = true;
    if (line.startsWith('-----END PGP SIGNATURE')) {
      inSignature = false;
      continue;
    }
    if (inSignature || line === '' || line.startsWith('-----BEGIN PGP SIGNED') || /^Hash: /.test(line)) continue;
    const size = /^#\s*(.+?):\s*(\d+)\s+bytes$/.exec(line);
    if (size) {
      sizes.set(size[1]!, Number(size[2]));
      continue;
    }
    if (line.startsWith('#')) continue;
    const bsd = /^(MD5|SHA1|SHA256|SHA512)\s*\((.+)\)\s*=\s*([0-9a-fA-F]+)$/.exec(line);
    if (bsd) {
      const alg = BSD_ALG[bsd[1]!]!;
      if (HEX_ALG[bsd[3]!.length] === alg) {
        get(stripDotSlash(bsd[2]!))[alg] = bsd[3]!.toLowerCase();
        continue;
      }
    }
    const gnu = /^([0-9a-fA-F]+) [ *](.+)$/.exec(raw.replace(/^\s+/, ''));
    if (gnu && HEX_ALG[gnu[1]!.length]) {
      get(stripDotSlash(gnu[2]!))[HEX_ALG[gnu[1]!.length]!] = gnu[1]!.toLowerCase();
      continue;
    }
    skipped.push(`line ${i + 1}: ${JSON.stringify(line.slice(0, 60))}`);
  }
  for (const [name, size] of sizes) if (byName.has(name)) byName.get(name)!.size = size;
  return { details: [...byName.values()].sort((a, b) => (a.filename < b.filename ? -1 : 1)), skipped };
}

const stripDotSlash = (s: string) => s.replace(/^\.\//, '');

/** Whether two details name the same content (a new history row only when not). */
export function sameContent(a: Omit<FileDetail, 'filename'>, b: Omit<FileDetail, 'filename'>): boolean {
  return a.size === b.size && a.md5 === b.md5 && a.sha1 === b.sha1 && a.sha256 === b.sha256 && a.sha512 === b.sha512 && a.timestamp === b.timestamp;
}
