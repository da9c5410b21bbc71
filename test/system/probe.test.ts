// The probe stage against small loopback HTTP servers: hysteresis persisted in the
// host table across runs, a hung server costing only its timeout, re-enabling an
// auto-disabled host but never an admin-disabled one, and the outage guard.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { it } from 'node:test';
import type { Db } from '../../pipelines/core/db.ts';
import { freePort } from '../../pipelines/serve/nginx.ts';
import { run as probe } from '../../pipelines/stages/probe.ts';
import { describeBackends, freshDb } from '../helpers/db.ts';
import { OS, REPOMD, seedNetwork, stageContext } from '../helpers/report-fixture.ts';

const PROBED = `/pub/linux/${OS}/repodata/repomd.xml`;

interface Server {
  port: number;
  paths: string[];
  close(): Promise<void>;
}

/** A mirror answering `status` for the probed file (404 elsewhere), or never answering at all. */
async function mirrorServer(t: TestContext, behaviour: 'ok' | 'error' | 'hang' | 'portal', port = 0): Promise<Server> {
  const paths: string[] = [];
  const srv = http.createServer((req, res) => {
    paths.push(req.url ?? '');
    if (behaviour === 'hang') return; // holds the socket until the probe gives up
    if (behaviour === 'error') return res.writeHead(500).end('broken\n');
    if (behaviour === 'portal') return res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html><body>Down for maintenance</body></html>\n');
    if (req.url !== PROBED) return res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': 'application/xml' }).end(REPOMD.os);
  });
  await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', resolve));
  const close = () =>
    new Promise<void>((resolve) => {
      srv.closeAllConnections();
      srv.close(() => resolve());
    });
  t.after(close);
  return { port: (srv.address() as AddressInfo).port, paths, close };
}

async function addHost(db: Db, name: string, port: number, extra: { admin_active?: boolean; auto_disabled?: boolean } = {}): Promise<void> {
  const site = await db.query<{ id: number }>(`SELECT id FROM site WHERE name = 'pubsite'`);
  const cat = await db.query<{ id: number }>(`SELECT id FROM category WHERE name = 'Fedora Linux'`);
  const h = await db.query<{ id: number }>(
    `INSERT INTO host (site_id, name, admin_active, auto_disabled, disable_reason, crawl_failures)
     VALUES ($1, $2, $3, $4, CASE WHEN $4 THEN 'crawl failed 4 times in a row' END, CASE WHEN $4 THEN 4 ELSE 0 END) RETURNING id`,
    [site.rows[0]!.id, name, extra.admin_active ?? true, extra.auto_disabled ?? false],
  );
  const hc = await db.query<{ id: number }>('INSERT INTO host_category (host_id, category_id) VALUES ($1, $2) RETURNING id', [h.rows[0]!.id, cat.rows[0]!.id]);
  // An rsync URL first: the probe must pick the http one.
  await db.query('INSERT INTO host_category_url (host_category_id, url) VALUES ($1, $2), ($1, $3)', [hc.rows[0]!.id, `rsync://127.0.0.1/${name}/linux/`, `http://127.0.0.1:${port}/pub/linux/`]);
}

type Row = { name: string; probe_down: boolean; probe_fail_streak: number; probe_ok_streak: number; auto_disabled: boolean; admin_active: boolean; disable_reason: string | null; last_probed: Date | null; crawl_failures: number };

async function hosts(db: Db): Promise<Map<string, Row>> {
  const r = await db.query<Row>('SELECT name, probe_down, probe_fail_streak, probe_ok_streak, auto_disabled, admin_active, disable_reason, last_probed, crawl_failures FROM host');
  return new Map(r.rows.map((h) => [h.name, h]));
}

const CONFIG = { probe: { failuresToDown: 2, successesToUp: 2, timeoutMs: 1500, concurrency: 8, outageMinHosts: 10 } };

describeBackends('probe stage', (backend) => {
  it('hysteresis over runs: down after 2 failures, back after 2 successes; hung server bounded', async (t) => {
    const { db } = await freshDb(t, backend);
    await seedNetwork(db);
    const good = await mirrorServer(t, 'ok');
    const broken = await mirrorServer(t, 'error');
    const hung = await mirrorServer(t, 'hang');
    const portal = await mirrorServer(t, 'portal');
    const deadPort = await freePort();
    const revived = await mirrorServer(t, 'ok');
    await addHost(db, 'good.example.org', good.port);
    await addHost(db, 'broken.example.org', broken.port);
    await addHost(db, 'hung.example.org', hung.port);
    await addHost(db, 'portal.example.org', portal.port);
    await addHost(db, 'dead.example.org', deadPort);
    await addHost(db, 'auto.example.org', revived.port, { auto_disabled: true });
    await addHost(db, 'admin-off.example.org', revived.port, { admin_active: false });

    const t0 = Date.now();
    const r1 = await probe(stageContext(db, CONFIG));
    assert.ok(Date.now() - t0 < 10_000, 'the hung server costs its timeout, not the run');
    // pub1 from the fixture has no http URL: skipped, not probed; admin-off never listed.
    assert.deepEqual(r1.counts, { ok: 2, failed: 4, skipped: 1 });
    const kinds = new Map(r1.failures.map((f) => [f.subject, f]));
    assert.equal(kinds.get('hung.example.org')!.kind, 'timeout');
    assert.equal(kinds.get('dead.example.org')!.kind, 'refused');
    assert.match(kinds.get('broken.example.org')!.message, /HTTP 500/);
    assert.equal(kinds.get('portal.example.org')!.kind, 'parse');
    assert.match(kinds.get('portal.example.org')!.message, /not a repomd.xml/);
    assert.deepEqual(good.paths, [PROBED], 'one request, for the first repository\'s repomd.xml');

    let h = await hosts(db);
    assert.equal(h.get('dead.example.org')!.probe_down, false, 'one failure is not enough');
    assert.equal(h.get('dead.example.org')!.probe_fail_streak, 1);
    assert.equal(h.get('auto.example.org')!.auto_disabled, false, 'auto-disabled host answering again is re-enabled');
    assert.equal(h.get('auto.example.org')!.disable_reason, null);
    assert.equal(h.get('auto.example.org')!.crawl_failures, 0);
    assert.equal(h.get('admin-off.example.org')!.last_probed, null, 'admin-disabled hosts are not probed');
    assert.equal(h.get('admin-off.example.org')!.admin_active, false);

    const r2 = await probe(stageContext(db, CONFIG));
    assert.equal(r2.stats!.wentDown, 4);
    h = await hosts(db);
    for (const n of ['dead.example.org', 'broken.example.org', 'hung.example.org']) assert.equal(h.get(n)!.probe_down, true, n);
    assert.equal(h.get('good.example.org')!.probe_down, false);
    assert.equal(h.get('good.example.org')!.probe_ok_streak, 2);

    // The dead mirror comes back: still out after one success, back after two.
    await mirrorServer(t, 'ok', deadPort);
    await probe(stageContext(db, CONFIG));
    h = await hosts(db);
    assert.equal(h.get('dead.example.org')!.probe_down, true);
    assert.equal(h.get('dead.example.org')!.probe_ok_streak, 1);
    const r4 = await probe(stageContext(db, CONFIG));
    assert.equal(r4.stats!.cameBack, 1);
    h = await hosts(db);
    assert.equal(h.get('dead.example.org')!.probe_down, false);
    assert.equal(h.get('broken.example.org')!.probe_down, true);
    assert.equal(good.paths.length, 4);

    // broken drops its http URL (rsync only now): it is probed over rsync, which finds no such module, so it stays out.
    await db.query(`DELETE FROM host_category_url u USING host_category hc, host h WHERE u.host_category_id = hc.id AND hc.host_id = h.id AND h.name = 'broken.example.org' AND u.url LIKE 'http:%'`);
    const r5 = await probe(stageContext(db, CONFIG, { options: { host: 'broken.example.org' } }));
    assert.equal(r5.stats!.rsync, 1);
    assert.match(r5.failures[0]!.message, /rsync:\/\/127\.0\.0\.1\/broken\.example\.org\/linux\/.*repomd\.xml/);
    h = await hosts(db);
    assert.equal(h.get('broken.example.org')!.probe_down, true);
    assert.equal(h.get('broken.example.org')!.probe_fail_streak, 5);
    // No URL left at all: it cannot be probed, so it is not kept out.
    await db.query(`DELETE FROM host_category_url u USING host_category hc, host h WHERE u.host_category_id = hc.id AND hc.host_id = h.id AND h.name = 'broken.example.org'`);
    await probe(stageContext(db, CONFIG));
    h = await hosts(db);
    assert.equal(h.get('broken.example.org')!.probe_down, false);
    assert.equal(h.get('broken.example.org')!.probe_fail_streak, 0);
  });

  it('--host probes one host; --dry-run writes nothing', async (t) => {
    const { db } = await freshDb(t, backend);
    await seedNetwork(db);
    const good = await mirrorServer(t, 'ok');
    await addHost(db, 'good.example.org', good.port);
    await addHost(db, 'other.example.org', await freePort());
    const one = await probe(stageContext(db, CONFIG, { options: { host: 'good.example.org' } }));
    assert.deepEqual(one.counts, { ok: 1, failed: 0, skipped: 0 });
    const ctx = stageContext(db, CONFIG);
    const dry = await probe({ ...ctx, run: { ...ctx.run, dryRun: true } });
    assert.equal(dry.counts.failed, 1);
    const h = await hosts(db);
    assert.equal(h.get('other.example.org')!.last_probed, null);
    assert.equal(h.get('good.example.org')!.probe_ok_streak, 1);
  });

  it('outage guard: when most probes fail at once nothing is counted against mirrors', async (t) => {
    const { db } = await freshDb(t, backend);
    await seedNetwork(db);
    for (let i = 0; i < 4; i++) await addHost(db, `m${i}.example.org`, await freePort());
    const good = await mirrorServer(t, 'ok');
    await addHost(db, 'good.example.org', good.port);
    const cfg = { probe: { ...CONFIG.probe, failuresToDown: 1, outageMinHosts: 4 }, crawl: { outageShare: 0.7 } };
    const r = await probe(stageContext(db, cfg));
    assert.equal(r.degraded, true);
    assert.match(r.notes!.join('\n'), /outage guard: 4\/5 probes failed/);
    const h = await hosts(db);
    for (let i = 0; i < 4; i++) {
      assert.equal(h.get(`m${i}.example.org`)!.probe_down, false);
      assert.equal(h.get(`m${i}.example.org`)!.probe_fail_streak, 0);
    }
    assert.equal(h.get('good.example.org')!.probe_ok_streak, 1, 'successes still count');
  });
});
