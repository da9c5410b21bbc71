// The real client: Debian's dnf 4.14 (librepo) with an unchanged Fedora-style
// .repo file whose metalink= points at our nginx. The first mirror of the list
// serves a stale repomd.xml; librepo must reject it by the metalink's sha256 and
// take the next mirror — which proves the hashes we publish are right.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseConfig } from '../../pipelines/core/config.ts';
import { syncConfigTables } from '../../pipelines/core/context.ts';
import type { Db } from '../../pipelines/core/db.ts';
import { memoryLogger } from '../../pipelines/core/log.ts';
import type { StageContext } from '../../pipelines/core/types.ts';
import { startNginx, type RunningNginx } from '../../pipelines/serve/nginx.ts';
import { run as build } from '../../pipelines/stages/build.ts';
import { run as publish } from '../../pipelines/stages/publish.ts';
import { run as scanMaster } from '../../pipelines/stages/scan-master.ts';
import { freshDb } from '../helpers/db.ts';
import { get, tempDir } from '../helpers/nginx.ts';
import { dnfRepoquery } from '../helpers/rpm.ts';
import { requireTool } from '../helpers/system.ts';
import { buildRpmWorld, REPO_DIR, type RpmWorld } from '../fixtures/rpm/world.ts';

const CLIENT_IP = '198.51.100.7'; // inside the stale mirror's netblock: it comes first

async function addHost(db: Db, h: { name: string; country: string; url: string; netblocks?: string[] }): Promise<void> {
  await db.transaction(async (q) => {
    const site = await q.query<{ id: number }>('INSERT INTO site (name) VALUES ($1) RETURNING id', [`site-${h.name}`]);
    const host = await q.query<{ id: number }>(
      'INSERT INTO host (site_id, name, country, bandwidth_int, reachable_ipv4, reachable_ipv6) VALUES ($1, $2, $3, 1000, true, true) RETURNING id',
      [site.rows[0]!.id, h.name, h.country],
    );
    const hostId = host.rows[0]!.id;
    for (const nb of h.netblocks ?? []) await q.query(`INSERT INTO host_netblock (host_id, netblock, kind) VALUES ($1, $2, 'cidr')`, [hostId, nb]);
    const hc = await q.query<{ id: number }>(`INSERT INTO host_category (host_id, category_id) SELECT $1, id FROM category WHERE name = 'Fedora Linux' RETURNING id`, [hostId]);
    await q.query('INSERT INTO host_category_url (host_category_id, url) VALUES ($1, $2)', [hc.rows[0]!.id, h.url]);
    // The crawl found both current; the stale one has regressed since (a botched
    // rsync): exactly the window the metalink hashes protect clients in.
    await q.query('INSERT INTO host_category_dir (host_category_id, directory_id, up2date) SELECT $1, id, true FROM directory', [hc.rows[0]!.id]);
  });
}

interface Served {
  world: RpmWorld;
  mirrors: RunningNginx;
  server: RunningNginx;
  work: string;
}

/**
 * scan-master over a real master tree → two mirrors (stale, fresh) → build →
 * publish → our nginx. With `scanOlderPush` scan-master also saw the older push,
 * so its repomd.xml is in the file-detail history (metalink mm0:alternates).
 */
async function serveWorld(t: TestContext, opts: { scanOlderPush: boolean }): Promise<Served | null> {
  for (const tool of [['nginx', 'nginx-light'], ['dnf', 'dnf'], ['rpmbuild', 'rpm'], ['createrepo_c', 'createrepo-c']] as const) {
    if (!requireTool(t, tool[0], tool[1])) return null;
  }
  const work = tempDir(t, 'mirrorsmith-dnf-');
  const out = path.join(work, 'out');
  const config = parseConfig(
    {
      output: { dir: out },
      categories: [
        {
          name: 'Fedora Linux',
          topdir: 'linux',
          source: { type: 'local', path: path.join(work, 'master') },
          repoRules: [{ match: '^releases/(\\d+)/Everything/([^/]+)/os$', repo: 'fedora-$1', arch: '$2' }],
        },
      ],
    },
    '',
    {},
  );
  const { db } = await freshDb(t, 'pglite');
  await db.transaction((tx) => syncConfigTables(tx, config));
  const ctx = (stage: string): StageContext => ({
    db,
    config,
    log: memoryLogger('info').child({ stage }),
    signal: AbortSignal.timeout(120_000),
    run: { id: 1, startedAt: new Date('2026-11-23T19:00:00Z'), generationId: '20261123T190000Z-1', force: false, dryRun: false },
    options: {},
    progress: () => ({ tick() {}, done() {} }),
  });
  const scan = async () => {
    const scanned = await scanMaster(ctx('scan-master'));
    assert.equal(scanned.counts.failed, 0, JSON.stringify(scanned.failures));
  };
  const world = await buildRpmWorld(work, opts.scanOlderPush ? scan : undefined);
  await scan();
  const mirrors = await startNginx({ outDir: work, root: world.mirrors });
  t.after(() => mirrors.stop());
  await addHost(db, { name: 'stale.mirror.test', country: 'US', url: `${mirrors.url}/stale/pub/linux`, netblocks: ['198.51.100.0/24'] });
  await addHost(db, { name: 'fresh.mirror.test', country: 'US', url: `${mirrors.url}/fresh/pub/linux` });

  await build(ctx('build'));
  const published = await publish(ctx('publish'));
  assert.equal(published.stats?.generation, '20261123T190000Z-1');
  const server = await startNginx({ outDir: out });
  t.after(() => server.stop());
  return { world, mirrors, server, work };
}

const METALINK = `/metalink?repo=fedora-$releasever&arch=$basearch&ip=${CLIENT_IP}`;

function repomdHits(mirrors: RunningNginx): string[] {
  const access = fs.readFileSync(path.join(mirrors.prefixDir, 'logs', 'access.log'), 'utf8');
  return [...access.matchAll(/"GET (\/\w+)\/pub\/linux\/[^ ]*repomd\.xml HTTP/g)].map((m) => m[1]!);
}

test('dnf rejects a stale mirror by the metalink hash and uses the next one', { timeout: 300_000 }, async (t) => {
  const served = await serveWorld(t, { scanOlderPush: false });
  if (!served) return;
  const { world, mirrors, server, work } = served;
  // The .repo file's metalink= as in Fedora's, with dnf substituting the variables.
  const metalinkUrl = `${server.url}${METALINK}`;

  // Our metalink lists the stale mirror first for this client, with the master's hashes.
  const ml = await get(metalinkUrl.replace('$releasever', '41').replace('$basearch', 'x86_64'));
  assert.equal(ml.status, 200, ml.body);
  assert.match(ml.body, new RegExp(`<hash type="sha256">${world.current.sha256}</hash>`));
  assert.match(ml.body, new RegExp(`<hash type="sha512">${world.current.sha512}</hash>`));
  assert.match(ml.body, new RegExp(`<size>${world.current.size}</size>`));
  const urls = [...ml.body.matchAll(/<url [^>]*>([^<]+)<\/url>/g)].map((m) => m[1]);
  assert.deepEqual(urls, [`${mirrors.url}/stale/pub/linux/${REPO_DIR}/repodata/repomd.xml`, `${mirrors.url}/fresh/pub/linux/${REPO_DIR}/repodata/repomd.xml`]);

  const dnfDir = path.join(work, 'dnf-metalink');
  const res = await dnfRepoquery(dnfDir, { id: 'fedora', metalink: metalinkUrl });
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(res.stdout.trim().split('\n').sort(), ['mstest-1.0-1', 'mstest-2.0-1'], 'the current metadata (with 2.0) was used');
  // librepo checks the strongest hash the metalink offers: sha512.
  assert.match(res.stderr, new RegExp(`checksum doesn't match\\. Calculated: ${world.stale.sha512}\\(sha512\\)\\s+Expected: ${world.current.sha512}\\(sha512\\)\\s+\\(${mirrors.url}/stale/`));
  assert.deepEqual(repomdHits(mirrors).slice(0, 2), ['/stale', '/fresh'], 'librepo tried the stale mirror first, then the next');

  // Control: without hashes (mirrorlist=), the same client trusts the stale mirror.
  const plain = await dnfRepoquery(path.join(work, 'dnf-mirrorlist'), { id: 'fedora', mirrorlist: `${server.url}/mirrorlist?repo=fedora-$releasever&arch=$basearch&ip=${CLIENT_IP}` });
  assert.equal(plain.code, 0, plain.stderr);
  assert.deepEqual(plain.stdout.trim().split('\n'), ['mstest-1.0-1'], 'mirrorlist gives no protection: stale metadata was used');
});

test('a mirror one push behind is accepted through mm0:alternates', { timeout: 300_000 }, async (t) => {
  const served = await serveWorld(t, { scanOlderPush: true });
  if (!served) return;
  const { world, mirrors, server, work } = served;
  // The older push is still within fileDetailRetentionDays: it is an alternate.
  const ml = await get(`${server.url}/metalink?repo=fedora-41&arch=x86_64&ip=${CLIENT_IP}`);
  assert.match(ml.body, new RegExp(`<hash type="sha512">${world.current.sha512}</hash>[\\s\\S]*<mm0:alternates>[\\s\\S]*<hash type="sha512">${world.stale.sha512}</hash>[\\s\\S]*</mm0:alternates>`));
  const res = await dnfRepoquery(path.join(work, 'dnf-alt'), { id: 'fedora', metalink: `${server.url}${METALINK}` });
  assert.equal(res.code, 0, res.stderr);
  assert.doesNotMatch(res.stderr, /checksum doesn't match/);
  assert.deepEqual(repomdHits(mirrors), ['/stale'], 'the first mirror was good enough');
  assert.deepEqual(res.stdout.trim().split('\n'), ['mstest-1.0-1'], 'its (older, consistent) metadata was used');
});
