// A small writer of real yum repodata (repomd.xml + primary/filelists/other.xml.gz)
// for when createrepo_c is not installed, and the createrepo_c runner used when it
// is. The benchmark and the simulated mirror network reuse both.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

const run = promisify(execFile);

export interface PackageMeta {
  name: string;
  version: string;
  release: string;
  arch: string;
  /** Location below the repository directory, e.g. `Packages/h/hello-1.0-1.noarch.rpm`. */
  location: string;
  /** sha256 of the package file. */
  sha256: string;
  size: number;
  summary?: string;
  files?: string[];
}

export interface RepodataOptions {
  /** <revision> of repomd.xml (default: timestamp). */
  revision?: string;
  /** <timestamp> of every data entry, epoch seconds (default: now). */
  timestamp?: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Describes a file as a package entry (for trees whose "packages" are our own small files). */
export function packageMetaFor(file: string, location: string, nevra: { name: string; version: string; release: string; arch: string }): PackageMeta {
  const data = fs.readFileSync(file);
  return { ...nevra, location, sha256: sha256(data), size: data.length };
}

/** Writes `<repoDir>/repodata/` with our own writer; returns the repomd.xml bytes. */
export function writeRepodata(repoDir: string, packages: readonly PackageMeta[], opts: RepodataOptions = {}): Buffer {
  const ts = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const revision = opts.revision ?? String(ts);
  const ver = (p: PackageMeta) => `<version epoch="0" ver="${esc(p.version)}" rel="${esc(p.release)}"/>`;
  const primary =
    `<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="${packages.length}">\n` +
    packages
      .map(
        (p) =>
          `<package type="rpm">\n  <name>${esc(p.name)}</name>\n  <arch>${esc(p.arch)}</arch>\n  ${ver(p)}\n  <checksum type="sha256" pkgid="YES">${p.sha256}</checksum>\n` +
          `  <summary>${esc(p.summary ?? p.name)}</summary>\n  <description>${esc(p.summary ?? p.name)}</description>\n  <packager></packager>\n  <url></url>\n` +
          `  <time file="${ts}" build="${ts}"/>\n  <size package="${p.size}" installed="${p.size}" archive="${p.size}"/>\n  <location href="${esc(p.location)}"/>\n` +
          `  <format>\n    <rpm:license>MIT</rpm:license>\n    <rpm:vendor></rpm:vendor>\n    <rpm:group>Unspecified</rpm:group>\n    <rpm:buildhost>localhost</rpm:buildhost>\n` +
          `    <rpm:sourcerpm>${esc(`${p.name}-${p.version}-${p.release}.src.rpm`)}</rpm:sourcerpm>\n    <rpm:header-range start="0" end="0"/>\n` +
          `    <rpm:provides>\n      <rpm:entry name="${esc(p.name)}" flags="EQ" epoch="0" ver="${esc(p.version)}" rel="${esc(p.release)}"/>\n    </rpm:provides>\n  </format>\n</package>\n`,
      )
      .join('') +
    '</metadata>\n';
  const filelists =
    `<?xml version="1.0" encoding="UTF-8"?>\n<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="${packages.length}">\n` +
    packages
      .map((p) => `<package pkgid="${p.sha256}" name="${esc(p.name)}" arch="${esc(p.arch)}">\n  ${ver(p)}\n${(p.files ?? []).map((f) => `  <file>${esc(f)}</file>\n`).join('')}</package>\n`)
      .join('') +
    '</filelists>\n';
  const other =
    `<?xml version="1.0" encoding="UTF-8"?>\n<otherdata xmlns="http://linux.duke.edu/metadata/other" packages="${packages.length}">\n` +
    packages.map((p) => `<package pkgid="${p.sha256}" name="${esc(p.name)}" arch="${esc(p.arch)}">\n  ${ver(p)}\n</package>\n`).join('') +
    '</otherdata>\n';

  const repodata = path.join(repoDir, 'repodata');
  fs.rmSync(repodata, { recursive: true, force: true });
  fs.mkdirSync(repodata, { recursive: true });
  const entries = (
    [
      ['primary', primary],
      ['filelists', filelists],
      ['other', other],
    ] as const
  ).map(([type, xml]) => {
    const open = Buffer.from(xml);
    const gz = gzipSync(open, { level: 9 });
    const name = `${sha256(gz)}-${type}.xml.gz`;
    fs.writeFileSync(path.join(repodata, name), gz);
    return (
      `  <data type="${type}">\n    <checksum type="sha256">${sha256(gz)}</checksum>\n    <open-checksum type="sha256">${sha256(open)}</open-checksum>\n` +
      `    <location href="repodata/${name}"/>\n    <timestamp>${ts}</timestamp>\n    <size>${gz.length}</size>\n    <open-size>${open.length}</open-size>\n  </data>\n`
    );
  });
  const repomd = Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?>\n<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">\n  <revision>${esc(revision)}</revision>\n${entries.join('')}</repomd>\n`,
  );
  // repomd.xml last and by rename, as a real compose does: a reader never sees it half-written.
  fs.writeFileSync(path.join(repodata, '.repomd.xml.tmp'), repomd);
  fs.renameSync(path.join(repodata, '.repomd.xml.tmp'), path.join(repodata, 'repomd.xml'));
  return repomd;
}

/** Runs createrepo_c on a directory of RPMs (the real tool; a timeout guards it). */
export async function runCreaterepo(repoDir: string, opts: RepodataOptions & { createrepo?: string } = {}): Promise<void> {
  const args = ['--quiet', '--no-database', '--workers', '1'];
  if (opts.revision) args.push('--revision', opts.revision);
  await run(opts.createrepo ?? 'createrepo_c', [...args, repoDir], { timeout: 60_000 });
}
