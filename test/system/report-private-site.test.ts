// A host of a private site that is not itself marked private is private by the one
// rule (host or site): it gets a report account, its report PUT through the real
// nginx is applied by ingest, its verdicts expire when it falls silent, and neither
// the crawler nor the probe touch it — on PGlite and on Postgres.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { createGenerationWriter } from '../../pipelines/core/generation.ts';
import { loadTargets } from '../../pipelines/crawl/store.ts';
import { buildReport, parseClientConfig, uploadReport } from '../../pipelines/report/client.ts';
import { REPORTS_HTPASSWD, reportsEmitter } from '../../pipelines/report/emitter.ts';
import { apr1 } from '../../pipelines/report/htpasswd.ts';
import { startNginx } from '../../pipelines/serve/nginx.ts';
import { run as ingest } from '../../pipelines/stages/ingest.ts';
import { listTargets } from '../../pipelines/stages/probe.ts';
import { describeBackends, freshDb } from '../helpers/db.ts';
import { CATEGORY, OS, UPD, makeMirrorTree, seedNetwork, stageContext } from '../helpers/report-fixture.ts';
import { REQUIRE_SYSTEM, whichTool } from '../helpers/system.ts';

const HOST = 'member.privsite.example.org';
const PASSWORD = 'member-secret-pw';

const nginxMissing = !whichTool('nginx');
if (nginxMissing && REQUIRE_SYSTEM) throw new Error('"nginx" is required (MIRRORSMITH_REQUIRE_SYSTEM=1) but not installed: apt-get install nginx-light');
const skip = nginxMissing ? 'SYSTEM TEST SKIPPED: "nginx" not installed (apt-get install nginx-light)' : false;

describeBackends('a host of a private site', (backend) => {
  it('gets a report account, its PUT is ingested and later expired; crawl and probe leave it alone', { skip, timeout: 60_000 }, async (t) => {
    const { db } = await freshDb(t, backend);
    const seeded = await seedNetwork(db);
    const site = await db.query<{ id: number }>(`INSERT INTO site (name, private) VALUES ('privsite', true) RETURNING id`);
    const host = await db.query<{ id: number }>(
      `INSERT INTO host (site_id, name, private, country, report_password_hash) VALUES ($1, $2, false, 'DE', $3) RETURNING id`,
      [site.rows[0]!.id, HOST, apr1(PASSWORD)],
    );
    const hc = await db.query<{ id: number }>('INSERT INTO host_category (host_id, category_id) VALUES ($1, $2) RETURNING id', [host.rows[0]!.id, seeded.categoryId]);
    await db.query('INSERT INTO host_category_url (host_category_id, url) VALUES ($1, $2)', [hc.rows[0]!.id, 'http://127.0.0.1:9/pub/linux/']);
    const hostCategoryId = hc.rows[0]!.id;

    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorsmith-privsite-'));
    t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
    const spool = { spoolDir: path.join(tmp, 'reports/incoming'), processedDir: path.join(tmp, 'reports/processed'), rejectedDir: path.join(tmp, 'reports/rejected'), statusDir: path.join(tmp, 'reports/status') };
    const config = { ingest: spool };

    // The build's report emitter gives it an account (the fixture's other hosts have no password).
    const genDir = path.join(tmp, 'out/generations/g1');
    const emitted = await reportsEmitter.emit(stageContext(db, config), createGenerationWriter(genDir, 'g1'));
    assert.equal(emitted.counts.reportAccounts, 1);
    assert.match(fs.readFileSync(path.join(genDir, REPORTS_HTPASSWD), 'utf8'), new RegExp(`^privsite/${HOST.replace(/\./g, '\\.')}:\\$apr1\\$`, 'm'));
    const nginx = await startNginx({ outDir: path.join(tmp, 'out'), root: genDir });
    t.after(() => nginx.stop());

    // The mirror's copy: os current, updates at the previous push.
    const root = path.join(tmp, 'mirror/linux');
    makeMirrorTree(root, { updates: 'old' });
    const client = parseClientConfig({ server: nginx.url, site: 'privsite', host: HOST, password: PASSWORD, categories: [{ name: CATEGORY, path: root }] }, path.join(tmp, 'report.yaml'));
    const out = await uploadReport(Buffer.from(JSON.stringify(await buildReport(client))), { ...client, password: PASSWORD }, { timeoutMs: 10_000 });
    assert.ok(out.ok && out.status === 201, JSON.stringify(out));

    const result = await ingest(stageContext(db, config));
    assert.deepEqual(result.counts, { ok: 1, failed: 0, skipped: 0 }, JSON.stringify(result.failures));
    const rows = await db.query<{ name: string; up2date: boolean; reason: string }>(
      'SELECT d.name, hcd.up2date, hcd.reason FROM host_category_dir hcd JOIN directory d ON d.id = hcd.directory_id WHERE hcd.host_category_id = $1',
      [hostCategoryId],
    );
    const v = new Map(rows.rows.map((r) => [r.name, r]));
    assert.equal(rows.rows.length, seeded.dirIds.size);
    assert.equal(v.get(OS)!.up2date, true);
    assert.equal(v.get(UPD)!.up2date, false);
    assert.match(v.get(UPD)!.reason, /previous push \(-1\)/);
    const checked = await db.query<{ last_checked_in: Date | null }>('SELECT last_checked_in FROM host WHERE id = $1', [host.rows[0]!.id]);
    assert.ok(checked.rows[0]!.last_checked_in, 'the check-in time is recorded');
    assert.equal(fs.readdirSync(path.join(spool.processedDir, 'privsite', HOST)).filter((f) => f.endsWith('.json')).length, 1);

    // A second ingest keeps its report-made verdicts: it is not "a host made public".
    await ingest(stageContext(db, config));
    const kept = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM host_category_dir WHERE host_category_id = $1 AND up2date', [hostCategoryId]);
    assert.ok(kept.rows[0]!.n > 0);
    // Silent for longer than ingest.staleAfterHours: its verdicts are withdrawn like any private host's.
    await db.query(`UPDATE host SET last_checked_in = now() - interval '100 hours' WHERE id = $1`, [host.rows[0]!.id]);
    const expired = await ingest(stageContext(db, config));
    assert.ok(Number(expired.stats!.expired) >= 1);
    const up = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM host_category_dir WHERE host_category_id = $1 AND up2date', [hostCategoryId]);
    assert.equal(up.rows[0]!.n, 0);

    // The crawler and the probe leave private mirrors alone.
    assert.ok(!(await loadTargets(db)).some((h) => h.name === HOST));
    assert.ok(!(await listTargets(db, undefined)).some((h) => h.host === HOST));
  });
});
