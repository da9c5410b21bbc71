// The demo master tree: a miniature but real Fedora-like tree for the categories
// "Fedora Linux" (topdir linux) and "Fedora EPEL" (topdir epel), with real
// repodata (createrepo_c over real RPMs from rpmbuild when installed, else our own
// writer), a 0750 pre-bitflip release, checksum files beside an image, excluded
// junk, and a fullfiletimelist per category. `pushDemoUpdate` makes a new push of
// one repository and keeps the previous repodata for stale mirrors.
//
// Layout, for a mirror root R (e.g. demo/master):
//   R/linux/{releases/{40,41,42},updates/{40,41},updates/testing/{40,41},development/rawhide}/…
//   R/linux/fullfiletimelist-fedora, R/epel/{9,10}/…, R/epel/fullfiletimelist-epel
//   R/../history/<n>/<topdir>/<dir>/repodata   repodata as it was before push n
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { mapLimited } from '../core/concurrency.ts';
import { formatFullFileTimeList, type ListEntry } from '../master/listing.ts';
import { canonicalName } from '../master/names.ts';
import { runCreaterepo, writeRepodata } from './repodata.ts';

const run = promisify(execFile);

type RuleInput = { match: string; repo: string; arch: string; disabled?: boolean };

/** Fedora Linux repo rules, with MirrorManager's repository names (relative to the category top). */
export const FEDORA_LINUX_RULES: RuleInput[] = [
  { match: '^releases/(\\d+)/Everything/source/tree$', repo: 'fedora-source-$1', arch: 'source' },
  { match: '^releases/(\\d+)/Everything/([^/]+)/debug/tree$', repo: 'fedora-debug-$1', arch: '$2' },
  { match: '^releases/(\\d+)/Everything/([^/]+)/os$', repo: 'fedora-$1', arch: '$2' },
  { match: '^updates/testing/(\\d+)/Everything/source/tree$', repo: 'updates-testing-source-f$1', arch: 'source' },
  { match: '^updates/testing/(\\d+)/Everything/([^/]+)/debug$', repo: 'updates-testing-debug-f$1', arch: '$2' },
  { match: '^updates/testing/(\\d+)/Everything/([^/]+)$', repo: 'updates-testing-f$1', arch: '$2' },
  { match: '^updates/(\\d+)/Everything/source/tree$', repo: 'updates-released-source-f$1', arch: 'source' },
  { match: '^updates/(\\d+)/Everything/([^/]+)/debug$', repo: 'updates-released-debug-f$1', arch: '$2' },
  { match: '^updates/(\\d+)/Everything/([^/]+)$', repo: 'updates-released-f$1', arch: '$2' },
  { match: '^development/rawhide/Everything/source/tree$', repo: 'rawhide-source', arch: 'source' },
  { match: '^development/rawhide/Everything/([^/]+)/debug/tree$', repo: 'rawhide-debug', arch: '$1' },
  { match: '^development/rawhide/Everything/([^/]+)/os$', repo: 'rawhide', arch: '$1' },
];

/** EPEL repo rules (epel-9, epel-debug-9, epel-source-9 …). */
export const EPEL_RULES: RuleInput[] = [
  { match: '^(\\d+(?:\\.\\d+)?)/Everything/source/tree$', repo: 'epel-source-$1', arch: 'source' },
  { match: '^(\\d+(?:\\.\\d+)?)/Everything/([^/]+)/debug$', repo: 'epel-debug-$1', arch: '$2' },
  { match: '^(\\d+(?:\\.\\d+)?)/Everything/([^/]+)$', repo: 'epel-$1', arch: '$2' },
];

export const DEMO_EXCLUDES = ['.snapshot', '*.~tmp~', '.~tmp~'];

/** The categories entries of the demo config; `source.path` is the mirror root (relative to the config file). */
export function demoCategories(masterPath = 'master') {
  return [
    {
      name: 'Fedora Linux',
      topdir: 'linux',
      source: { type: 'local' as const, path: masterPath },
      fullfiletimelist: 'fullfiletimelist-fedora',
      excludes: [...DEMO_EXCLUDES],
      repoRules: FEDORA_LINUX_RULES.map((r) => ({ disabled: false, ...r })),
      keyRepos: ['updates-released-f41', 'fedora-41'],
    },
    {
      name: 'Fedora EPEL',
      topdir: 'epel',
      source: { type: 'local' as const, path: masterPath },
      fullfiletimelist: 'fullfiletimelist-epel',
      excludes: [...DEMO_EXCLUDES],
      repoRules: EPEL_RULES.map((r) => ({ disabled: false, ...r })),
      keyRepos: ['epel-9'],
    },
  ];
}

export const DEMO_CATEGORIES = demoCategories();

/** Repository aliases of the demo config (a client asking for `epel-9` still works after a rename). */
export const DEMO_ALIASES = [{ from: 'epel-next-9', to: 'epel-9' }];

export interface DemoTreeOptions {
  /** Released Fedora versions (default [40, 41]); the next one is added pre-bitflip (0750). */
  releases?: number[];
  arches?: string[];
  epel?: string[];
  /** 'auto' (default): createrepo_c + rpmbuild when installed; 'writer': always our own writer. */
  repodata?: 'auto' | 'writer';
}

export interface DemoTree {
  root: string;
  /** Repository directories, as `<topdir>/<dir>`. */
  repoDirs: string[];
  tool: 'createrepo_c' | 'writer';
  /** The pre-bitflip release directory (`linux/releases/N`). */
  preBitflip: string;
}

interface RepoSpec {
  topdir: string;
  dir: string;
  kind: 'binary' | 'source';
}

/** Writes the demo master tree below `root` (the mirror root), replacing what was there. */
export async function generateDemoMasterTree(root: string, opts: DemoTreeOptions = {}): Promise<DemoTree> {
  const releases = opts.releases ?? [40, 41];
  const arches = opts.arches ?? ['x86_64', 'aarch64'];
  const epel = opts.epel ?? ['9', '10'];
  const preBitflip = Math.max(...releases) + 1;
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });

  const repos: RepoSpec[] = [];
  const linux = (dir: string, kind: RepoSpec['kind'] = 'binary') => repos.push({ topdir: 'linux', dir, kind });
  for (const r of [...releases, preBitflip]) {
    for (const a of arches) linux(`releases/${r}/Everything/${a}/os`);
    if (r === preBitflip) continue;
    linux(`releases/${r}/Everything/${arches[0]}/debug/tree`);
    linux(`releases/${r}/Everything/source/tree`, 'source');
    for (const base of [`updates/${r}`, `updates/testing/${r}`]) {
      for (const a of arches) linux(`${base}/Everything/${a}`);
      linux(`${base}/Everything/${arches[0]}/debug`);
      linux(`${base}/Everything/source/tree`, 'source');
    }
  }
  for (const a of arches) linux(`development/rawhide/Everything/${a}/os`);
  linux(`development/rawhide/Everything/${arches[0]}/debug/tree`);
  linux('development/rawhide/Everything/source/tree', 'source');
  for (const v of epel) {
    for (const a of arches) repos.push({ topdir: 'epel', dir: `${v}/Everything/${a}`, kind: 'binary' });
    repos.push({ topdir: 'epel', dir: `${v}/Everything/${arches[0]}/debug`, kind: 'binary' });
    repos.push({ topdir: 'epel', dir: `${v}/Everything/source/tree`, kind: 'source' });
  }

  const tool = opts.repodata !== 'writer' && (await hasTool('createrepo_c')) && (await hasTool('rpmbuild')) ? 'createrepo_c' : 'writer';
  const rpms = tool === 'createrepo_c' ? await buildDemoRpms(path.join(path.dirname(path.resolve(root)), '.demo-rpmbuild')) : null;
  const settled = await mapLimited(repos, { concurrency: 2 }, async (spec) => {
    const repoDir = path.join(root, spec.topdir, spec.dir);
    fs.mkdirSync(repoDir, { recursive: true });
    if (rpms) {
      const src = spec.kind === 'source' ? rpms.source : rpms.binary;
      const dest = path.join(repoDir, 'Packages', 'm', path.basename(src));
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(src, dest);
      await runCreaterepo(repoDir, { revision: '1' });
    } else {
      writeRepodata(repoDir, [], { revision: '1' });
    }
  });
  const failed = settled.find((s) => !s.ok);
  if (failed && !failed.ok) throw new Error(`demo repodata: ${failed.error.message}`);

  // A directory of many files: the scan keeps only the newest few in its short list.
  const images = path.join(root, 'linux', 'releases', String(releases.at(-1)), 'Everything', arches[0]!, 'os', 'images');
  fs.mkdirSync(images, { recursive: true });
  for (let i = 0; i < 14; i++) fs.writeFileSync(path.join(images, `boot-${String(i).padStart(2, '0')}.img`), `image ${i}\n`.repeat(i + 1));

  // Images with checksum files: Fedora's signed BSD-style CHECKSUM and a GNU SHA256SUMS.
  for (const r of releases) {
    const iso = path.join(root, 'linux', 'releases', String(r), 'Workstation', arches[0]!, 'iso');
    fs.mkdirSync(iso, { recursive: true });
    const name = `Fedora-Workstation-Live-${arches[0]}-${r}-1.4.iso`;
    const data = createHash('sha512').update(`demo iso ${r}`).digest().toString('hex').repeat(256);
    fs.writeFileSync(path.join(iso, name), data);
    const sum = createHash('sha256').update(data).digest('hex');
    if (r === releases.at(-1)) {
      fs.writeFileSync(
        path.join(iso, `Fedora-Workstation-${r}-1.4-${arches[0]}-CHECKSUM`),
        `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n# ${name}: ${data.length} bytes\nSHA256 (${name}) = ${sum}\n-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCAAdFiEEdemo\n-----END PGP SIGNATURE-----\n`,
      );
    } else {
      fs.writeFileSync(path.join(iso, 'SHA256SUMS'), `${sum}  ${name}\n`);
    }
  }

  // Junk the config excludes: a filesystem snapshot dir and an rsync temp dir.
  fs.mkdirSync(path.join(root, 'linux', '.snapshot', 'hourly.0'), { recursive: true });
  fs.writeFileSync(path.join(root, 'linux', '.snapshot', 'hourly.0', 'stale'), 'x');
  fs.mkdirSync(path.join(root, 'epel', '9', '.~tmp~'), { recursive: true });

  // The next release is composed but not yet public: 0750 until the bitflip.
  const pre = path.join(root, 'linux', 'releases', String(preBitflip));
  fs.chmodSync(pre, 0o750);

  writeFullFileTimeList(path.join(root, 'linux'), 'fullfiletimelist-fedora', DEMO_EXCLUDES);
  writeFullFileTimeList(path.join(root, 'epel'), 'fullfiletimelist-epel', DEMO_EXCLUDES);
  return { root, repoDirs: repos.map((r) => `${r.topdir}/${r.dir}`), tool, preBitflip: `linux/releases/${preBitflip}` };
}

export interface DemoPush {
  /** Push number n: the previous repodata is in `historyDir`. */
  n: number;
  /** Repository directory from the mirror root, e.g. `linux/updates/41/Everything/x86_64`. */
  repoDir: string;
  /** `<root>/../history/<n>/<repoDir>/repodata`: the repodata before this push. */
  historyDir: string;
}

/**
 * A new push of one repository (default: the newest release's x86_64 updates): its
 * repodata is regenerated with a new revision, so repomd.xml's hashes change. The
 * repodata as it was before is kept in `<root>/../history/<n>/<repoDir>/repodata`,
 * n = 1, 2, … per push, so a simulated mirror can serve it as "stale by k pushes".
 * The category's fullfiletimelist is rewritten, as the master's cron would.
 */
export async function pushDemoUpdate(root: string, opts: { repoDir?: string } = {}): Promise<DemoPush> {
  const repoDir = opts.repoDir ?? defaultPushRepo(root);
  const abs = path.join(root, repoDir);
  if (!fs.existsSync(path.join(abs, 'repodata', 'repomd.xml'))) throw new Error(`pushDemoUpdate: ${repoDir} has no repodata/repomd.xml`);
  const historyRoot = path.join(path.dirname(path.resolve(root)), 'history');
  fs.mkdirSync(historyRoot, { recursive: true });
  const n = fs.readdirSync(historyRoot).filter((d) => /^\d+$/.test(d)).length + 1;
  const historyDir = path.join(historyRoot, String(n), repoDir, 'repodata');
  fs.mkdirSync(path.dirname(historyDir), { recursive: true });
  fs.cpSync(path.join(abs, 'repodata'), historyDir, { recursive: true, preserveTimestamps: true });
  // A revision that never repeats, so even a push in the same second changes repomd.xml.
  const revision = String(Date.now());
  const hasRpms = fs.existsSync(path.join(abs, 'Packages'));
  if (hasRpms && (await hasTool('createrepo_c'))) await runCreaterepo(abs, { revision });
  else writeRepodata(abs, [], { revision, timestamp: Math.floor(Date.now() / 1000) + n });
  const topdir = repoDir.split('/')[0]!;
  const listName = topdir === 'epel' ? 'fullfiletimelist-epel' : 'fullfiletimelist-fedora';
  if (fs.existsSync(path.join(root, topdir, listName))) writeFullFileTimeList(path.join(root, topdir), listName, DEMO_EXCLUDES);
  return { n, repoDir, historyDir };
}

function defaultPushRepo(root: string): string {
  const updates = path.join(root, 'linux', 'updates');
  const newest = fs
    .readdirSync(updates)
    .filter((d) => /^\d+$/.test(d))
    .sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error(`pushDemoUpdate: no release under ${updates}`);
  const arch = fs.readdirSync(path.join(updates, newest, 'Everything')).filter((a) => a !== 'source').sort().reverse()[0];
  return `linux/updates/${newest}/Everything/${arch}`;
}

/**
 * Writes a quick-fedora-mirror style fullfiletimelist at a category top: every
 * directory, file and symlink below it with its ctime, type and size (the list
 * itself and excluded names left out). Written to a temp name, then renamed.
 */
export function writeFullFileTimeList(top: string, name: string, excludes: readonly string[] = []): number {
  const entries: ListEntry[] = [];
  const skip = (n: Buffer) => excludes.some((e) => !e.includes('/') && globMatch(e, n.toString('latin1')));
  const walk = (abs: Buffer, rel: string) => {
    for (const d of fs.readdirSync(abs, { withFileTypes: true, encoding: 'buffer' })) {
      const nameBuf = d.name as unknown as Buffer;
      if (skip(nameBuf)) continue;
      const childRel = rel === '' ? canonicalName(nameBuf) : `${rel}/${canonicalName(nameBuf)}`;
      if (rel === '' && childRel === name) continue;
      const childAbs = Buffer.concat([abs, Buffer.from('/'), nameBuf]);
      const st = fs.lstatSync(childAbs);
      const time = Math.floor(st.ctimeMs / 1000);
      if (st.isDirectory()) {
        entries.push({ name: childRel, type: 'd', size: st.size, time });
        walk(childAbs, childRel);
      } else if (st.isFile()) entries.push({ name: childRel, type: 'f', size: st.size, time });
      else if (st.isSymbolicLink()) entries.push({ name: childRel, type: 'l', size: st.size, time });
    }
  };
  walk(Buffer.from(top), '');
  const tmp = path.join(top, `.${name}.tmp`);
  fs.writeFileSync(tmp, formatFullFileTimeList(entries));
  fs.renameSync(tmp, path.join(top, name));
  return entries.length;
}

function globMatch(glob: string, s: string): boolean {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(s);
}

async function hasTool(name: string): Promise<boolean> {
  try {
    await run('sh', ['-c', 'command -v "$1"', 'sh', name], { timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/** Builds the demo's real RPMs once (noarch binary + source) with rpmbuild; cached in `dir`. */
export async function buildDemoRpms(dir: string): Promise<{ binary: string; source: string }> {
  const binary = path.join(dir, 'RPMS', 'noarch', 'mirrorsmith-demo-1.0-1.noarch.rpm');
  const source = path.join(dir, 'SRPMS', 'mirrorsmith-demo-1.0-1.src.rpm');
  if (fs.existsSync(binary) && fs.existsSync(source)) return { binary, source };
  fs.mkdirSync(path.join(dir, 'SPECS'), { recursive: true });
  const spec = path.join(dir, 'SPECS', 'mirrorsmith-demo.spec');
  fs.writeFileSync(
    spec,
    [
      'Name: mirrorsmith-demo',
      'Version: 1.0',
      'Release: 1',
      'Summary: Package of the mirrorsmith demo master tree',
      'License: MIT',
      'BuildArch: noarch',
      '%description',
      'A tiny real package so the demo repositories have something to install.',
      '%install',
      'mkdir -p %{buildroot}/usr/share/mirrorsmith-demo',
      'echo "served by a mirrorsmith demo mirror" > %{buildroot}/usr/share/mirrorsmith-demo/README',
      '%files',
      '/usr/share/mirrorsmith-demo/README',
      '',
    ].join('\n'),
  );
  await run('rpmbuild', ['-ba', '--quiet', '--define', `_topdir ${path.resolve(dir)}`, spec], { timeout: 120_000 });
  return { binary, source };
}
