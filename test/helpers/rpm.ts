// Real rpm repositories for client tests: tiny noarch packages built with
// rpmbuild (Debian's `rpm` package) and repodata made by createrepo_c.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PackageSpec {
  name: string;
  version: string;
  release?: string;
  summary?: string;
}

/** Builds <name>-<version>-<release>.noarch.rpm into outDir; returns its path. */
export async function buildNoarchRpm(workDir: string, outDir: string, p: PackageSpec): Promise<string> {
  if (!/^[a-z][a-z0-9-]*$/.test(p.name) || !/^[0-9.]+$/.test(p.version)) throw new Error(`bad package spec ${JSON.stringify(p)}`);
  const release = p.release ?? '1';
  const top = path.join(workDir, `rpmbuild-${p.name}-${p.version}-${release}`);
  fs.mkdirSync(top, { recursive: true });
  const spec = path.join(top, `${p.name}.spec`);
  fs.writeFileSync(
    spec,
    [
      `Name: ${p.name}`,
      `Version: ${p.version}`,
      `Release: ${release}`,
      `Summary: ${p.summary ?? `mirrorsmith test package ${p.name}`}`,
      'License: MIT',
      'BuildArch: noarch',
      '%description',
      'A package for mirrorsmith client tests.',
      '%install',
      `mkdir -p %{buildroot}/usr/share/${p.name}`,
      `echo ${p.version} > %{buildroot}/usr/share/${p.name}/version.txt`,
      '%files',
      `/usr/share/${p.name}/version.txt`,
      '',
    ].join('\n'),
  );
  await run('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${top}`, '--define', '_build_id_links none', spec], { timeout: 60_000 });
  const file = `${p.name}-${p.version}-${release}.noarch.rpm`;
  fs.mkdirSync(outDir, { recursive: true });
  fs.copyFileSync(path.join(top, 'RPMS', 'noarch', file), path.join(outDir, file));
  return path.join(outDir, file);
}

export interface RepoInfo {
  dir: string;
  repomd: string;
  sha256: string;
  sha512: string;
  size: number;
}

/** createrepo_c over dir (the packages already copied in); returns repomd.xml facts. */
export async function createRepo(dir: string): Promise<RepoInfo> {
  await run('createrepo_c', ['--quiet', '--no-database', dir], { timeout: 60_000 });
  const repomd = path.join(dir, 'repodata', 'repomd.xml');
  const data = fs.readFileSync(repomd);
  const hex = (alg: string) => crypto.createHash(alg).update(data).digest('hex');
  return { dir, repomd, sha256: hex('sha256'), sha512: hex('sha512'), size: data.length };
}

/** Copies a tree (packages + repodata) the way a mirror's rsync would. */
export function copyTree(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true, preserveTimestamps: true });
}

export interface DnfResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * dnf in an empty installroot with only our .repo file: `makecache` then
 * `repoquery`. Debian's dnf 4.14 with librepo does the metalink handling.
 */
export async function dnfRepoquery(workDir: string, repo: { id: string; metalink?: string; mirrorlist?: string; baseurl?: string }, query: string[] = ['--available']): Promise<DnfResult> {
  const root = path.join(workDir, 'installroot');
  const reposdir = path.join(workDir, 'repos.d');
  fs.mkdirSync(root, { recursive: true });
  fs.mkdirSync(reposdir, { recursive: true });
  const lines = [`[${repo.id}]`, `name=${repo.id}`, 'enabled=1', 'gpgcheck=0', 'repo_gpgcheck=0', 'skip_if_unavailable=False', 'metadata_expire=0'];
  if (repo.metalink) lines.push(`metalink=${repo.metalink}`);
  if (repo.mirrorlist) lines.push(`mirrorlist=${repo.mirrorlist}`);
  if (repo.baseurl) lines.push(`baseurl=${repo.baseurl}`);
  fs.writeFileSync(path.join(reposdir, `${repo.id}.repo`), lines.join('\n') + '\n');
  const common = [
    '-y',
    `--installroot=${root}`,
    `--setopt=reposdir=${reposdir}`,
    '--setopt=install_weak_deps=False',
    '--setopt=timeout=10',
    '--setopt=retries=1',
    '--setopt=fastestmirror=False',
    '--disableplugin=*',
    '--releasever=41',
    '--forcearch=x86_64',
    `--repo=${repo.id}`,
  ];
  try {
    const mk = await run('dnf', [...common, '-v', 'makecache'], { timeout: 120_000, maxBuffer: 32 << 20 });
    const q = await run('dnf', [...common, '-C', 'repoquery', '--qf', '%{name}-%{version}-%{release}', ...query], { timeout: 120_000, maxBuffer: 32 << 20 });
    return { code: 0, stdout: q.stdout, stderr: mk.stdout + mk.stderr + q.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: (e.stderr ?? '') + '\n' + e.message };
  }
}

/** dnf's and librepo's logs (under the installroot's /var/log). */
export function librepoLog(workDir: string): string {
  const dir = path.join(workDir, 'installroot', 'var', 'log');
  if (!fs.existsSync(dir)) return '';
  return fs
    .readdirSync(dir)
    .filter((f) => /librepo|dnf/.test(f))
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
    .join('\n');
}
