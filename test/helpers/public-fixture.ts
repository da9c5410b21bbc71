// A small mirror network written straight into the schema for the public-page tests:
// public mirrors on three continents, a private one, a disabled one, an auto-disabled
// one, stale directories, a pre-bitflip repository, propagation samples and runs.
// `xss` puts hostile text into every free-text registry field.
import type { Queryable } from '../../pipelines/core/db.ts';

export const XSS = [
  `<script>window.__xss=1</script>`,
  `"><img src=x onerror="window.__xss=2">`,
  `'><svg onload=window.__xss=3>`,
  `javascript:window.__xss=4`,
  `{{title}} <b>bold</b> & &amp; </main>`,
];

export interface FixtureIds {
  sites: Record<string, number>;
  hosts: Record<string, number>;
  categories: Record<string, number>;
  repos: Record<string, number>;
}

/** Newest propagation sample time; everything else is relative to it. */
export const T0 = new Date('2026-11-20T12:00:00Z');

export async function loadFixture(db: Queryable, opts: { xss?: boolean } = {}): Promise<FixtureIds> {
  const x = (i: number, plain: string) => (opts.xss ? `${plain} ${XSS[i % XSS.length]}` : plain);
  const ids: FixtureIds = { sites: {}, hosts: {}, categories: {}, repos: {} };
  const one = async (sql: string, params: unknown[]) => (await db.query<{ id: number }>(sql, params)).rows[0]!.id;

  for (const [name, topdir] of [['Fedora Linux', 'linux'], ['Fedora EPEL', 'epel']] as const) {
    ids.categories[name] = await one('INSERT INTO category (name, topdir) VALUES ($1, $2) RETURNING id', [name, topdir]);
  }
  const dirs: Record<string, number> = {};
  const repoDefs: [string, string, string, string, boolean][] = [
    // prefix, arch, category, directory, readable
    ['fedora-41', 'x86_64', 'Fedora Linux', 'releases/41/Everything/x86_64/os', true],
    ['fedora-41', 'aarch64', 'Fedora Linux', 'releases/41/Everything/aarch64/os', true],
    ['updates-released-f41', 'x86_64', 'Fedora Linux', 'updates/41/Everything/x86_64', true],
    ['fedora-40', 'x86_64', 'Fedora Linux', 'releases/40/Everything/x86_64/os', true],
    ['fedora-42', 'x86_64', 'Fedora Linux', 'releases/42/Everything/x86_64/os', false],
    ['rawhide', 'x86_64', 'Fedora Linux', 'development/rawhide/Everything/x86_64/os', true],
    ['epel-9', 'x86_64', 'Fedora EPEL', '9/Everything/x86_64', true],
  ];
  for (const [prefix, arch, cat, dir, readable] of repoDefs) {
    dirs[dir] = await one('INSERT INTO directory (category_id, name, readable) VALUES ($1, $2, $3) RETURNING id', [ids.categories[cat], dir, readable]);
    ids.repos[`${prefix}/${arch}`] = await one(
      'INSERT INTO repository (prefix, arch, category_id, directory_id) VALUES ($1, $2, $3, $4) RETURNING id',
      [prefix, arch, ids.categories[cat], dirs[dir]],
    );
  }

  const sites: [string, string | null, boolean, boolean][] = [
    // name, org_url, private, active
    ['example-university', 'https://example.edu/', false, true],
    ['nordic-net', 'https://nordic.example.net/', false, true],
    ['acme-corp', 'https://acme.example.com/', true, true],
    ['gone-site', null, false, false],
    ['pacific-mirrors', opts.xss ? 'javascript:window.__xss=5' : 'https://pacific.example.org/', false, true],
  ];
  for (const [i, [name, url, priv, active]] of sites.entries()) {
    ids.sites[name] = await one(
      'INSERT INTO site (name, org_url, private, admin_active, comment) VALUES ($1, $2, $3, $4, $5) RETURNING id',
      [opts.xss && name === 'example-university' ? x(i, name) : name, url, priv, active, x(i + 1, `${name} sponsors this`)],
    );
  }

  interface HostDef {
    name: string; site: string; country: string | null; bw: number; priv?: boolean; i2?: boolean; auto?: string; adminOff?: boolean;
    cats: Record<string, { urls: string[]; priv?: string[]; always?: boolean; fresh: string[]; stale?: string[] }>;
    acl?: string[]; crawled?: string; durationMs?: number; failures?: number; checkedIn?: string;
  }
  const f41 = 'releases/41/Everything/x86_64/os';
  const a41 = 'releases/41/Everything/aarch64/os';
  const u41 = 'updates/41/Everything/x86_64';
  const f40 = 'releases/40/Everything/x86_64/os';
  const raw = 'development/rawhide/Everything/x86_64/os';
  const e9 = '9/Everything/x86_64';
  const hosts: HostDef[] = [
    {
      name: 'mirror.example.edu', site: 'example-university', country: 'US', bw: 10000, i2: true,
      cats: {
        'Fedora Linux': { urls: ['https://mirror.example.edu/fedora/linux/', 'http://mirror.example.edu/fedora/linux/', 'rsync://mirror.example.edu/fedora/linux/'], fresh: [f41, a41, u41, f40, raw] },
        'Fedora EPEL': { urls: ['https://mirror.example.edu/epel/'], fresh: [e9] },
      },
      acl: ['192.0.2.10', '2001:db8::10', 'rsync.example.edu'], crawled: '2026-11-20T11:00:00Z', durationMs: 12_500,
    },
    {
      name: 'ftp.nordic.example.net', site: 'nordic-net', country: 'SE', bw: 1000,
      cats: { 'Fedora Linux': { urls: ['ftp://ftp.nordic.example.net/fedora/', 'https://ftp.nordic.example.net/fedora/'], fresh: [f41, f40], stale: [u41, a41, raw] } },
      acl: ['198.51.100.7', '192.0.2.10'], crawled: '2026-11-20T10:30:00Z', durationMs: 61_000,
    },
    {
      name: 'fi.nordic.example.net', site: 'nordic-net', country: 'FI', bw: 100,
      cats: { 'Fedora Linux': { urls: ['http://fi.nordic.example.net/fedora/'], always: true, fresh: [] } },
      acl: ['198.51.100.0/28'], crawled: '2026-11-20T10:00:00Z', durationMs: 3_000,
    },
    {
      name: 'mirror.acme.example.com', site: 'acme-corp', country: 'DE', bw: 1000, priv: true,
      cats: { 'Fedora Linux': { urls: [], priv: ['http://mirror.acme.example.com/fedora/'], fresh: [f41, u41] } },
      acl: ['203.0.113.5'], checkedIn: '2026-11-20T09:00:00Z',
    },
    {
      name: 'old.gone.example.org', site: 'gone-site', country: 'BR', bw: 100,
      cats: { 'Fedora Linux': { urls: ['http://old.gone.example.org/fedora/'], fresh: [f41] } },
      acl: ['203.0.113.99'],
    },
    {
      name: 'syd.pacific.example.org', site: 'pacific-mirrors', country: 'AU', bw: 500, auto: 'four failed crawls: connection refused',
      cats: { 'Fedora Linux': { urls: ['https://syd.pacific.example.org/pub/fedora/'], fresh: [f41] } },
      acl: ['syd-gw.pacific.example.org'], crawled: '2026-11-20T08:00:00Z', failures: 4,
    },
    {
      name: 'admin-off.example.edu', site: 'example-university', country: 'US', bw: 100, adminOff: true,
      cats: { 'Fedora Linux': { urls: ['https://admin-off.example.edu/'], fresh: [f41] } },
      acl: ['192.0.2.200'],
    },
  ];
  if (opts.xss) {
    // The registry only accepts DNS names; a row written around it must still render inert.
    hosts.push({
      name: `evil"><svg onload=window.__xss=6>.example.org`, site: 'pacific-mirrors', country: 'NZ', bw: 100,
      cats: { 'Fedora Linux': { urls: ['https://evil.example.org/"><script>window.__xss=7</script>'], fresh: [f41] } },
    });
  }
  for (const [i, h] of hosts.entries()) {
    const hostId = await one(
      `INSERT INTO host (site_id, name, country, bandwidth_int, private, internet2, admin_active, comment, auto_disabled, disable_reason,
                         crawl_failures, last_crawled, last_crawl_duration_ms, last_crawl_method, last_checked_in)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id`,
      [
        ids.sites[h.site], h.name, h.country, h.bw, h.priv ?? false, h.i2 ?? false, !h.adminOff, x(i, `host comment for ${h.name}`),
        Boolean(h.auto), h.auto ?? null, h.failures ?? 0, h.crawled ?? null, h.durationMs ?? null, h.crawled ? 'rsync' : null, h.checkedIn ?? null,
      ],
    );
    ids.hosts[h.name] = hostId;
    for (const ip of h.acl ?? []) await db.query('INSERT INTO host_acl_ip (host_id, ip) VALUES ($1, $2)', [hostId, ip]);
    for (const [cat, c] of Object.entries(h.cats)) {
      const hcId = await one('INSERT INTO host_category (host_id, category_id, always_up2date) VALUES ($1, $2, $3) RETURNING id', [hostId, ids.categories[cat], c.always ?? false]);
      for (const u of c.urls) await db.query('INSERT INTO host_category_url (host_category_id, url) VALUES ($1, $2)', [hcId, u]);
      for (const u of c.priv ?? []) await db.query('INSERT INTO host_category_url (host_category_id, url, private) VALUES ($1, $2, true)', [hcId, u]);
      for (const d of c.fresh) await db.query('INSERT INTO host_category_dir (host_category_id, directory_id, up2date, checked_at) VALUES ($1, $2, true, $3)', [hcId, dirs[d], h.crawled ?? T0]);
      for (const d of c.stale ?? []) {
        await db.query(
          `INSERT INTO host_category_dir (host_category_id, directory_id, up2date, checked_at, reason) VALUES ($1, $2, false, $3, $4)`,
          [hcId, dirs[d], h.crawled ?? T0, x(i, 'repomd.xml sha256 matches the version 2 pushes ago')],
        );
      }
    }
  }

  // Propagation of fedora-41 after a push 30 hours before T0: mirrors catch up.
  const repo = ids.repos['fedora-41/x86_64'];
  const schedule: [string, number, (number | null)[]][] = [
    // host, hours before T0 of each sample (every 6 h), versions behind at each
    ['mirror.example.edu', 6, [1, 0, 0, 0, 0, 0]],
    ['ftp.nordic.example.net', 6, [1, 1, 1, 0, 0, 0]],
    ['fi.nordic.example.net', 6, [2, 1, 1, 1, 0, 0]],
    ['syd.pacific.example.org', 6, [3, 3, 2, null, null, null]],
  ];
  for (const [host, step, values] of schedule) {
    for (const [k, v] of values.entries()) {
      const at = new Date(T0.getTime() - (values.length - 1 - k) * step * 3600_000);
      await db.query('INSERT INTO propagation_sample (host_id, repository_id, sampled_at, versions_behind) VALUES ($1, $2, $3, $4)', [ids.hosts[host], repo, at, v]);
    }
  }

  // The crawler's log for one host (sql/003_crawl_log.sql): an older failure, the newest success.
  for (const [at, ok, summary, lines] of [
    ['2026-11-20T04:30:00Z', false, 'rsync exited 10 (connection refused)', ['rsync://ftp.nordic.example.net/fedora/: error in socket IO (code 10)']],
    ['2026-11-20T10:30:00Z', true, x(2, '2 of 5 directories up to date'), ['listed 5 directories over rsync', x(3, 'updates/41/Everything/x86_64: repomd.xml size differs')]],
  ] as const) {
    await db.query(
      `INSERT INTO crawl_log (host_id, started_at, duration_ms, method, ok, error_kind, summary, requests, budget, dirs_up2date, dirs_stale, lines)
       VALUES ($1, $2, 61000, 'rsync', $3, $4, $5, 1, 27, $6, $7, $8)`,
      [ids.hosts['ftp.nordic.example.net'], at, ok, ok ? null : 'refused', summary, ok ? 2 : 0, ok ? 3 : 0, JSON.stringify(lines)],
    );
  }

  // Two finished runs and the running one.
  const stages = (buildMs: number) => [
    { stage: 'crawl', status: 'ok', durationMs: 65_000, counts: { ok: 5, failed: 1, skipped: 1 } },
    { stage: 'ingest', status: 'ok', durationMs: 800, counts: { ok: 2, failed: 1, skipped: 0 } },
    { stage: 'build', status: 'ok', durationMs: buildMs, counts: { ok: 1, failed: 0, skipped: 0 } },
    { stage: 'publish', status: 'ok', durationMs: 400, counts: { ok: 1, failed: 0, skipped: 0 } },
  ];
  await db.query(
    `INSERT INTO pipeline_run (started_at, finished_at, status, exit_code, stages, generation) VALUES ($1, $2, 'ok', 0, $3, 'g1'), ($4, $5, 'ok', 0, $6, 'g2')`,
    ['2026-11-20T06:00:00Z', '2026-11-20T06:05:00Z', JSON.stringify(stages(4_200)), '2026-11-20T11:00:00Z', '2026-11-20T11:06:00Z', JSON.stringify(stages(5_100))],
  );
  await db.query(`INSERT INTO pipeline_run (started_at, status) VALUES ($1, 'running')`, ['2026-11-20T12:00:00Z']);
  return ids;
}
