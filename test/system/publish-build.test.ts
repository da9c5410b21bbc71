// Publish with real builds of the fixture network on a real nginx: a running nginx
// answers from the generation it loaded (its maps with its own blob files, whose
// ids a later build reuses for other content) until it reloads, and the shrink guard counts hosts actually listed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Db } from '../../pipelines/core/db.ts';
import { currentGeneration, readManifest } from '../../pipelines/serve/generations.ts';
import { startNginx, type RunningNginx } from '../../pipelines/serve/nginx.ts';
import { run as build } from '../../pipelines/stages/build.ts';
import { run as publish } from '../../pipelines/stages/publish.ts';
import { freshDb } from '../helpers/db.ts';
import { get } from '../helpers/nginx.ts';
import { REQUIRE_SYSTEM, whichTool } from '../helpers/system.ts';
import { buildContext } from '../fixtures/build/context.ts';
import { loadFixture } from '../fixtures/build/registry.ts';

const CLIENTS = ['8.8.8.8', '192.0.2.7', '2001:db8:1::5', '203.0.113.9'];
const URLS = CLIENTS.flatMap((ip) => [`/mirrorlist?repo=fedora-41&arch=x86_64&ip=${ip}`, `/metalink?repo=updates-released-f41&arch=x86_64&ip=${ip}`]);

/** Status and the set of mirrors per request (the order is weighted-random per request). */
async function answers(base: string): Promise<string[]> {
  const out: string[] = [];
  for (const u of URLS) {
    const r = await get(base + u).catch(() => get(base + u)); // a reload closes idle keep-alive sockets
    const hosts = [...new Set([...r.body.matchAll(/(?:https?|ftp|rsync):\/\/([^/"<\s]+)/g)].map((m) => m[1]))].sort();
    out.push(`${r.status} ${hosts.join(' ')}`);
  }
  return out;
}

/** A generation's blob files, name → content. */
const blobFiles = (gen: string) => new Map(fs.readdirSync(path.join(gen, 'lists', 'o')).map((f) => [f, fs.readFileSync(path.join(gen, 'lists', 'o', f), 'utf8')]));

describe('publish of real builds', () => {
  let tmp = '';
  let db: Db;
  let nginx: RunningNginx | undefined;
  let skip = '';
  before(async () => {
    if (!whichTool('nginx')) {
      if (REQUIRE_SYSTEM) throw new Error('nginx is required (MIRRORSMITH_REQUIRE_SYSTEM=1)');
      skip = 'nginx not installed';
      return;
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-publish-build-'));
    fs.chmodSync(tmp, 0o755);
    db = (await freshDb(undefined, 'pglite')).db;
    await loadFixture(db);
  });
  after(async () => {
    await nginx?.stop();
    await db?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const ctx = (id: string, force = false) => {
    const c = buildContext(db, tmp, {}, id);
    return { ...c, run: { ...c.run, force } };
  };
  const stale = (where: string) =>
    db.query(`UPDATE host_category_dir SET up2date = false WHERE host_category_id IN (SELECT hc.id FROM host_category hc JOIN host h ON h.id = hc.host_id WHERE ${where})`);

  test('until nginx reloads it serves the generation it loaded, whole; after the reload the new one', async (t) => {
    if (skip) return t.skip(skip);
    await build(ctx('g1'));
    assert.equal((await publish(ctx('g1'))).stats?.generation, 'g1');
    nginx = await startNginx({ outDir: tmp });
    const g1 = await answers(nginx.url);
    for (const a of g1) assert.match(a, /^200 \S/);

    // The big US mirror goes stale: other blobs. Blob ids are ordinals (b0, b1, …), so g2
    // reuses g1's names for other content: g1's maps with g2's files would send wrong
    // lists (or 404s), which is why nginx must keep reading the generation it loaded.
    await stale(`h.name = 'mirror.us-big.example'`);
    await build(ctx('g2'));
    const [g1Blobs, g2Blobs] = [blobFiles(path.join(tmp, 'generations/g1')), blobFiles(path.join(tmp, 'generations/g2'))];
    const changed = [...g1Blobs].filter(([f, text]) => g2Blobs.get(f) !== text);
    assert.ok(changed.length > 0, "some of g1's blob files are missing or different in g2: g1's maps with g2's files would answer wrongly");
    assert.ok(changed.some(([f]) => g2Blobs.has(f)), 'g2 reuses a blob name of g1 for other content');
    assert.equal((await publish(ctx('g2'))).stats?.generation, 'g2');
    assert.equal(currentGeneration(tmp), 'g2');
    assert.deepEqual(await answers(nginx.url), g1, 'not reloaded yet: every answer is still g1’s');

    await nginx.reload();
    const g2 = await answers(nginx.url);
    for (const a of g2) assert.match(a, /^200 \S/);
    assert.notDeepEqual(g2, g1);
    assert.ok(g1.some((a) => a.includes('mirror.us-big.example')) && !g2.some((a) => a.includes('mirror.us-big.example')), 'the stale mirror left the lists');
  });

  test('shrink guard: every host stale → refused without --force, naming the counts; the old generation keeps serving', async (t) => {
    if (skip) return t.skip(skip);
    assert.ok(nginx, 'needs the previous test');
    const live = readManifest(path.join(tmp, 'generations/g2')).counts;
    assert.ok(live.listedHosts! >= 4 && live.servedRepositories! >= 3, JSON.stringify(live));
    const before = await answers(nginx.url);

    await stale('true');
    await build(ctx('g3'));
    const next = readManifest(path.join(tmp, 'generations/g3')).counts;
    // The snapshot still has every host and repository: only the listed counts drop.
    assert.equal(next.hosts, live.hosts);
    assert.deepEqual([next.listedHosts, next.servedRepositories], [0, 0]);
    await assert.rejects(publish(ctx('g3')), (err: Error) => {
      assert.match(err.message, /refusing to publish: generation g3 shrinks versus the live g2/);
      assert.ok(err.message.includes(`hosts listed: 0 < 50% of the live generation's ${live.listedHosts}`), err.message);
      assert.ok(err.message.includes(`repositories with a mirror: 0 < 50% of the live generation's ${live.servedRepositories}`), err.message);
      assert.match(err.message, /--force/);
      return true;
    });
    assert.equal(currentGeneration(tmp), 'g2');
    await nginx!.reload();
    assert.deepEqual(await answers(nginx!.url), before);

    const forced = await publish(ctx('g3', true));
    assert.equal(forced.stats?.generation, 'g3');
    assert.equal(forced.stats?.forced, true);
  });
});
