// A miniature mirror network for the probe/report/ingest tests: one category with
// two repositories (one of them pushed twice, so it has an alternate hash), a
// private site with two private hosts, a public host, and mirror trees on disk.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../../pipelines/core/config.ts';
import type { Queryable } from '../../pipelines/core/db.ts';
import { memoryLogger } from '../../pipelines/core/log.ts';
import { makeProgressFactory } from '../../pipelines/core/progress.ts';
import type { StageContext } from '../../pipelines/core/types.ts';

export const CATEGORY = 'Fedora Linux';
export const OS = 'releases/41/Everything/x86_64/os';
export const UPD = 'updates/41/Everything/x86_64';
export const DIRS = ['', 'releases', 'releases/41', 'releases/41/Everything', 'releases/41/Everything/x86_64', OS, `${OS}/repodata`, 'updates', 'updates/41', 'updates/41/Everything', UPD, `${UPD}/repodata`];

/** A repomd.xml as createrepo_c writes it (one data entry is enough for hashing). */
export function repomd(revision: number): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>${revision}</revision>
  <data type="primary">
    <checksum type="sha256">${sha256(`primary-${revision}`)}</checksum>
    <open-checksum type="sha256">${sha256(`primary-open-${revision}`)}</open-checksum>
    <location href="repodata/${sha256(`primary-${revision}`)}-primary.xml.gz"/>
    <timestamp>${revision}</timestamp>
    <size>1234</size>
    <open-size>5678</open-size>
  </data>
</repomd>
`;
}

export const REPOMD = { os: repomd(1731000000), updOld: repomd(1731500000), updNew: repomd(1732000000), never: repomd(1600000000) };

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export interface Seeded {
  categoryId: number;
  dirIds: Map<string, number>;
  hosts: Record<'priv1' | 'priv2' | 'pub1', { id: number; name: string; hostCategoryId: number }>;
}

/** Master list + registry rows; the `updates` repository was pushed twice (old hash is an alternate). */
export async function seedNetwork(db: Queryable): Promise<Seeded> {
  const cat = await db.query<{ id: number }>(`INSERT INTO category (name, topdir) VALUES ($1, 'linux') RETURNING id`, [CATEGORY]);
  const categoryId = cat.rows[0]!.id;
  const dirIds = new Map<string, number>();
  for (const d of DIRS) {
    const r = await db.query<{ id: number }>('INSERT INTO directory (category_id, name) VALUES ($1, $2) RETURNING id', [categoryId, d]);
    dirIds.set(d, r.rows[0]!.id);
  }
  await db.query(`INSERT INTO repository (prefix, arch, category_id, directory_id) VALUES ('fedora-41', 'x86_64', $1, $2), ('updates-released-f41', 'x86_64', $1, $3)`, [
    categoryId,
    dirIds.get(OS),
    dirIds.get(UPD),
  ]);
  const detail = (dir: string, text: string, age: string) =>
    db.query(`INSERT INTO file_detail (directory_id, filename, size, sha256, created_at) VALUES ($1, 'repomd.xml', $2, $3, now() - $4::interval)`, [dirIds.get(`${dir}/repodata`), text.length, sha256(text), age]);
  await detail(OS, REPOMD.os, '2 days');
  await detail(UPD, REPOMD.updOld, '1 day');
  await detail(UPD, REPOMD.updNew, '1 hour');

  const site = async (name: string) => (await db.query<{ id: number }>('INSERT INTO site (name) VALUES ($1) RETURNING id', [name])).rows[0]!.id;
  const lab = await site('lab');
  const pubSite = await site('pubsite');
  const host = async (siteId: number, name: string, priv: boolean) => {
    const h = (await db.query<{ id: number }>('INSERT INTO host (site_id, name, private, country) VALUES ($1, $2, $3, $4) RETURNING id', [siteId, name, priv, 'DE'])).rows[0]!.id;
    const hc = (await db.query<{ id: number }>('INSERT INTO host_category (host_id, category_id) VALUES ($1, $2) RETURNING id', [h, categoryId])).rows[0]!.id;
    return { id: h, name, hostCategoryId: hc };
  };
  const hosts = {
    priv1: await host(lab, 'priv1.example.org', true),
    priv2: await host(lab, 'priv2.example.org', true),
    pub1: await host(pubSite, 'pub1.example.org', false),
  };
  return { categoryId, dirIds, hosts };
}

/** A mirror's local copy; `updates` at the old or new push, plus any extra directories. */
export function makeMirrorTree(root: string, opts: { updates: 'old' | 'new'; extraDirs?: string[] }): void {
  for (const d of DIRS) fs.mkdirSync(path.join(root, d), { recursive: true });
  for (const d of opts.extraDirs ?? []) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.writeFileSync(path.join(root, OS, 'repodata', 'repomd.xml'), REPOMD.os);
  fs.writeFileSync(path.join(root, UPD, 'repodata', 'repomd.xml'), opts.updates === 'old' ? REPOMD.updOld : REPOMD.updNew);
  // Files are not reported, only directories and repomd.xml hashes.
  fs.writeFileSync(path.join(root, OS, 'fedora-41.iso.sha256'), 'x');
  // rsync's partial-transfer directory is never reported.
  fs.mkdirSync(path.join(root, 'updates', '.~tmp~'), { recursive: true });
}

export function stageContext(db: StageContext['db'], raw: unknown, over: Partial<StageContext> = {}): StageContext & { log: ReturnType<typeof memoryLogger> } {
  return {
    db,
    config: parseConfig(raw, ''),
    log: memoryLogger('debug'),
    signal: new AbortController().signal,
    run: { id: null, startedAt: new Date(), generationId: 'test', force: false, dryRun: false },
    options: {},
    progress: makeProgressFactory(false),
    ...over,
  } as StageContext & { log: ReturnType<typeof memoryLogger> };
}
