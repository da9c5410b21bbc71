// `mirrorsmith bench generate`: writes the deterministic Fedora-shaped world of
// master-plan.ts / network-plan.ts to disk — the master tree (sparse files, real
// repodata, fullfiletimelists, CHECKSUM files), the registry (one YAML per site,
// validated with the registry's own schema), a config, and the crawl state.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ConfigSchema } from '../core/config.ts';
import { formatFullFileTimeList, type ListEntry } from '../master/listing.ts';
import { shortFileList, type FileEntry } from '../master/tree.ts';
import { writeSiteFiles } from '../registry/export.ts';
import { loadRegistry } from '../registry/load.ts';
import type { SiteFile } from '../registry/schema.ts';
import { loadGeo } from './geo.ts';
import { planMaster, repoPackages, WORLD_EPOCH, type MasterPlan, type RepoSpec } from './master-plan.ts';
import { COUNTRY_WEIGHTS, CONTINENT_REDIRECTS, planNetwork, type NetworkPlan } from './network-plan.ts';
import { makeRepodata } from './repodata.ts';

/** Bumped whenever the generated world changes shape, so cached worlds are regenerated. */
export const GENERATOR_VERSION = 3;

export interface GenerateOptions {
  scale: number;
  seed: number;
  out: string;
  /** Write the master tree to disk (false: plan it and record it in world.json only, for build growth runs). */
  tree?: boolean;
  /** Directory holding node_modules (the GeoIP/ASN CSVs). */
  repoRoot?: string;
  onProgress?: (message: string) => void;
}

export interface WorldDirectory { name: string; readable: boolean; ctime: number; files: FileEntry[] }

export interface WorldRepo {
  category: string;
  path: string;
  prefix: string;
  arch: string;
  kind: string;
  repomd: { size: number; md5: string; sha1: string; sha256: string; sha512: string; timestamp: number };
}

/** world.json: what a scan of the tree would find, loadable without walking it. */
export interface WorldFile {
  generator: number;
  scale: number;
  seed: number;
  epoch: number;
  tree: boolean;
  summary: WorldSummary;
  categories: Array<{ name: string; topdir: string; directories: WorldDirectory[] }>;
  repos: WorldRepo[];
}

export interface WorldSummary {
  scale: number;
  seed: number;
  categories: number;
  repositories: number;
  directories: number;
  files: number;
  apparentBytes: number;
  hosts: number;
  publicHosts: number;
  privateHosts: number;
  netblocks: number;
  ipv6Netblocks: number;
  asnClientHosts: number;
  internet2Hosts: number;
  countries: number;
  countriesAllowedHosts: number;
  crawlRows: number;
  durationMs: number;
  /** Peak RSS of the generating process (absent in worlds from before it was recorded). */
  peakRssBytes?: number;
}

export const WORLD_FILES = { world: 'world.json', crawl: 'crawl-state.json', config: 'mirrorsmith.yaml', registry: 'registry', master: 'master', research: 'research-prefixes.txt' } as const;

export async function generateWorld(opts: GenerateOptions): Promise<WorldSummary> {
  const started = Date.now();
  const { scale, seed } = opts;
  if (!(scale > 0 && scale <= 64)) throw new Error(`--scale must be in (0, 64], got ${scale}`);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer, got ${seed}`);
  const out = path.resolve(opts.out);
  const repoRoot = path.resolve(opts.repoRoot ?? process.cwd());
  const say = opts.onProgress ?? (() => {});
  prepareOut(out);

  const master = planMaster(scale, seed);
  say(`planned ${master.repos.length} repositories in ${master.categories.length} categories`);
  const geo = loadGeo(repoRoot, COUNTRY_WEIGHTS.map(([c]) => c));
  const network = planNetwork(scale, seed, master, geo);
  say(`planned ${network.counts.hosts} hosts (${network.counts.privateHosts} private), ${network.counts.netblocks} netblocks`);

  const tree = opts.tree !== false;
  const written = writeMaster(path.join(out, WORLD_FILES.master), master, seed, tree, say);
  writeRegistry(out, network, master);
  writeConfig(out, master, geo.files);
  fs.writeFileSync(path.join(out, WORLD_FILES.research), network.researchPrefixes.join('\n') + '\n');
  writeJson(path.join(out, WORLD_FILES.crawl), { generator: GENERATOR_VERSION, epoch: WORLD_EPOCH, hosts: network.crawl.hosts, dirs: network.crawl.dirs });

  const summary: WorldSummary = {
    scale,
    seed,
    categories: master.categories.length,
    repositories: master.repos.length,
    directories: written.categories.reduce((s, c) => s + c.directories.length, 0),
    files: written.files,
    apparentBytes: written.bytes,
    ...network.counts,
    crawlRows: network.crawl.dirs.length,
    durationMs: Date.now() - started,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  const world: WorldFile = { generator: GENERATOR_VERSION, scale, seed, epoch: WORLD_EPOCH, tree, summary, categories: written.categories, repos: written.repos };
  writeJson(path.join(out, WORLD_FILES.world), world);
  return summary;
}

/** Reads world.json when it was made by this generator version with these parameters. */
export function readWorld(dir: string): WorldFile | null {
  try {
    const w = JSON.parse(fs.readFileSync(path.join(dir, WORLD_FILES.world), 'utf8')) as WorldFile;
    return w.generator === GENERATOR_VERSION ? w : null;
  } catch {
    return null;
  }
}

function prepareOut(out: string): void {
  if (fs.existsSync(out)) {
    const entries = fs.readdirSync(out);
    // Only ever replace a directory this generator made (it holds world.json or nothing).
    if (entries.length && !entries.includes(WORLD_FILES.world) && !entries.includes(WORLD_FILES.master)) {
      throw new Error(`--out ${out} exists and is not a generated world; refusing to overwrite it`);
    }
    for (const e of entries) {
      const p = path.join(out, e);
      makeWritable(p);
      fs.rmSync(p, { recursive: true, force: true });
    }
  }
  fs.mkdirSync(out, { recursive: true });
}

function makeWritable(p: string): void {
  // A previous world's 0750 pre-bitflip directories are fine for root but not for others.
  try {
    const st = fs.lstatSync(p);
    if (!st.isDirectory()) return;
    fs.chmodSync(p, 0o755);
    for (const e of fs.readdirSync(p)) makeWritable(path.join(p, e));
  } catch {
    /* best effort: rmSync reports what really fails */
  }
}

interface WrittenMaster {
  categories: WorldFile['categories'];
  repos: WorldRepo[];
  files: number;
  bytes: number;
  topdirs: Record<string, string>;
}

function writeMaster(root: string, plan: MasterPlan, seed: number, tree: boolean, say: (m: string) => void): WrittenMaster {
  const result: WrittenMaster = { categories: [], repos: [], files: 0, bytes: 0, topdirs: {} };
  let done = 0;
  for (const cat of plan.categories) {
    const top = path.join(root, cat.topdir);
    result.topdirs[cat.name] = top;
    if (tree) fs.mkdirSync(top, { recursive: true });
    // Per directory: its files, and the newest time below it (directory mtime).
    const dirs = new Map<string, { files: FileEntry[]; mtime: number }>();
    const entries: ListEntry[] = [];
    const ensureDir = (rel: string, mtime: number) => {
      for (let d = rel; d !== ''; d = d.includes('/') ? d.slice(0, d.lastIndexOf('/')) : '') {
        const e = dirs.get(d);
        if (e) {
          if (e.mtime >= mtime) return;
          e.mtime = mtime;
        } else dirs.set(d, { files: [], mtime });
      }
    };
    const addFile = (dir: string, name: string, size: number, mtime: number, data?: Buffer) => {
      ensureDir(dir, mtime);
      dirs.get(dir)!.files.push({ name, size, mtime });
      const rel = `${dir}/${name}`;
      entries.push({ name: rel, type: 'f', size, time: mtime });
      result.files++;
      result.bytes += size;
      if (!tree) return;
      const abs = path.join(top, rel);
      if (data) {
        fs.writeFileSync(abs, data);
        fs.utimesSync(abs, mtime, mtime);
      } else {
        // Sparse: the size is real, the blocks are not.
        const fd = fs.openSync(abs, 'w');
        try {
          fs.ftruncateSync(fd, size);
          fs.futimesSync(fd, mtime, mtime);
        } finally {
          fs.closeSync(fd);
        }
      }
    };
    const mkdirs = (rel: string) => {
      if (tree) fs.mkdirSync(path.join(top, rel), { recursive: true });
    };

    for (const repo of plan.repos.filter((r) => r.category === cat.name)) {
      const packages = repoPackages(repo, seed);
      const letters = [...new Set(packages.map((p) => p.letter))];
      mkdirs(`${repo.path}/repodata`);
      for (const l of letters) mkdirs(`${repo.path}/Packages/${l}`);
      for (const p of packages) addFile(`${repo.path}/Packages/${p.letter}`, p.file, p.size, p.buildTime);
      const repodata = makeRepodata(packages, repo.mtime);
      for (const f of repodata) addFile(`${repo.path}/${path.posix.dirname(f.path)}`, path.posix.basename(f.path), f.data.length, repo.mtime, f.data);
      result.repos.push(repoEntry(repo, repodata[0]!.data));
      if (++done % 100 === 0) say(`${done}/${plan.repos.length} repositories written`);
    }
    for (const iso of plan.isoDirs.filter((d) => d.category === cat.name)) {
      mkdirs(iso.path);
      for (const img of iso.images) addFile(iso.path, img.name, img.size, iso.mtime);
      const sums = iso.images.map((img) => `SHA256 (${img.name}) = ${createHash('sha256').update(`${seed}:${img.name}`).digest('hex')}`).join('\n');
      const body = Buffer.from(`# Fedora checksums (synthetic; images are sparse)\n${sums}\n`);
      addFile(iso.path, iso.checksumFile, body.length, iso.mtime, body);
    }

    for (const [name, d] of dirs) entries.push({ name, type: 'd', size: 4096, time: d.mtime });
    const unreadable = (name: string) => cat.unreadable.some((u) => name === u || name.startsWith(`${u}/`));
    const directories: WorldDirectory[] = [...dirs.entries()]
      .map(([name, d]) => ({ name, readable: !unreadable(name), ctime: d.mtime, files: shortFileList(d.files) }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const topMtime = Math.max(0, ...[...dirs.values()].map((d) => d.mtime));
    directories.unshift({ name: '', readable: true, ctime: topMtime, files: [] });
    result.categories.push({ name: cat.name, topdir: cat.topdir, directories });
    if (tree) {
      fs.writeFileSync(path.join(top, cat.fullfiletimelist), formatFullFileTimeList(entries));
      // Directory times last (writing children moved them), deepest first; then the bitflip modes.
      for (const name of [...dirs.keys()].sort((a, b) => b.split('/').length - a.split('/').length)) {
        const t = dirs.get(name)!.mtime;
        fs.utimesSync(path.join(top, name), t, t);
      }
      for (const u of cat.unreadable) if (dirs.has(u)) fs.chmodSync(path.join(top, u), 0o750);
    }
  }
  return result;
}

function repoEntry(repo: RepoSpec, repomd: Buffer): WorldRepo {
  const h = (alg: string) => createHash(alg).update(repomd).digest('hex');
  return {
    category: repo.category,
    path: repo.path,
    prefix: repo.prefix,
    arch: repo.arch,
    kind: repo.kind,
    repomd: { size: repomd.length, md5: h('md5'), sha1: h('sha1'), sha256: h('sha256'), sha512: h('sha512'), timestamp: repo.mtime },
  };
}

function writeRegistry(out: string, network: NetworkPlan, master: MasterPlan): void {
  const dir = path.join(out, WORLD_FILES.registry);
  writeSiteFiles(dir, network.sites as SiteFile[], 'synthetic site written by `mirrorsmith bench generate`');
  // The registry's own schema is the judge: a generator that drifts from the format fails here.
  loadRegistry(dir, master.categories.map((c) => c.name));
}

function writeConfig(out: string, master: MasterPlan, geoFiles: { countryV4: string; countryV6: string; asnV4: string; asnV6: string }): void {
  const config = {
    database: { dataDir: 'var/db' },
    registry: { dir: WORLD_FILES.registry },
    output: { dir: 'out', keepGenerations: 3 },
    categories: master.categories.map((c) => ({
      name: c.name,
      topdir: c.topdir,
      // The source is the master's root; the category top is <root>/<topdir>.
      source: { type: 'local', path: WORLD_FILES.master },
      fullfiletimelist: c.fullfiletimelist,
      excludes: ['.snapshot', '.~tmp~'],
      repoRules: c.rules,
      keyRepos: master.repos.filter((r) => r.category === c.name && (r.prefix.startsWith('updates-released-f') || r.prefix.startsWith('epel-')) && r.arch === 'x86_64').slice(0, 2).map((r) => r.prefix),
    })),
    repositoryAliases: master.aliases,
    countryContinentRedirects: CONTINENT_REDIRECTS,
    geoip: { country: [geoFiles.countryV4, geoFiles.countryV6], asn: [geoFiles.asnV4, geoFiles.asnV6], researchPrefixes: WORLD_FILES.research },
  };
  const checked = ConfigSchema.safeParse(config);
  if (!checked.success) throw new Error(`internal: generated config does not validate: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const header = '# Synthetic Fedora-scale world written by `mirrorsmith bench generate`; regenerate rather than edit.\n';
  fs.writeFileSync(path.join(out, WORLD_FILES.config), header + YAML.stringify(config, { lineWidth: 0 }));
}

function writeJson(file: string, value: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(value));
  fs.renameSync(tmp, file);
}
