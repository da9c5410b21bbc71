// Reading yum/dnf repository metadata: repomd.xml (what the repodata set is) and
// primary.xml (which package files exist, with their checksums), compressed with
// gzip, xz or zstd. Pure parsing; fetching is the caller's.
import { spawnSync } from 'node:child_process';
import zlib from 'node:zlib';
import { XMLParser } from 'fast-xml-parser';
import { decompress as zstdDecompress } from 'fzstd';
import { SaxesParser } from 'saxes';

export interface RepomdEntry {
  type: string;
  /** e.g. repodata/abc…-primary.xml.gz, relative to the repository directory. */
  href: string;
  checksumType: string;
  checksum: string;
  size?: number;
}

export interface Repomd {
  revision?: string;
  entries: RepomdEntry[];
}

export interface PackageEntry {
  /** e.g. Packages/h/hello-1.0-1.noarch.rpm, relative to the repository directory. */
  href: string;
  checksumType: string;
  checksum: string;
  size?: number;
}

export class MetadataError extends Error {
  override name = 'MetadataError';
}

const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', removeNSPrefix: true, isArray: (name) => name === 'data' });

export function parseRepomd(text: string): Repomd {
  let doc: Record<string, unknown>;
  try {
    doc = xml.parse(text, true) as Record<string, unknown>;
  } catch (err) {
    throw new MetadataError(`repomd.xml is not well-formed XML: ${(err as Error).message.split('\n')[0]}`);
  }
  const repomd = doc.repomd as Record<string, unknown> | undefined;
  if (!repomd || !Array.isArray(repomd.data)) throw new MetadataError('repomd.xml has no <repomd><data> entries');
  const entries = (repomd.data as Array<Record<string, any>>).map((d, i) => {
    const href = d.location?.['@href'];
    const checksum = d.checksum?.['#text'] ?? d.checksum;
    const checksumType = d.checksum?.['@type'];
    if (typeof href !== 'string' || typeof checksum !== 'string' || typeof checksumType !== 'string' || typeof d['@type'] !== 'string') {
      throw new MetadataError(`repomd.xml <data> #${i + 1} lacks type, location href or checksum`);
    }
    assertSafeHref(href, 'repomd.xml location');
    return { type: d['@type'], href, checksumType, checksum: checksum.trim().toLowerCase(), size: d.size !== undefined ? Number(d.size) : undefined };
  });
  return { revision: repomd.revision !== undefined ? String(repomd.revision) : undefined, entries };
}

/** Relative, no "..", no absolute paths or URLs: metadata must not point outside the tree. */
export function assertSafeHref(href: string, what: string): void {
  if (href === '' || href.startsWith('/') || /^[a-z]+:/i.test(href) || href.split('/').some((s) => s === '..' || s === '.') || /[\0\n\r\\]/.test(href)) {
    throw new MetadataError(`${what} ${JSON.stringify(href.slice(0, 200))} is not a safe relative path`);
  }
}

/** Decompresses by file name suffix (.gz, .xz, .zst; anything else is returned as is). */
export function decompressByName(name: string, data: Uint8Array): Buffer {
  try {
    if (name.endsWith('.gz')) return zlib.gunzipSync(data);
    if (name.endsWith('.zst')) return Buffer.from(zstdDecompress(data));
    if (name.endsWith('.xz')) {
      // Node has no xz; xz-utils is part of every Debian system.
      const r = spawnSync('xz', ['-dc'], { input: data, maxBuffer: 2 ** 31 - 1 });
      if (r.error) throw r.error;
      if (r.status !== 0) throw new Error(r.stderr.toString().trim() || `xz exited ${r.status}`);
      return r.stdout;
    }
  } catch (err) {
    throw new MetadataError(`cannot decompress ${name}: ${(err as Error).message}`);
  }
  if (name.endsWith('.bz2')) throw new MetadataError(`cannot decompress ${name}: bzip2 metadata is not supported`);
  return Buffer.from(data);
}

/** Streams primary.xml and returns every package's location and checksum. */
export function parsePrimary(text: string): PackageEntry[] {
  const packages: PackageEntry[] = [];
  const parser = new SaxesParser({ xmlns: false });
  let current: Partial<PackageEntry> | null = null;
  let inChecksum = false;
  let checksumText = '';
  let declared: number | undefined;
  parser.on('opentag', (tag) => {
    const name = tag.name.replace(/^.*:/, '');
    if (tag.name === 'metadata') {
      const n = tag.attributes.packages;
      if (typeof n === 'string') declared = Number(n);
    } else if (name === 'package') {
      current = {};
    } else if (current && tag.name === 'checksum') {
      inChecksum = true;
      checksumText = '';
      current.checksumType = String(tag.attributes.type ?? '');
    } else if (current && tag.name === 'location') {
      current.href = String(tag.attributes.href ?? '');
    } else if (current && tag.name === 'size') {
      const s = tag.attributes.package;
      if (typeof s === 'string') current.size = Number(s);
    }
  });
  parser.on('text', (t) => {
    if (inChecksum) checksumText += t;
  });
  parser.on('closetag', (tag) => {
    if (tag.name === 'checksum' && current) {
      inChecksum = false;
      current.checksum = checksumText.trim().toLowerCase();
    } else if (tag.name.replace(/^.*:/, '') === 'package' && current) {
      const p = current as PackageEntry;
      if (!p.href || !p.checksum || !p.checksumType) throw new MetadataError(`primary.xml package #${packages.length + 1} lacks location or checksum`);
      assertSafeHref(p.href, 'primary.xml location');
      packages.push(p);
      current = null;
    }
  });
  try {
    parser.write(text).close();
  } catch (err) {
    throw new MetadataError(`primary.xml is malformed: ${(err as Error).message.split('\n')[0]}`);
  }
  if (declared !== undefined && declared !== packages.length) {
    throw new MetadataError(`primary.xml declares ${declared} packages but lists ${packages.length} (truncated?)`);
  }
  return packages;
}
