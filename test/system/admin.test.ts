// The admin CLI: command functions on both backends, and the real CLI spawned once
// against a temporary config and PGlite directory.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'csv-parse/sync';
import { parseConfig, type Config } from '../../pipelines/core/config.ts';
import { syncConfigTables, type AppContext } from '../../pipelines/core/context.ts';
import { UsageError } from '../../pipelines/core/errors.ts';
import { memoryLogger } from '../../pipelines/core/log.ts';
import { exportAll, hostList, hostShow, setHostField, siteList, siteShow, type HostInfo } from '../../pipelines/commands/admin.ts';
import { demoSiteFiles } from '../../pipelines/demo/network.ts';
import { applyRegistry } from '../../pipelines/registry/apply.ts';
import { validateSites } from '../../pipelines/registry/schema.ts';
import { describeBackends, freshDb, type Backend } from '../helpers/db.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CATEGORIES = [
  { name: 'Fedora Linux', topdir: 'fedora/linux' },
  { name: 'Fedora EPEL', topdir: 'epel' },
];
const config: Config = parseConfig(
  { categories: CATEGORIES.map((c) => ({ ...c, source: { type: 'local', path: `master/${c.topdir}` } })), countryContinentRedirects: { IL: 'EU' } },
  '',
);

async function demoApp(t: TestContext, backend: Backend): Promise<AppContext> {
  const { db } = await freshDb(t, backend);
  await db.transaction((tx) => syncConfigTables(tx, config));
  const sites = demoSiteFiles(CATEGORIES);
  // The demo data must pass the same validation as any registry.
  const checked = validateSites(sites.map((s) => ({ file: `${s.site}.yaml`, data: s })), CATEGORIES.map((c) => c.name));
  assert.deepEqual(checked.errors, []);
  await applyRegistry(db, checked.sites);
  return { config, db, log: memoryLogger(), interactive: false };
}

function capture() {
  const lines: string[] = [];
  return { out: (s: string) => lines.push(s), text: () => lines.join('\n'), json: <T>() => JSON.parse(lines.join('\n')) as T };
}

describeBackends('admin CLI', (backend) => {
  test('host list filters by country, continent (with redirects), private, category and disabled', async (t) => {
    const app = await demoApp(t, backend);
    const names = async (f: Parameters<typeof hostList>[1]) => (await hostList(app, f, { json: true }, () => {})).map((h) => h.name);
    assert.deepEqual(await names({ country: 'de' }), ['ftp.frankenland.example.de', 'mirror.internal.elbe-industries.example']);
    // IL is redirected to Europe in the config.
    assert.ok((await names({ continent: 'EU' })).includes('mirror.galil-net.example.il'));
    assert.ok(!(await names({ continent: 'AS' })).includes('mirror.galil-net.example.il'));
    assert.deepEqual(await names({ continent: 'OC' }), ['mirror.southern-cross.example.au']);
    assert.deepEqual(await names({ private: true }), ['mirror.internal.elbe-industries.example']);
    assert.equal((await names({ category: 'Fedora EPEL' })).length, 17);
    assert.deepEqual(await names({ disabled: true }), []);
    await assert.rejects(() => names({ country: 'XX' }), (e: unknown) => e instanceof UsageError && /--country: "XX" is not an ISO 3166-1/.test(e.message));
    await assert.rejects(() => names({ continent: 'EA' }), /--continent: "EA" is not one of AF, AN, AS, EU, NA, OC, SA/);
    await assert.rejects(() => names({ category: 'Nope' }), /--category: no category named "Nope"/);

    const table = capture();
    await hostList(app, { country: 'JP' }, {}, table.out);
    assert.match(table.text(), /^host\s+site\s+cc\s+cont\s+Mbit\/s/);
    assert.match(table.text(), /ftp\.sakura-ix\.example\.jp\s+sakura-ix\s+JP\s+AS\s+10000\s+no\s+active/);
    assert.match(table.text(), /1 host\(s\)$/);
  });

  test('host disable/enable/comment record CLI overrides; host show has registry and crawl state', async (t) => {
    const app = await demoApp(t, backend);
    const name = 'mirror.campinas.example.br';
    // Crawl-derived state as the crawler would leave it.
    await app.db.exec(`INSERT INTO directory (category_id, name) SELECT id, n FROM category, (VALUES ('releases/41'), ('updates/41')) v(n) WHERE category.name = 'Fedora Linux'`);
    await app.db.query(
      `UPDATE host SET crawl_failures = 2, last_crawled = '2026-11-22T08:00:00Z', last_crawl_method = 'http', last_crawl_duration_ms = 1234,
              reachable_ipv4 = true, reachable_ipv6 = false, last_checked_in = '2026-11-22T09:00:00Z' WHERE name = $1`,
      [name],
    );
    await app.db.query(
      `INSERT INTO host_category_dir (host_category_id, directory_id, up2date, checked_at)
       SELECT hc.id, d.id, d.name = 'releases/41', '2026-11-22T08:00:00Z' FROM host_category hc JOIN host h ON h.id = hc.host_id
         JOIN category c ON c.id = hc.category_id JOIN directory d ON d.category_id = c.id WHERE h.name = $1`,
      [name],
    );

    await app.db.query(
      `INSERT INTO crawl_log (host_id, started_at, duration_ms, method, ok, summary, dirs_up2date, dirs_stale, lines)
       SELECT id, '2026-11-22T08:00:00Z', 1234, 'http', true, '1 of 2 directories up to date', 1, 1, $2::jsonb FROM host WHERE name = $1`,
      [name, JSON.stringify(['updates/41: repomd.xml sha256 differs from the master (stale)'])],
    );
    const at = new Date('2026-11-23T12:00:00Z');
    assert.deepEqual(await setHostField(app, name, 'admin_active', false, 'host disable', 'serving a broken tree', at), { changed: true });
    assert.deepEqual(await setHostField(app, name, 'admin_active', false, 'host disable', 'still broken', at), { changed: false });
    await setHostField(app, name, 'comment', 'contacted psilva', 'host comment', undefined, at);
    await assert.rejects(() => setHostField(app, 'nope.example', 'admin_active', true, 'host enable', undefined), /no host named "nope\.example"/);

    const shown = capture();
    await hostShow(app, name, {}, shown.out);
    const text = shown.text();
    assert.match(text, /^host {15}mirror\.campinas\.example\.br$/m);
    assert.match(text, /^status {13}admin-disabled$/m);
    assert.match(text, /^country {12}BR \(SA\)$/m);
    assert.match(text, /^last crawl {9}2026-11-22 08:00:00Z via http in 1234 ms$/m);
    assert.match(text, /^crawl failures {5}2$/m);
    assert.match(text, /^reachable v4\/v6 {4}yes\/no$/m);
    assert.match(text, /^last check-in {6}2026-11-22 09:00:00Z$/m);
    assert.match(text, /^CLI override {7}admin_active = false \(by 'host disable' at 2026-11-23T12:00:00\.000Z, reason "still broken"\)$/m);
    assert.match(text, /^Fedora Linux\s+no\s+1\s+1\s+2026-11-22 08:00:00Z\s+http:\/\/127\.0\.0\.1:18631\/mirror\.campinas\.example\.br\/fedora\/linux\/$/m);

    assert.match(text, /^2026-11-22 08:00:00Z\s+http\s+ok\s+1234\s+1\s+1\s+1 of 2 directories up to date$/m);
    assert.match(text, /^ {2}updates\/41: repomd\.xml sha256 differs from the master \(stale\)$/m);

    const json = capture();
    const info = await hostShow(app, name, { json: true }, json.out);
    assert.equal(info.recent_crawls![0]!.summary, '1 of 2 directories up to date');
    assert.deepEqual(json.json<HostInfo>(), JSON.parse(JSON.stringify(info)));
    assert.equal(info.serving, false);
    assert.equal(info.comment, 'contacted psilva');
    assert.deepEqual(info.categories.find((c) => c.name === 'Fedora Linux')!.dirs_up2date, 1);
    assert.deepEqual((await hostList(app, { disabled: true }, { json: true }, () => {})).map((h) => h.name), [name]);

    await setHostField(app, name, 'admin_active', true, 'host enable', undefined);
    assert.deepEqual(await hostList(app, { disabled: true }, { json: true }, () => {}), []);
  });

  test('site list/show and export as JSON and CSV', async (t) => {
    const app = await demoApp(t, backend);
    const list = capture();
    await siteList(app, {}, list.out);
    assert.match(list.text(), /^site\s+private\s+admin\/user active\s+hosts/);
    assert.match(list.text(), /elbe-industries\s+yes\s+yes\/yes\s+1\s+it-ops/);
    assert.match(list.text(), /14 site\(s\)$/);
    const show = capture();
    await siteShow(app, 'thames-hosting', {}, show.out);
    assert.match(show.text(), /mirror2\.thames-hosting\.example\.co\.uk\s+GB\s+1000\s+no\s+active/);
    await assert.rejects(() => siteShow(app, 'nope', {}, () => {}), /no site named "nope"/);

    const csv = capture();
    await exportAll(app, 'csv', csv.out);
    const rows = parse(csv.text(), { columns: true }) as Array<Record<string, string>>;
    assert.equal(rows.length, 17);
    const pine = rows.find((r) => r.host === 'mirror.pinecone.example.edu')!;
    assert.equal(pine.site, 'pinecone-university');
    assert.equal(pine.internet2, 'true');
    assert.equal(pine.netblocks, '128.2.0.0/16 2620:0:2d0::/48');
    assert.equal(rows.find((r) => r.host === 'mirror.cablenet.example.com')!.asn, '7922');

    const json = capture();
    await exportAll(app, 'json', json.out);
    const doc = json.json<{ sites: Array<{ site: string; hosts: HostInfo[] }> }>();
    assert.equal(doc.sites.length, 14);
    assert.equal(doc.sites.find((s) => s.site === 'galil-net')!.hosts[0]!.countries_allowed[0], 'IL');
    await assert.rejects(() => exportAll(app, 'xml', () => {}), /--format: "xml" is not one of json, csv/);
  });
});

const run = promisify(execFile);

test('the CLI: --help on every admin and registry command, and a real apply/list/disable round', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-admin-cli-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(
    path.join(dir, 'mirrorsmith.yaml'),
    `database: { dataDir: db }\ncategories:\n  - name: Fedora Linux\n    topdir: fedora/linux\n    source: { type: local, path: master }\n`,
  );
  fs.mkdirSync(path.join(dir, 'registry'));
  fs.writeFileSync(
    path.join(dir, 'registry', 'uni.yaml'),
    'site: uni\nhosts:\n  - name: mirror.uni.example.edu\n    country: DE\n    categories:\n      Fedora Linux:\n        urls: [https://mirror.uni.example.edu/fedora/linux/]\n',
  );
  // No DATABASE_URL: the CLI uses the embedded PGlite in the temp directory.
  const env = { ...process.env, DATABASE_URL: '', CI: 'true' };
  const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'pipelines/cli.ts'), '-c', path.join(dir, 'mirrorsmith.yaml'), ...args], { cwd: ROOT, env, timeout: 120_000 });

  const help = await cli('--help');
  for (const c of ['registry', 'site', 'host', 'export']) assert.match(help.stdout, new RegExp(`^  ${c}\\b`, 'm'), c);
  const hostHelp = (await cli('host', 'list', '--help')).stdout;
  assert.match(hostHelp, /^Usage: mirrorsmith host list \[options\]/m);
  assert.match(hostHelp, /--continent <code>/);

  const applied = await cli('registry', 'apply', path.join(dir, 'registry'));
  assert.match(applied.stdout, /\+ host mirror\.uni\.example\.edu/);
  await cli('host', 'disable', 'mirror.uni.example.edu', '--reason', 'maintenance');
  const again = await cli('registry', 'apply', path.join(dir, 'registry'));
  assert.match(again.stdout, /! host mirror\.uni\.example\.edu: admin_active kept false \(set by 'host disable' at .*, reason "maintenance"\); registry says true/);
  const listed = JSON.parse((await cli('host', 'list', '--disabled', '--json')).stdout) as HostInfo[];
  assert.deepEqual(listed.map((h) => h.name), ['mirror.uni.example.edu']);

  // Bad input exits 2 with the field named.
  fs.writeFileSync(path.join(dir, 'registry', 'bad.yaml'), 'site: bad\nhosts:\n  - name: m.bad.example\n    country: XX\n');
  await assert.rejects(
    () => cli('registry', 'validate', path.join(dir, 'registry')),
    (err: { code?: number; stderr?: string }) => err.code === 2 && /bad\.yaml: site bad, host m\.bad\.example: hosts\[0\]\.country: "XX" is not an ISO 3166-1 alpha-2 country code/.test(err.stderr ?? ''),
  );
});
