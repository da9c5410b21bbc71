// Pure plan of a Fedora-shaped master tree: categories, their repo rules (config,
// not code), every repository directory with its package count, ISO directories
// with checksum files. generate.ts turns the plan into files; nothing here does I/O.
import { Rng } from './rng.ts';

export type RepoKind =
  | 'os' | 'debug' | 'source' | 'variant'
  | 'updates' | 'updates-debug' | 'updates-source'
  | 'testing' | 'testing-debug' | 'testing-source'
  | 'rawhide' | 'rawhide-debug' | 'rawhide-source';

export interface RepoSpec {
  category: string;
  /** Directory holding repodata/, relative to the category top. */
  path: string;
  prefix: string;
  arch: string;
  kind: RepoKind;
  /** Release label, used for package release tags (fc41, el9…). */
  release: string;
  packages: number;
  /** Unix seconds: when this repository last changed on the master. */
  mtime: number;
}

export interface IsoDirSpec {
  category: string;
  path: string;
  images: Array<{ name: string; size: number }>;
  checksumFile: string;
  mtime: number;
}

export interface RepoRuleSpec { match: string; repo: string; arch: string }

export interface CategorySpec {
  name: string;
  /** Below the master root and below every mirror's root. */
  topdir: string;
  /** quick-fedora-mirror listing at the category top. */
  fullfiletimelist: string;
  /** Directory prefixes (relative to the category top) that are pre-bitflip: mode 0750. */
  unreadable: string[];
  rules: RepoRuleSpec[];
}

export interface MasterPlan {
  categories: CategorySpec[];
  repos: RepoSpec[];
  isoDirs: IsoDirSpec[];
  /** Repository aliases (from → to) for the config. */
  aliases: Array<{ from: string; to: string }>;
}

/** Master tree "now": 2026-11-01T00:00:00Z. Fixed so output never depends on the clock. */
export const WORLD_EPOCH = Date.UTC(2026, 10, 1) / 1000;
const DAY = 86_400;

export const PRIMARY_ARCHES = ['x86_64', 'aarch64', 'ppc64le', 's390x'] as const;
export const SECONDARY_ARCHES = ['riscv64', 'loongarch64'] as const;
const CURRENT_RELEASES = [42, 41, 40, 39];
const PREBITFLIP_RELEASE = 43;
const VARIANTS: Array<[string, readonly string[]]> = [
  ['Server', PRIMARY_ARCHES],
  ['Cloud', PRIMARY_ARCHES],
  ['Container', PRIMARY_ARCHES],
  ['Workstation', ['x86_64', 'aarch64', 'ppc64le']],
  ['Kinoite', ['x86_64', 'aarch64', 'ppc64le']],
  ['Silverblue', ['x86_64', 'aarch64', 'ppc64le']],
  ['Spins', ['x86_64', 'aarch64']],
];
const EPEL_VERSIONS = ['10.1', '10.0', '9', '8'];

// Relative package counts per repository kind (Everything/os is the big one).
const KIND_WEIGHT: Record<RepoKind, number> = {
  os: 1000, debug: 650, source: 700, variant: 90,
  updates: 420, 'updates-debug': 300, 'updates-source': 260,
  testing: 60, 'testing-debug': 40, 'testing-source': 35,
  rawhide: 1100, 'rawhide-debug': 700, 'rawhide-source': 750,
};

/** At scale 1 the tree holds about this many files (packages + repodata + images). */
export const FILES_AT_SCALE_1 = 400_000;

const notSource = '((?!source/)(?!source$)[^/]+)';

function fedoraRules(prefixDir: string): RepoRuleSpec[] {
  const p = prefixDir;
  return [
    { match: `^${p}releases/(\\d+)/Everything/source/tree$`, repo: 'fedora-source-$1', arch: 'source' },
    { match: `^${p}releases/(\\d+)/Everything/${notSource}/os$`, repo: 'fedora-$1', arch: '$2' },
    { match: `^${p}releases/(\\d+)/Fedora/${notSource}/os$`, repo: 'fedora-$1', arch: '$2' },
    { match: `^${p}releases/(\\d+)/Everything/${notSource}/debug/tree$`, repo: 'fedora-debug-$1', arch: '$2' },
    ...VARIANTS.map(([v]) => ({ match: `^${p}releases/(\\d+)/${v}/${notSource}/os$`, repo: `fedora-${v.toLowerCase()}-$1`, arch: '$2' })),
    { match: `^${p}updates/(\\d+)/Everything/source/tree$`, repo: 'updates-released-source-f$1', arch: 'source' },
    { match: `^${p}updates/(\\d+)/Everything/${notSource}/debug$`, repo: 'updates-released-debug-f$1', arch: '$2' },
    { match: `^${p}updates/(\\d+)/Everything/${notSource}$`, repo: 'updates-released-f$1', arch: '$2' },
    { match: `^${p}updates/testing/(\\d+)/Everything/source/tree$`, repo: 'updates-testing-source-f$1', arch: 'source' },
    { match: `^${p}updates/testing/(\\d+)/Everything/${notSource}/debug$`, repo: 'updates-testing-debug-f$1', arch: '$2' },
    { match: `^${p}updates/testing/(\\d+)/Everything/${notSource}$`, repo: 'updates-testing-f$1', arch: '$2' },
    { match: `^${p}development/rawhide/Everything/source/tree$`, repo: 'rawhide-source', arch: 'source' },
    { match: `^${p}development/rawhide/Everything/${notSource}/os$`, repo: 'rawhide', arch: '$1' },
    { match: `^${p}development/rawhide/Everything/${notSource}/debug/tree$`, repo: 'rawhide-debug', arch: '$1' },
  ];
}

function epelRules(prefixDir: string): RepoRuleSpec[] {
  const p = prefixDir;
  return [
    { match: `^${p}(\\d+(?:\\.\\d+)?)/Everything/source/tree$`, repo: 'epel-source-$1', arch: 'source' },
    { match: `^${p}next/(\\d+)/Everything/source/tree$`, repo: 'epel-next-source-$1', arch: 'source' },
    { match: `^${p}testing/(\\d+(?:\\.\\d+)?)/Everything/source/tree$`, repo: 'testing-epel-source-$1', arch: 'source' },
    { match: `^${p}testing/(\\d+(?:\\.\\d+)?)/Everything/${notSource}/debug$`, repo: 'testing-epel-debug-$1', arch: '$2' },
    { match: `^${p}testing/(\\d+(?:\\.\\d+)?)/Everything/${notSource}$`, repo: 'testing-epel-$1', arch: '$2' },
    { match: `^${p}next/(\\d+)/Everything/${notSource}/debug$`, repo: 'epel-next-debug-$1', arch: '$2' },
    { match: `^${p}next/(\\d+)/Everything/${notSource}$`, repo: 'epel-next-$1', arch: '$2' },
    { match: `^${p}(\\d+(?:\\.\\d+)?)/Everything/${notSource}/debug$`, repo: 'epel-debug-$1', arch: '$2' },
    { match: `^${p}(\\d+(?:\\.\\d+)?)/Everything/${notSource}$`, repo: 'epel-$1', arch: '$2' },
    // The old (EPEL ≤ 7) layout: epel/7/x86_64, epel/7/SRPMS, epel/testing/7/x86_64.
    { match: `^${p}(\\d+)/SRPMS$`, repo: 'epel-source-$1', arch: 'source' },
    { match: `^${p}testing/(\\d+)/SRPMS$`, repo: 'testing-epel-source-$1', arch: 'source' },
    { match: `^${p}(\\d+)/([a-z0-9_]+)/debug$`, repo: 'epel-debug-$1', arch: '$2' },
    { match: `^${p}testing/(\\d+)/([a-z0-9_]+)/debug$`, repo: 'testing-epel-debug-$1', arch: '$2' },
    { match: `^${p}(\\d+)/([a-z0-9_]+)$`, repo: 'epel-$1', arch: '$2' },
    { match: `^${p}testing/(\\d+)/([a-z0-9_]+)$`, repo: 'testing-epel-$1', arch: '$2' },
  ];
}

export const CATEGORY_NAMES = { linux: 'Fedora Linux', epel: 'Fedora EPEL', secondary: 'Fedora Secondary', archive: 'Fedora Archive' } as const;

export function planCategories(): CategorySpec[] {
  return [
    { name: CATEGORY_NAMES.linux, topdir: 'fedora/linux', fullfiletimelist: 'fullfiletimelist-fedora', unreadable: [`releases/${PREBITFLIP_RELEASE}`], rules: fedoraRules('') },
    { name: CATEGORY_NAMES.epel, topdir: 'epel', fullfiletimelist: 'fullfiletimelist-epel', unreadable: [], rules: epelRules('') },
    { name: CATEGORY_NAMES.secondary, topdir: 'fedora-secondary', fullfiletimelist: 'fullfiletimelist-fedora-secondary', unreadable: [], rules: fedoraRules('') },
    { name: CATEGORY_NAMES.archive, topdir: 'archive', fullfiletimelist: 'fullfiletimelist-archive', unreadable: [], rules: [...fedoraRules('fedora/linux/'), ...epelRules('epel/')] },
  ];
}

type Unit = Array<Omit<RepoSpec, 'packages'>>;

function fedoraRelease(category: string, n: number, arches: readonly string[], opts: { variants: boolean; testing: boolean; base: string; mtime: number; oldLayout?: boolean }): Unit {
  const { base, mtime } = opts;
  const rel = `fc${n}`;
  const out: Unit = [];
  const add = (path: string, prefix: string, arch: string, kind: RepoKind, age: number) =>
    out.push({ category, path: base + path, prefix, arch, kind, release: rel, mtime: mtime - age });
  const everything = opts.oldLayout ? 'Fedora' : 'Everything';
  for (const a of arches) {
    add(`releases/${n}/${everything}/${a}/os`, `fedora-${n}`, a, 'os', 200 * DAY);
    add(`releases/${n}/Everything/${a}/debug/tree`, `fedora-debug-${n}`, a, 'debug', 200 * DAY);
  }
  add(`releases/${n}/Everything/source/tree`, `fedora-source-${n}`, 'source', 'source', 200 * DAY);
  if (opts.variants) {
    for (const [v, vArches] of VARIANTS) for (const a of vArches.filter((x) => arches.includes(x))) add(`releases/${n}/${v}/${a}/os`, `fedora-${v.toLowerCase()}-${n}`, a, 'variant', 200 * DAY);
  }
  for (const a of arches) {
    add(`updates/${n}/Everything/${a}`, `updates-released-f${n}`, a, 'updates', 0);
    add(`updates/${n}/Everything/${a}/debug`, `updates-released-debug-f${n}`, a, 'updates-debug', 0);
  }
  add(`updates/${n}/Everything/source/tree`, `updates-released-source-f${n}`, 'source', 'updates-source', 0);
  if (opts.testing) {
    for (const a of arches) {
      add(`updates/testing/${n}/Everything/${a}`, `updates-testing-f${n}`, a, 'testing', 0);
      add(`updates/testing/${n}/Everything/${a}/debug`, `updates-testing-debug-f${n}`, a, 'testing-debug', 0);
    }
    add(`updates/testing/${n}/Everything/source/tree`, `updates-testing-source-f${n}`, 'source', 'testing-source', 0);
  }
  return out;
}

function rawhide(category: string, arches: readonly string[], withSource: boolean): Unit {
  const out: Unit = [];
  for (const a of arches) {
    out.push({ category, path: `development/rawhide/Everything/${a}/os`, prefix: 'rawhide', arch: a, kind: 'rawhide', release: 'fc44', mtime: WORLD_EPOCH - 3600 });
    out.push({ category, path: `development/rawhide/Everything/${a}/debug/tree`, prefix: 'rawhide-debug', arch: a, kind: 'rawhide-debug', release: 'fc44', mtime: WORLD_EPOCH - 3600 });
  }
  if (withSource) out.push({ category, path: 'development/rawhide/Everything/source/tree', prefix: 'rawhide-source', arch: 'source', kind: 'rawhide-source', release: 'fc44', mtime: WORLD_EPOCH - 3600 });
  return out;
}

function epelVersion(category: string, v: string, base: string, mtime: number): Unit {
  const out: Unit = [];
  const rel = `el${v.replace('.', '_')}`;
  const add = (path: string, prefix: string, arch: string, kind: RepoKind) => out.push({ category, path: base + path, prefix, arch, kind, release: rel, mtime });
  for (const a of PRIMARY_ARCHES) {
    add(`${v}/Everything/${a}`, `epel-${v}`, a, 'updates');
    add(`${v}/Everything/${a}/debug`, `epel-debug-${v}`, a, 'updates-debug');
    add(`testing/${v}/Everything/${a}`, `testing-epel-${v}`, a, 'testing');
    add(`testing/${v}/Everything/${a}/debug`, `testing-epel-debug-${v}`, a, 'testing-debug');
  }
  add(`${v}/Everything/source/tree`, `epel-source-${v}`, 'source', 'updates-source');
  add(`testing/${v}/Everything/source/tree`, `testing-epel-source-${v}`, 'source', 'testing-source');
  if (v === '9') {
    for (const a of PRIMARY_ARCHES) {
      add(`next/9/Everything/${a}`, 'epel-next-9', a, 'testing');
      add(`next/9/Everything/${a}/debug`, 'epel-next-debug-9', a, 'testing-debug');
    }
    add('next/9/Everything/source/tree', 'epel-next-source-9', 'source', 'testing-source');
  }
  return out;
}

function oldEpel(category: string, v: number, arches: string[], mtime: number): Unit {
  const out: Unit = [];
  const rel = `el${v}`;
  const add = (path: string, prefix: string, arch: string, kind: RepoKind) => out.push({ category, path: `epel/${path}`, prefix, arch, kind, release: rel, mtime });
  for (const a of arches) {
    add(`${v}/${a}`, `epel-${v}`, a, 'updates');
    add(`${v}/${a}/debug`, `epel-debug-${v}`, a, 'updates-debug');
    add(`testing/${v}/${a}`, `testing-epel-${v}`, a, 'testing');
    add(`testing/${v}/${a}/debug`, `testing-epel-debug-${v}`, a, 'testing-debug');
  }
  add(`${v}/SRPMS`, `epel-source-${v}`, 'source', 'updates-source');
  add(`testing/${v}/SRPMS`, `testing-epel-source-${v}`, 'source', 'testing-source');
  return out;
}

function archiveArches(n: number): string[] {
  const a = ['x86_64'];
  if (n <= 30) a.push('i386');
  if (n >= 17 && n <= 36) a.push('armhfp');
  if (n >= 27) a.push('aarch64');
  if (n >= 28) a.push('ppc64le', 's390x');
  return a;
}

function archiveRelease(n: number): Unit {
  // Old releases left the live tree long ago: the older, the longer.
  const mtime = WORLD_EPOCH - (40 - Math.min(n, 39)) * 180 * DAY;
  return fedoraRelease(CATEGORY_NAMES.archive, n, archiveArches(n), { variants: false, testing: true, base: 'fedora/linux/', mtime, oldLayout: n <= 16 });
}

/** Release units per category, newest first; interleaving them keeps small scales mixed. */
function baseUnits(): Unit[][] {
  const L = CATEGORY_NAMES;
  const linux: Unit[] = [
    rawhide(L.linux, PRIMARY_ARCHES, true),
    ...CURRENT_RELEASES.map((n, i) => fedoraRelease(L.linux, n, PRIMARY_ARCHES, { variants: true, testing: true, base: '', mtime: WORLD_EPOCH - i * 60 * DAY })),
    // Pre-bitflip: staged on the master, mode 0750, not public yet.
    [...PRIMARY_ARCHES.map((a) => ({ category: L.linux, path: `releases/${PREBITFLIP_RELEASE}/Everything/${a}/os`, prefix: `fedora-${PREBITFLIP_RELEASE}`, arch: a, kind: 'os' as RepoKind, release: `fc${PREBITFLIP_RELEASE}`, mtime: WORLD_EPOCH - 2 * DAY }))],
  ];
  const epel: Unit[] = EPEL_VERSIONS.map((v, i) => epelVersion(L.epel, v, '', WORLD_EPOCH - i * 3600));
  const secondary: Unit[] = [
    rawhide(L.secondary, SECONDARY_ARCHES, false),
    ...CURRENT_RELEASES.map((n, i) => fedoraRelease(L.secondary, n, SECONDARY_ARCHES, { variants: false, testing: true, base: '', mtime: WORLD_EPOCH - i * 60 * DAY }).filter((r) => r.arch !== 'source')),
  ];
  const archive: Unit[] = [];
  for (let n = 38; n >= 7; n--) archive.push(archiveRelease(n));
  archive.push(oldEpel(L.archive, 7, ['x86_64', 'ppc64le', 'ppc64', 'aarch64'], WORLD_EPOCH - 500 * DAY));
  archive.push(oldEpel(L.archive, 6, ['x86_64', 'i386', 'ppc64'], WORLD_EPOCH - 1500 * DAY));
  archive.push(oldEpel(L.archive, 5, ['x86_64', 'i386', 'ppc'], WORLD_EPOCH - 2500 * DAY));
  return [linux, epel, secondary, archive];
}

function interleave(perCategory: Unit[][]): Unit[] {
  const out: Unit[] = [];
  const max = Math.max(...perCategory.map((c) => c.length));
  for (let i = 0; i < max; i++) for (const c of perCategory) if (c[i]) out.push(c[i]!);
  return out;
}

export function baseRepoCount(): number {
  return baseUnits().flat(2).length;
}

/**
 * The master tree at `scale`: repositories are the base Fedora shape truncated
 * (scale < 1, whole release units kept in interleaved order, then cut) or extended
 * with synthetic archive releases numbered from 100 (scale > 1).
 */
export function planMaster(scale: number, seed: number): MasterPlan {
  if (!(scale > 0)) throw new Error(`scale must be > 0 (got ${scale})`);
  const units = interleave(baseUnits());
  const base = units.flat();
  const target = Math.max(8, Math.round(base.length * scale));
  let flat = base.slice(0, target);
  for (let n = 100; flat.length < target; n++) flat = flat.concat(archiveRelease(n).slice(0, target - flat.length));
  const weightSum = base.reduce((s, r) => s + KIND_WEIGHT[r.kind], 0);
  const rng = new Rng(seed).fork('master');
  const isoDirs = planIsoDirs(flat);
  const repodataFiles = 4;
  const imageFiles = isoDirs.reduce((s, d) => s + d.images.length + 1, 0);
  // Packages per weight unit so that the scale-1 tree holds FILES_AT_SCALE_1 files.
  const perWeight = (FILES_AT_SCALE_1 - base.length * repodataFiles - imageFiles) / weightSum;
  const repos: RepoSpec[] = flat.map((r) => {
    const jitter = 0.85 + 0.3 * rng.next();
    return { ...r, packages: Math.max(3, Math.round(KIND_WEIGHT[r.kind] * perWeight * jitter)) };
  });
  const seen = new Set<string>();
  for (const r of repos) {
    const key = `${r.prefix}/${r.arch}`;
    if (seen.has(key)) throw new Error(`internal: duplicate repository ${key} at ${r.category}/${r.path}`);
    seen.add(key);
  }
  return { categories: planCategories(), repos, isoDirs, aliases: [{ from: 'epel-10', to: 'epel-10.1' }, { from: 'epel-testing-10', to: 'testing-epel-10.1' }] };
}

/** Install images beside the current releases' Server/Workstation trees, with a CHECKSUM file. */
function planIsoDirs(repos: Array<Omit<RepoSpec, 'packages'>>): IsoDirSpec[] {
  const out: IsoDirSpec[] = [];
  for (const r of repos) {
    if (r.category !== CATEGORY_NAMES.linux || r.kind !== 'variant') continue;
    const m = /^releases\/(\d+)\/(Server|Workstation)\/([^/]+)\/os$/.exec(r.path);
    if (!m) continue;
    const [, n, v, a] = m;
    const dir = `releases/${n}/${v}/${a}/iso`;
    const stem = `Fedora-${v}-${n}-1.4-${a}`;
    out.push({
      category: r.category,
      path: dir,
      images: v === 'Server' ? [{ name: `Fedora-Server-dvd-${a}-${n}-1.4.iso`, size: 2_600_000_000 }, { name: `Fedora-Server-netinst-${a}-${n}-1.4.iso`, size: 1_100_000_000 }] : [{ name: `Fedora-Workstation-Live-${a}-${n}-1.4.iso`, size: 2_300_000_000 }],
      checksumFile: `${stem}-CHECKSUM`,
      mtime: r.mtime,
    });
  }
  return out;
}

// First characters of Fedora package names, weighted like the real Packages/<c>/ dirs.
const LETTERS = 'abcdefghijklmnopqrstuvwxyz0'.split('');
const LETTER_WEIGHTS = [4, 2, 4, 3, 3, 3, 9, 4, 2, 3, 3, 10, 4, 4, 3, 22, 2, 12, 5, 6, 2, 2, 2, 2, 1, 1, 0.3];
const FAMILIES: Record<string, string[]> = {
  p: ['python3-', 'perl-', 'php-', 'pcp-'], r: ['rust-', 'rubygem-', 'R-'], g: ['golang-', 'ghc-', 'gnome-'], l: ['lib', 'lua-'],
  t: ['texlive-', 'tcl-'], n: ['nodejs-', 'nim-'], o: ['ocaml-', 'opencv-'], m: ['mingw64-', 'mate-'], k: ['kf6-', 'kernel-'], x: ['xorg-x11-', 'xfce4-'],
};
const SYLLABLES = ['ba', 'co', 'de', 'fi', 'gu', 'ha', 'ji', 'ko', 'lu', 'ma', 'ne', 'po', 'qi', 'ra', 'si', 'tu', 'vo', 'wa', 'xe', 'yo', 'zu', 'an', 'el', 'ix', 'on', 'ut'];

export interface PackageSpec { name: string; version: string; release: string; arch: string; file: string; letter: string; size: number; sha256: string; buildTime: number }

/** The packages of one repository: deterministic from (seed, repo path). */
export function repoPackages(repo: RepoSpec, seed: number): PackageSpec[] {
  const rng = new Rng(seed).fork(`${repo.category}/${repo.path}`);
  const isSource = repo.arch === 'source';
  const isDebug = repo.kind.endsWith('debug');
  const names = new Set<string>();
  const out: PackageSpec[] = [];
  for (let i = 0; out.length < repo.packages && i < repo.packages * 4; i++) {
    const letter = LETTERS[rng.weightedIndex(LETTER_WEIGHTS)]!;
    const fam = FAMILIES[letter];
    let stem = fam && rng.chance(0.6) ? rng.pick(fam) : letter === '0' ? '0' : letter;
    const syl = rng.int(1, 4);
    for (let s = 0; s < syl; s++) stem += rng.pick(SYLLABLES);
    if (rng.chance(0.3)) stem += `-${rng.pick(['devel', 'libs', 'doc', 'common', 'tools', 'data'])}`;
    const name = isDebug ? `${stem}-debuginfo` : stem;
    if (names.has(name)) continue;
    names.add(name);
    const version = `${rng.int(0, 12)}.${rng.int(0, 40)}${rng.chance(0.5) ? `.${rng.int(0, 20)}` : ''}`;
    const release = `${rng.int(1, 30)}.${repo.release}`;
    const arch = isSource ? 'src' : repo.kind === 'os' || repo.kind.startsWith('updates') || repo.kind.startsWith('testing') ? (rng.chance(0.3) ? 'noarch' : repo.arch) : repo.arch;
    const file = `${name}-${version}-${release}.${arch}.rpm`;
    const size = Math.round(rng.logUniform(isDebug ? 40_000 : 8_000, isSource ? 80_000_000 : 40_000_000));
    out.push({ name, version, release, arch, file, letter: name[0]!.toLowerCase(), size, sha256: rng.hex(32), buildTime: repo.mtime - rng.int(0, 90 * DAY) });
  }
  out.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return out;
}
