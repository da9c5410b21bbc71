// `cache seed`: pre-populates a repository of the cache from a DVD ISO, placing
// only files whose checksums match the upstream metadata (packages: primary.xml;
// install images: the upstream .treeinfo's [checksums]) so a wrong or corrupt ISO
// cannot poison the cache.
import fs from 'node:fs';
import path from 'node:path';
import { $ } from 'zx';
import { UsageError } from '../core/errors.ts';
import { relPath } from '../core/config.ts';
import type { CacheConfig } from './config.ts';
import { hashFile } from './expire.ts';
import { decompressByName, parsePrimary, parseRepomd } from './repodata.ts';
import { fetchFromUpstreams } from './upstream.ts';

export interface SeedResult {
  placed: string[];
  alreadyPresent: string[];
  refused: Array<{ path: string; reason: string }>;
  /** ISO files that the upstream metadata does not describe (repodata, docs…). */
  ignored: number;
}

export async function seedFromIso(config: CacheConfig, isoFile: string, tree: string, signal?: AbortSignal): Promise<SeedResult> {
  if (!relPath.safeParse(tree).success || tree === '') throw new UsageError(`--tree ${JSON.stringify(tree)}: must be a relative path below the cache root without ".."`);
  if (!fs.existsSync(isoFile)) throw new UsageError(`--iso ${isoFile}: no such file`);
  const expected = await expectedChecksums(config, tree, signal);
  const staging = path.join(config.root, '.mirrorsmith-cache', `seed-${process.pid}`);
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  const result: SeedResult = { placed: [], alreadyPresent: [], refused: [], ignored: 0 };
  try {
    // bsdtar reads ISO 9660 (with Rock Ridge/Joliet names) without mounting.
    await $({ quiet: true, signal, timeout: '30m' })`bsdtar -xf ${isoFile} -C ${staging}`;
    for (const rel of walkFiles(staging)) {
      const want = expected.get(rel);
      if (!want) {
        result.ignored++;
        continue;
      }
      const src = path.join(staging, rel);
      const got = hashFile(src, want.type);
      if (got !== want.checksum) {
        result.refused.push({ path: rel, reason: `${want.type} ${got.slice(0, 16)}… does not match upstream ${want.checksum.slice(0, 16)}…` });
        continue;
      }
      const dest = path.join(config.root, tree, rel);
      if (fs.existsSync(dest)) {
        result.alreadyPresent.push(rel);
        continue;
      }
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.chmodSync(src, 0o644);
      fs.renameSync(src, dest); // same filesystem: atomic
      result.placed.push(rel);
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return result;
}

async function expectedChecksums(config: CacheConfig, tree: string, signal?: AbortSignal): Promise<Map<string, { type: string; checksum: string }>> {
  const expected = new Map<string, { type: string; checksum: string }>();
  const repomd = parseRepomd((await fetchFromUpstreams(config, `${tree}/repodata/repomd.xml`, config.maxMetadataBytes, signal)).body.toString('utf8'));
  const primary = repomd.entries.find((e) => e.type === 'primary');
  if (!primary) throw new UsageError(`upstream ${tree}/repodata/repomd.xml lists no primary metadata`);
  const body = (await fetchFromUpstreams(config, `${tree}/${primary.href}`, config.maxMetadataBytes, signal)).body;
  for (const p of parsePrimary(decompressByName(primary.href, body).toString('utf8'))) expected.set(p.href, { type: p.checksumType, checksum: p.checksum });
  try {
    const treeinfo = (await fetchFromUpstreams(config, `${tree}/.treeinfo`, 1024 * 1024, signal)).body.toString('utf8');
    for (const [file, sum] of parseTreeinfoChecksums(treeinfo)) expected.set(file, sum);
  } catch {
    // not an install tree: packages only
  }
  return expected;
}

/** `[checksums]` lines like `images/boot.iso = sha256:abc…`. */
export function parseTreeinfoChecksums(text: string): Map<string, { type: string; checksum: string }> {
  const out = new Map<string, { type: string; checksum: string }>();
  let section = '';
  for (const line of text.split('\n')) {
    const header = /^\s*\[([^\]]+)\]\s*$/.exec(line);
    if (header) {
      section = header[1]!.trim();
      continue;
    }
    const m = section === 'checksums' && /^\s*([^=\s][^=]*?)\s*=\s*([a-z0-9]+):([0-9a-fA-F]+)\s*$/.exec(line);
    if (m && relPath.safeParse(m[1]).success) out.set(m[1]!, { type: m[2]!, checksum: m[3]!.toLowerCase() });
  }
  return out;
}

function walkFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}
