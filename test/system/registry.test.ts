// registry apply/export/import-legacy against PGlite and a real Postgres, plus the
// JSON Schema document and the `registry` stage.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseConfig, type Config } from '../../pipelines/core/config.ts';
import { syncConfigTables, type AppContext } from '../../pipelines/core/context.ts';
import { UsageError, ValidationError } from '../../pipelines/core/errors.ts';
import { memoryLogger } from '../../pipelines/core/log.ts';
import { applyCommand, exportCommand, importLegacyCommand } from '../../pipelines/commands/registry.ts';
import { setHostField } from '../../pipelines/commands/admin.ts';
import { DEMO_SITES, writeDemoRegistry } from '../../pipelines/demo/network.ts';
import { applyRegistry, readRegistryState } from '../../pipelines/registry/apply.ts';
import { loadRegistry } from '../../pipelines/registry/load.ts';
import { registryJsonSchema } from '../../pipelines/registry/schema.ts';
import { run as runRegistryStage } from '../../pipelines/stages/registry.ts';
import { describeBackends, freshDb, type Backend } from '../helpers/db.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CATEGORIES = [
  { name: 'Fedora Linux', topdir: 'fedora/linux' },
  { name: 'Fedora EPEL', topdir: 'epel' },
];

function tmpDir(t: TestContext): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-registry-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

function configFor(dir: string, extraCategories: string[] = []): Config {
  return parseConfig(
    {
      registry: { dir: path.join(dir, 'registry') },
      categories: [...CATEGORIES, ...extraCategories.map((name) => ({ name, topdir: name.toLowerCase() }))].map((c) => ({ ...c, source: { type: 'local', path: `master/${c.topdir}` } })),
      countryContinentRedirects: { IL: 'EU' },
    },
    path.join(dir, 'mirrorsmith.yaml'),
  );
}

async function appFor(t: TestContext, backend: Backend, config: Config): Promise<AppContext & { log: ReturnType<typeof memoryLogger> }> {
  const { db } = await freshDb(t, backend);
  await db.transaction((tx) => syncConfigTables(tx, config));
  return { config, db, log: memoryLogger(), interactive: false };
}

const collect = () => {
  const lines: string[] = [];
  return { lines, out: (s: string) => lines.push(s), text: () => lines.join('\n') };
};

const UNI = `site: uni
org_url: https://www.uni.example.edu/
admins: [alice]
hosts:
  - name: mirror.uni.example.edu
    country: DE
    bandwidth_mbps: 1000
    netblocks: [192.0.2.0/24]
    categories:
      Fedora Linux:
        urls: [https://mirror.uni.example.edu/fedora/linux/, rsync://mirror.uni.example.edu/fedora/linux/]
  - name: private.uni.example.edu
    private: true
    netblocks: [198.51.100.0/24, "2001:db8:1::/48"]
    categories:
      Fedora Linux:
        urls: [http://private.uni.example.edu/fedora/linux/]
        private_urls: [rsync://private.uni.example.edu/fedora-internal/]
`;

describeBackends('registry apply', (backend) => {
  test('apply adds, a second apply is a no-op, the plan names fields; crawl state survives', async (t) => {
    const dir = tmpDir(t);
    const config = configFor(dir);
    const app = await appFor(t, backend, config);
    const reg = path.join(dir, 'registry');
    fs.mkdirSync(reg);
    fs.writeFileSync(path.join(reg, 'uni.yaml'), UNI);

    const first = collect();
    const r1 = await applyCommand(app, reg, {}, first.out);
    assert.equal(r1.applied, true);
    assert.deepEqual(r1.counts, { add: 3, change: 0, remove: 0, kept: 0, cleared: 0 });
    assert.match(first.text(), /\+ site uni \(2 hosts\)/);

    const second = collect();
    const r2 = await applyCommand(app, reg, {}, second.out);
    assert.equal(r2.applied, false);
    assert.match(second.text(), /^no changes: the database matches the registry/);

    // The crawler's columns and verdicts are not the registry's to touch.
    await app.db.exec(`INSERT INTO directory (category_id, name) SELECT id, 'releases/41' FROM category WHERE name = 'Fedora Linux'`);
    await app.db.query(
      `UPDATE host SET crawl_failures = 3, last_crawled = '2026-11-01T00:00:00Z', last_crawl_method = 'rsync', reachable_ipv6 = true WHERE name = 'mirror.uni.example.edu'`,
    );
    await app.db.exec(`INSERT INTO host_category_dir (host_category_id, directory_id, up2date)
      SELECT hc.id, d.id, true FROM host_category hc JOIN host h ON h.id = hc.host_id, directory d WHERE h.name = 'mirror.uni.example.edu'`);

    fs.writeFileSync(path.join(reg, 'uni.yaml'), UNI.replace('bandwidth_mbps: 1000', 'bandwidth_mbps: 10000').replace('rsync://mirror.uni.example.edu/fedora/linux/]', 'ftp://mirror.uni.example.edu/pub/fedora/linux/]'));
    const dry = collect();
    const r3 = await applyCommand(app, reg, { dryRun: true }, dry.out);
    assert.equal(r3.applied, false);
    assert.match(dry.text(), /~ host mirror\.uni\.example\.edu: bandwidth_mbps 1000 → 10000/);
    assert.match(dry.text(), /~ host mirror\.uni\.example\.edu: categories\["Fedora Linux"\]\.urls \+ftp:\/\/mirror\.uni\.example\.edu\/pub\/fedora\/linux\/ -rsync:\/\/mirror\.uni\.example\.edu\/fedora\/linux\//);
    assert.match(dry.text(), /dry run: nothing was written/);
    assert.equal((await app.db.query<{ b: number }>(`SELECT bandwidth_int AS b FROM host WHERE name = 'mirror.uni.example.edu'`)).rows[0]!.b, 1000);

    const r4 = await applyCommand(app, reg, {}, () => {});
    assert.equal(r4.counts.change, 2);
    const h = (
      await app.db.query<{ bandwidth_int: number; crawl_failures: number; last_crawl_method: string; reachable_ipv6: boolean; dirs: number }>(
        `SELECT bandwidth_int, crawl_failures, last_crawl_method, reachable_ipv6,
                (SELECT count(*)::int FROM host_category_dir d JOIN host_category hc ON hc.id = d.host_category_id WHERE hc.host_id = host.id) AS dirs
           FROM host WHERE name = 'mirror.uni.example.edu'`,
      )
    ).rows[0]!;
    assert.deepEqual({ ...h }, { bandwidth_int: 10000, crawl_failures: 3, last_crawl_method: 'rsync', reachable_ipv6: true, dirs: 1 });
    const urls = await app.db.query<{ url: string; private: boolean }>(
      `SELECT u.url, u.private FROM host_category_url u JOIN host_category hc ON hc.id = u.host_category_id JOIN host h ON h.id = hc.host_id ORDER BY u.url`,
    );
    assert.deepEqual(
      urls.rows.map((r) => `${r.url}${r.private ? ' (private)' : ''}`),
      ['ftp://mirror.uni.example.edu/pub/fedora/linux/', 'http://private.uni.example.edu/fedora/linux/', 'https://mirror.uni.example.edu/fedora/linux/', 'rsync://private.uni.example.edu/fedora-internal/ (private)'],
    );
    const nb = await app.db.query<{ netblock: string; kind: string }>('SELECT netblock, kind FROM host_netblock ORDER BY netblock');
    assert.deepEqual(nb.rows.map((r) => `${r.netblock}:${r.kind}`), ['192.0.2.0/24:cidr', '198.51.100.0/24:cidr', '2001:db8:1::/48:cidr']);
  });

  test('an invalid directory writes nothing, and every bad file is named', async (t) => {
    const dir = tmpDir(t);
    const app = await appFor(t, backend, configFor(dir));
    const reg = path.join(dir, 'registry');
    fs.mkdirSync(reg);
    fs.writeFileSync(path.join(reg, 'a-good.yaml'), UNI);
    fs.writeFileSync(path.join(reg, 'b-bad.yaml'), 'site: bad\nhosts:\n  - name: m.bad.example\n    bandwidth_mbps: 0\n');
    fs.writeFileSync(path.join(reg, 'c-broken.yaml'), 'site: broken\nhosts: [\n');
    await assert.rejects(
      () => applyCommand(app, reg, {}, () => {}),
      (err: unknown) => {
        assert.ok(err instanceof ValidationError);
        assert.match(err.message, /has 2 problems; nothing was applied/);
        assert.ok(err.issues.some((i) => i.startsWith(path.join(reg, 'b-bad.yaml')) && i.includes('site bad, host m.bad.example: hosts[0].bandwidth_mbps: must be greater than 0')));
        assert.ok(err.issues.some((i) => i.startsWith(path.join(reg, 'c-broken.yaml')) && i.includes('not valid YAML')));
        return true;
      },
    );
    assert.equal((await app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM site')).rows[0]!.n, 0);
  });

  test('an apply that would remove most hosts (an emptied directory) needs --force', async (t) => {
    const dir = tmpDir(t);
    const app = await appFor(t, backend, configFor(dir));
    const reg = path.join(dir, 'registry');
    fs.mkdirSync(reg);
    fs.writeFileSync(path.join(reg, 'uni.yaml'), UNI);
    await applyCommand(app, reg, {}, () => {});
    fs.rmSync(path.join(reg, 'uni.yaml'));
    await assert.rejects(
      () => applyCommand(app, reg, {}, () => {}),
      (err: unknown) => err instanceof UsageError && /registry apply refused: the registry would remove 2 of 2 hosts .*pass --force/.test(err.message) && /- host mirror\.uni\.example\.edu/.test(err.message),
    );
    assert.equal((await app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM host')).rows[0]!.n, 2);
    const dry = collect();
    await applyCommand(app, reg, { dryRun: true }, dry.out);
    assert.match(dry.text(), /warning: without --force this would be refused/);
    const forced = await applyCommand(app, reg, { force: true }, () => {});
    assert.deepEqual(forced.counts, { add: 0, change: 0, remove: 3, kept: 0, cleared: 0 });
    assert.equal((await app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM site')).rows[0]!.n, 0);
  });

  test('a host disabled with the CLI stays disabled across apply, and the plan says so', async (t) => {
    const dir = tmpDir(t);
    const app = await appFor(t, backend, configFor(dir));
    const reg = path.join(dir, 'registry');
    fs.mkdirSync(reg);
    fs.writeFileSync(path.join(reg, 'uni.yaml'), UNI);
    await applyCommand(app, reg, {}, () => {});
    const at = new Date('2026-11-20T10:00:00Z');
    await setHostField(app, 'mirror.uni.example.edu', 'admin_active', false, 'host disable', 'disk failure', at);

    const kept = collect();
    const r = await applyCommand(app, reg, {}, kept.out);
    assert.equal(r.counts.kept, 1);
    assert.match(kept.text(), /! host mirror\.uni\.example\.edu: admin_active kept false \(set by 'host disable' at 2026-11-20T10:00:00\.000Z, reason "disk failure"\); registry says true — edit the file or run 'mirrorsmith host enable'/);
    const row = async () => (await app.db.query<{ admin_active: boolean; cli_overrides: unknown }>(`SELECT admin_active, cli_overrides FROM host WHERE name = 'mirror.uni.example.edu'`)).rows[0]!;
    assert.equal((await row()).admin_active, false);

    // The file now agrees: the override is cleared and nothing else changes.
    fs.writeFileSync(path.join(reg, 'uni.yaml'), UNI.replace('    bandwidth_mbps: 1000\n', '    bandwidth_mbps: 1000\n    admin_active: false\n'));
    const cleared = collect();
    const r2 = await applyCommand(app, reg, {}, cleared.out);
    assert.equal(r2.counts.cleared, 1);
    assert.match(cleared.text(), /= host mirror\.uni\.example\.edu: admin_active override from 'host disable' cleared/);
    assert.deepEqual(await row(), { admin_active: false, cli_overrides: {} });
    assert.equal((await applyRegistry(app.db, loadRegistry(reg, ['Fedora Linux']).sites)).applied, false);
  });

  test('apply → export → apply is a no-op (the demo network round-trips)', async (t) => {
    const dir = tmpDir(t);
    const app = await appFor(t, backend, configFor(dir));
    const reg = path.join(dir, 'registry');
    const first = writeDemoRegistry(reg, CATEGORIES);
    assert.equal(first.existed, false);
    assert.equal(first.written.length, DEMO_SITES.length);
    assert.equal(writeDemoRegistry(reg, CATEGORIES).existed, true, 'an existing registry is left alone');
    const r1 = await applyCommand(app, reg, {}, () => {});
    assert.equal(r1.counts.add, DEMO_SITES.length + DEMO_SITES.reduce((n, s) => n + s.hosts.length, 0));
    await setHostField(app, 'mirror.fraser.example.ca', 'comment', 'moving racks', 'host comment', undefined);

    const exported = path.join(dir, 'exported');
    await exportCommand(app, exported, () => {});
    const before = await readRegistryState(app.db);
    const r2 = await applyCommand(app, exported, {}, () => {});
    // The export carries the CLI comment, so the only effect is clearing that override.
    assert.deepEqual(r2.counts, { add: 0, change: 0, remove: 0, kept: 0, cleared: 1 });
    const r3 = await applyCommand(app, exported, {}, () => {});
    assert.equal(r3.plan.items.length, 0);
    const after = await readRegistryState(app.db);
    const strip = (s: typeof before) => s.map((x) => ({ ...x, hosts: x.hosts.map((h) => ({ ...h, overrides: {} })) }));
    assert.deepEqual(strip(after), strip(before));
    // The exported files are the same format the loader reads, byte-stable on a second export.
    const again = path.join(dir, 'again');
    await exportCommand(app, again, () => {});
    for (const f of fs.readdirSync(exported)) {
      const strip2 = (p: string) => fs.readFileSync(p, 'utf8').replace(/^#.*\n/, '');
      assert.equal(strip2(path.join(again, f)), strip2(path.join(exported, f)), f);
    }
  });

  test('the registry stage applies config.registry.dir, and skips with a note when it does not exist', async (t) => {
    const dir = tmpDir(t);
    const config = configFor(dir);
    const app = await appFor(t, backend, config);
    const ctx = {
      db: app.db,
      config,
      log: app.log,
      signal: new AbortController().signal,
      run: { id: null, startedAt: new Date(), generationId: 'test', force: false, dryRun: false },
      options: {},
      progress: () => ({ tick() {}, done() {} }) as never,
    };
    const skipped = await runRegistryStage(ctx);
    assert.equal(skipped.counts.skipped, 1);
    assert.match(skipped.notes![0]!, /does not exist: nothing applied/);
    fs.mkdirSync(config.registry.dir);
    fs.writeFileSync(path.join(config.registry.dir, 'uni.yaml'), UNI);
    const applied = await runRegistryStage(ctx);
    assert.equal(applied.counts.ok, 2);
    assert.equal(applied.stats!.added, 3);
    assert.equal((await runRegistryStage(ctx)).stats!.applied, false);
  });

  test('import-legacy turns the CentOS fixture into registry files that validate and apply', async (t) => {
    const dir = tmpDir(t);
    const config = configFor(dir, ['CentOS']);
    const app = await appFor(t, backend, config);
    const out = path.join(dir, 'imported');
    const report = collect();
    const result = importLegacyCommand(config, path.join(ROOT, 'test/fixtures/legacy/centos-mirrors.csv'), { out, category: 'CentOS' }, report.out);
    assert.equal(result.sites.length, 6);
    assert.match(report.text(), /line 2 \(mirror\.hostco\.example\.com\): site mirror\.hostco\.example\.com, host mirror\.hostco\.example\.com/);
    assert.match(report.text(), /dropped speed="T3": T1-era speed class/);
    assert.match(report.text(), /dropped contact-name="Jane Admin", contact-tel="\+1 555 0100": MirrorManager keeps only admin account names/);
    assert.match(report.text(), /line 8 \(gopher\.example\.net\): SKIPPED\n {2}error: .*urls\[0\]: scheme "gopher" not allowed/);
    assert.match(report.text(), /line 7 \(Example Mirror Co\): site example-mirror-co, host mirror\.co\.example\.za\n {2}note: bandwidth "fast" not understood/);
    assert.throws(() => importLegacyCommand(config, path.join(ROOT, 'test/fixtures/legacy/centos-mirrors.csv'), { out, category: 'CentOS' }, () => {}), /already exist.*--force/);

    const reg = loadRegistry(out, config.categories.map((c) => c.name));
    assert.equal(reg.sites.length, 6);
    await applyCommand(app, out, {}, () => {});
    const hosts = await app.db.query<{ name: string; country: string | null; bandwidth_int: number; admin_active: boolean; user_active: boolean }>(
      'SELECT name, country, bandwidth_int, admin_active, user_active FROM host ORDER BY name',
    );
    assert.deepEqual(
      hosts.rows.map((h) => `${h.name} ${h.country} ${h.bandwidth_int} ${h.admin_active} ${h.user_active}`),
      [
        'centos.slowlink.example.co.uk GB 10 true false',
        'espelho.example.br BR 100 false true',
        'ftp.rz.example.de DE 100 true true',
        'mirror.co.example.za ZA 100 true true',
        'mirror.hostco.example.com US 1000 true true',
        'mirror.tokyo.example.jp JP 1000 false true',
      ],
    );
  });
});

test('fixture registries: the contract example validates; each bad file is reported naming file, site/host and field', (t) => {
  const fixtures = path.join(ROOT, 'test/fixtures/registry');
  const valid = loadRegistry(path.join(fixtures, 'valid'), ['Fedora Linux']);
  assert.deepEqual(valid.sites.map((s) => s.site), ['example-university', 'private-lab']);
  assert.deepEqual(valid.warnings, [`${path.join(fixtures, 'valid', 'private-lab.yaml')}: site private-lab, host mirror.lab.example.org: hosts[0].netblocks[0]: "198.51.100.77/24" has host bits set; normalized to 198.51.100.0/24`]);

  const dir = tmpDir(t);
  for (const sub of ['valid', 'invalid']) for (const f of fs.readdirSync(path.join(fixtures, sub))) fs.copyFileSync(path.join(fixtures, sub, f), path.join(dir, f));
  let issues: string[] = [];
  assert.throws(() => loadRegistry(dir, ['Fedora Linux']), (err: unknown) => err instanceof ValidationError && ((issues = err.issues), true));
  const expect: Array<[string, RegExp]> = [
    ['bad-cidr.yaml', /: site bad-cidr, host m\.bad-cidr\.example: hosts\[0\]\.netblocks\[0\]: "192\.0\.2\.0\/40" has a prefix length above 32$/],
    ['bad-country.yaml', /: site bad-country, host m\.bad-country\.example: hosts\[0\]\.country: must be an ISO 3166-1 alpha-2 code/],
    ['bad-hostname.yaml', /: site bad-hostname, host mirror_1\.example\.org: hosts\[0\]\.name: host name is not a DNS name/],
    ['bad-url.yaml', /: site bad-url, host m\.bad-url\.example: hosts\[0\]\.categories\["Fedora Linux"\]\.urls\[0\]: must not contain credentials/],
    ['bad-url.yaml', /hosts\[0\]\.categories\["Fedora Linux"\]\.urls\[1\]: scheme "gopher" not allowed \(http, https, ftp, rsync\)$/],
    ['bad-url.yaml', /hosts\[0\]\.categories\["Fedora Linux"\]\.urls\[2\]: must not contain "\$"$/],
    // Files are read in name order: the later file of a duplicate pair is the one reported.
    ['example-university.yaml', /: site example-university, host mirror\.example\.edu: hosts\[0\]\.name: duplicate host name "mirror\.example\.edu" \(also in .*duplicate-host\.yaml site dup-host\)/],
    ['example-university.yaml', /: site example-university: site: duplicate site name "example-university" \(also in .*duplicate-site\.yaml\)$/],
    ['not-yaml.yaml', /not valid YAML/],
    ['private-no-netblocks.yaml', /: site private-no-netblocks, host m\.private\.example: hosts\[0\]\.netblocks: a private host needs at least one netblock/],
    ['unknown-field.yaml', /: site unknown-field, host m\.unknown-field\.example: hosts\[0\]\.bandwith_mbps: unknown field "bandwith_mbps"$/],
    ['zero-bandwidth.yaml', /: site zero-bandwidth, host m\.zero\.example: hosts\[0\]\.bandwidth_mbps: must be greater than 0$/],
  ];
  for (const [file, re] of expect) assert.ok(issues.some((i) => i.startsWith(path.join(dir, file)) && re.test(i)), `${file} ${re}\n${issues.join('\n')}`);
  assert.equal(issues.length, expect.length, issues.join('\n'));
});

test('docs/registry.schema.json is generated from the zod schema (UPDATE_SNAPSHOTS=1 rewrites it)', () => {
  const file = path.join(ROOT, 'docs/registry.schema.json');
  const generated = JSON.stringify(registryJsonSchema(), null, 2) + '\n';
  if (process.env.UPDATE_SNAPSHOTS === '1') fs.writeFileSync(file, generated);
  assert.equal(fs.readFileSync(file, 'utf8'), generated, 'docs/registry.schema.json is out of date: run UPDATE_SNAPSHOTS=1 node --import tsx --test test/system/registry.test.ts');
  const schema = JSON.parse(generated) as { properties: Record<string, unknown>; required: string[]; additionalProperties: boolean };
  assert.deepEqual(Object.keys(schema.properties), ['site', 'org_url', 'private', 'admin_active', 'user_active', 'admins', 'comment', 'hosts']);
  assert.deepEqual(schema.required, ['site']);
  assert.equal(schema.additionalProperties, false);
});
