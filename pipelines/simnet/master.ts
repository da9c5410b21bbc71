// A small synthetic master tree with a push history, and a seeding of the
// database as scan-master leaves it (directory rows with short file lists,
// repositories, repomd.xml file_detail history): what crawl tests and the crawl
// benchmark hook run against when the real scan is not part of the test.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Queryable } from '../core/db.ts';
import type { MasterTrees } from './trees.ts';

export const SIM_ARCHES = ['x86_64', 'aarch64', 'ppc64le', 's390x'] as const;

export interface SimRepo {
  /** Directory of the repository below the category top. */
  dir: string;
  prefix: string;
  arch: string;
}

export interface SimMasterOptions {
  repos: number;
  /** Pushes written; the last is current, the others become MasterTrees.previous. */
  pushes: number;
  /** Also write a 0750 (pre-bitflip) release that mirrors cannot have yet. */
  prebitflip?: boolean;
  /** Epoch seconds of the first push (default fixed, so trees are reproducible). */
  epoch?: number;
}

export interface SimMaster extends MasterTrees {
  repos: SimRepo[];
  /** Relative directory of the pre-bitflip release, when written. */
  prebitflipDir?: string;
}

/** The repository layout: releases/<ver>/Everything/<arch>/os, four arches per version. */
export function simRepos(n: number): SimRepo[] {
  return Array.from({ length: n }, (_, i) => {
    const ver = 40 + Math.floor(i / SIM_ARCHES.length);
    const arch = SIM_ARCHES[i % SIM_ARCHES.length]!;
    return { dir: `releases/${ver}/Everything/${arch}/os`, prefix: `fedora-${ver}`, arch };
  });
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Real yum repodata: one primary.xml.gz named by its hash, and repomd.xml describing it. */
export function writeSimRepodata(repoDir: string, label: string, ts: number): Buffer {
  const repodata = path.join(repoDir, 'repodata');
  fs.rmSync(repodata, { recursive: true, force: true });
  fs.mkdirSync(repodata, { recursive: true });
  const open = Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" packages="1">\n` +
      `<package type="rpm"><name>hello</name><arch>noarch</arch><version epoch="0" ver="1.0" rel="${ts}"/><summary>${label}</summary>` +
      `<location href="Packages/h/hello-1.0-1.noarch.rpm"/></package>\n</metadata>\n`,
  );
  const gz = gzipSync(open, { level: 9 });
  const name = `${sha256(gz)}-primary.xml.gz`;
  fs.writeFileSync(path.join(repodata, name), gz);
  const repomd = Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?>\n<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">\n` +
      `  <revision>${ts}</revision>\n  <data type="primary">\n    <checksum type="sha256">${sha256(gz)}</checksum>\n` +
      `    <open-checksum type="sha256">${sha256(open)}</open-checksum>\n    <location href="repodata/${name}"/>\n` +
      `    <timestamp>${ts}</timestamp>\n    <size>${gz.length}</size>\n    <open-size>${open.length}</open-size>\n  </data>\n</repomd>\n`,
  );
  fs.writeFileSync(path.join(repodata, 'repomd.xml'), repomd);
  return repomd;
}

/** Writes `pushes` full trees under `root` (push-1 … push-N) and returns the newest as current. */
export function writeSimMaster(root: string, opts: SimMasterOptions): SimMaster {
  const repos = simRepos(opts.repos);
  const epoch = opts.epoch ?? 1_790_000_000;
  const tops: string[] = [];
  for (let p = 1; p <= opts.pushes; p++) {
    const top = path.join(root, `push-${p}`, 'linux');
    fs.rmSync(path.dirname(top), { recursive: true, force: true });
    fs.mkdirSync(top, { recursive: true });
    fs.writeFileSync(path.join(top, 'README'), 'Fedora Linux (simulated master)\n');
    for (const [i, r] of repos.entries()) {
      const dir = path.join(top, r.dir);
      fs.mkdirSync(path.join(dir, 'Packages', 'h'), { recursive: true });
      // Packages do not change between pushes; only the metadata does.
      fs.writeFileSync(path.join(dir, 'Packages', 'h', 'hello-1.0-1.noarch.rpm'), `rpm payload of repo ${i}\n`.repeat(8));
      writeSimRepodata(dir, `${r.prefix}/${r.arch} push ${p}`, epoch + p * 3600);
    }
    tops.push(top);
  }
  const current = tops[tops.length - 1]!;
  let prebitflipDir: string | undefined;
  if (opts.prebitflip) {
    prebitflipDir = 'releases/99/Everything/x86_64/os';
    const dir = path.join(current, prebitflipDir);
    fs.mkdirSync(path.join(dir, 'Packages', 'h'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'Packages', 'h', 'hello-1.0-1.noarch.rpm'), 'embargoed\n');
    writeSimRepodata(dir, 'fedora-99 prerelease', epoch);
    fs.chmodSync(path.join(current, 'releases/99'), 0o750);
  }
  return { current, previous: tops.slice(0, -1).reverse(), repos, prebitflipDir };
}

interface WalkedDir {
  name: string;
  readable: boolean;
  ctime: number;
  files: Array<{ name: string; size: number; mtime: number }>;
}

function walk(top: string): WalkedDir[] {
  const out: WalkedDir[] = [];
  const visit = (rel: string, parentReadable: boolean) => {
    const abs = path.join(top, rel);
    const st = fs.statSync(abs);
    const readable = parentReadable && (st.mode & 0o005) === 0o005;
    const files: WalkedDir['files'] = [];
    const subdirs: string[] = [];
    for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
      if (e.isDirectory()) subdirs.push(e.name);
      else if (e.isFile()) {
        const fst = fs.statSync(path.join(abs, e.name));
        files.push({ name: e.name, size: fst.size, mtime: Math.floor(fst.mtimeMs / 1000) });
      }
    }
    files.sort((a, b) => (a.name < b.name ? -1 : 1));
    out.push({ name: rel, readable, ctime: Math.floor(st.ctimeMs / 1000), files });
    for (const s of subdirs.sort()) visit(rel ? `${rel}/${s}` : s, readable);
  };
  visit('', true);
  return out;
}

/**
 * Seeds one category as scan-master would after scanning every push in order:
 * directories of the current tree, one repository per repodata parent, and the
 * repomd.xml file_detail history (oldest first, one minute apart).
 */
export async function seedSimMaster(db: Queryable, master: SimMaster, category: { name: string; topdir: string }): Promise<{ categoryId: number; dirs: number; repos: number }> {
  const cat = await db.query<{ id: number }>(
    `INSERT INTO category (name, topdir) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET topdir = EXCLUDED.topdir RETURNING id`,
    [category.name, category.topdir],
  );
  const categoryId = cat.rows[0]!.id;
  const dirs = walk(master.current);
  const ids = new Map<string, number>();
  for (const d of dirs) {
    const files = d.files.length > 10 ? d.files.slice(-3) : d.files;
    const r = await db.query<{ id: number }>(
      `INSERT INTO directory (category_id, name, readable, ctime, files) VALUES ($1, $2, $3, $4, $5::jsonb)
       ON CONFLICT (category_id, name) DO UPDATE SET readable = EXCLUDED.readable, ctime = EXCLUDED.ctime, files = EXCLUDED.files RETURNING id`,
      [categoryId, d.name, d.readable, d.ctime, JSON.stringify(files)],
    );
    ids.set(d.name, r.rows[0]!.id);
  }
  const all = [...master.repos];
  if (master.prebitflipDir) all.push({ dir: master.prebitflipDir, prefix: 'fedora-99', arch: 'x86_64' });
  const pushes = [...master.previous].reverse().concat(master.current);
  for (const r of all) {
    const dirId = ids.get(r.dir);
    const repodataId = ids.get(`${r.dir}/repodata`);
    if (dirId === undefined || repodataId === undefined) continue;
    await db.query(
      `INSERT INTO repository (prefix, arch, category_id, directory_id) VALUES ($1, $2, $3, $4)
       ON CONFLICT (prefix, arch) DO UPDATE SET directory_id = EXCLUDED.directory_id, category_id = EXCLUDED.category_id`,
      [r.prefix, r.arch, categoryId, dirId],
    );
    for (const [i, top] of pushes.entries()) {
      const file = path.join(top, r.dir, 'repodata', 'repomd.xml');
      if (!fs.existsSync(file)) continue;
      const bytes = fs.readFileSync(file);
      const h = (alg: string) => createHash(alg).update(bytes).digest('hex');
      await db.query(
        `INSERT INTO file_detail (directory_id, filename, size, md5, sha1, sha256, sha512, "timestamp", created_at)
         VALUES ($1, 'repomd.xml', $2, $3, $4, $5, $6, $7, now() - make_interval(mins => $8))`,
        [repodataId, bytes.length, h('md5'), h('sha1'), h('sha256'), h('sha512'), i, pushes.length - i],
      );
    }
  }
  return { categoryId, dirs: dirs.length, repos: all.length };
}
