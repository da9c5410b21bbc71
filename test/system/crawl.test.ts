// The crawl stage against a simulated mirror network of real daemons (nginx, an
// rsync daemon, vsftpd) on loopback: per-directory verdicts for fresh, stale-by-one,
// stale-by-three, missing-directory and dead mirrors over each protocol, pre-bitflip
// directories never required, propagation samples, failure accounting with
// auto-disable and re-enable, and the outage guard — on PGlite and on Postgres.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { run as crawl } from '../../pipelines/stages/crawl.ts';
import { staticResolver } from '../../pipelines/net/dns.ts';
import { seedSimMaster, writeSimMaster, type SimMaster } from '../../pipelines/simnet/master.ts';
import { registerSimHosts, startSimNetwork, type SimMirror, type SimNetwork } from '../../pipelines/simnet/network.ts';
import type { SimBehaviour } from '../../pipelines/simnet/trees.ts';
import type { Db } from '../../pipelines/core/db.ts';
import { loadPublicData } from '../../pipelines/public/data.ts';
import { propagationSeries } from '../../pipelines/public/propagation.ts';
import { describeBackends, freshDb } from '../helpers/db.ts';
import { REQUIRE_SYSTEM, whichTool } from '../helpers/system.ts';
import { SIM_CATEGORY, crawlConfig, hostRow, lastLog, stageCtx, verdicts } from '../helpers/simnet.ts';

const tools = { nginx: whichTool('nginx'), rsync: whichTool('rsync'), vsftpd: whichTool('vsftpd') };
const missingTools = Object.entries(tools).filter(([, p]) => !p).map(([n]) => n);
const skip = missingTools.length ? `SYSTEM TEST SKIPPED: ${missingTools.join(', ')} not installed (apt-get install nginx-light rsync vsftpd)` : false;
if (skip && REQUIRE_SYSTEM) throw new Error(`${missingTools.join(', ')} required (MIRRORSMITH_REQUIRE_SYSTEM=1): apt-get install nginx-light rsync vsftpd`);
if (skip) process.stderr.write(`\n*** ${skip}\n`);

const BEHAVIOURS: SimBehaviour[] = ['fresh', 'stale-1', 'stale-3', 'missing-dir', 'dead'];
const PROTOCOLS = ['http', 'rsync', 'ftp'] as const;
const nameOf = (proto: string, b: SimBehaviour) => `${proto}-${b}.sim.test`;
const MIRRORS: SimMirror[] = [
  ...PROTOCOLS.flatMap((p) => BEHAVIOURS.map((b): SimMirror => ({ name: nameOf(p, b), behaviour: b, protocols: [p] }))),
  // rsync for verdicts, http for the key repositories' exact version.
  { name: 'both-stale-3.sim.test', behaviour: 'stale-3', protocols: ['rsync', 'http'] },
];

let work: string;
let master: SimMaster;
let net: SimNetwork;

before(async () => {
  if (skip) return;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-crawl-'));
  master = writeSimMaster(path.join(work, 'master'), { repos: 3, pushes: 4, prebitflip: true });
  net = await startSimNetwork({ master, workDir: path.join(work, 'net'), mirrors: MIRRORS, tools, missingDir: master.repos[1]!.dir });
});

after(async () => {
  await net?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** The status page's propagation series of one repository, from what the crawl stored. */
async function plotOf(db: Db, prefix: string, arch: string) {
  const data = await loadPublicData(db);
  const repo = data.repositories.find((r) => r.prefix === prefix && r.arch === arch)!;
  return propagationSeries(data.propagation.filter((p) => p.repositoryId === repo.id), { days: 7 });
}

async function setup(t: Parameters<typeof freshDb>[0], backend: Parameters<typeof freshDb>[1], mirrors = MIRRORS) {
  const { db } = await freshDb(t, backend);
  const { categoryId } = await seedSimMaster(db, master, SIM_CATEGORY);
  const ids = await registerSimHosts(db, categoryId, mirrors.map((m) => ({ name: m.name, urls: net.urls.get(m.name)! })));
  return { db, categoryId, ids };
}

describeBackends('crawl over the simulated network', (backend) => {
  test('per-directory verdicts for every behaviour over http, rsync and ftp', { skip, timeout: 120_000 }, async (t) => {
    const { db } = await setup(t, backend);
    const ctx = stageCtx(db, crawlConfig(), { resolver: net.resolver });
    const result = await crawl(ctx);
    assert.equal(result.counts.ok, 13, JSON.stringify(result.failures));
    assert.equal(result.counts.failed, 3);
    assert.deepEqual(result.failures.map((f) => f.subject).sort(), PROTOCOLS.map((p) => nameOf(p, 'dead')).sort());
    assert.equal(result.degraded, false);
    const v = await verdicts(db);
    const repoDirs = master.repos.map((r) => r.dir);
    for (const p of PROTOCOLS) {
      const at = (b: SimBehaviour, dir: string) => v.get(`${nameOf(p, b)} ${dir}`);
      for (const dir of repoDirs) {
        assert.equal(at('fresh', dir)?.up2date, true, `${p} fresh ${dir}: ${at('fresh', dir)?.reason}`);
        assert.equal(at('stale-1', dir)?.up2date, false, `${p} stale-1 ${dir}`);
        assert.equal(at('stale-3', dir)?.up2date, false, `${p} stale-3 ${dir}`);
        assert.equal(at('dead', dir)?.up2date, false, `${p} dead ${dir}`);
        assert.match(at('dead', dir)!.reason, /crawl failed/);
        // Pre-bitflip: never required, never given a verdict.
        assert.equal(at('fresh', master.prebitflipDir!), undefined);
      }
      if (p !== 'rsync') {
        assert.match(at('stale-1', repoDirs[0]!)!.reason, /previous push \(-1\)/);
        assert.match(at('stale-3', repoDirs[0]!)!.reason, /3 pushes old \(-3\)/);
      } else {
        assert.match(at('stale-1', repoDirs[0]!)!.reason, /repodata\/.*primary\.xml\.gz missing/);
      }
      // missing-dir lacks repository 1 only.
      assert.equal(at('missing-dir', repoDirs[0]!)?.up2date, true, `${p} missing-dir keeps ${repoDirs[0]}`);
      assert.equal(at('missing-dir', repoDirs[1]!)?.up2date, false);
      assert.match(at('missing-dir', repoDirs[1]!)!.reason, p === 'rsync' ? /directory missing/ : p === 'http' ? /repomd\.xml missing \(HTTP 404\)/ : /repomd\.xml missing \(FTP 550\)/);
      // rsync compares every directory; the fresh mirror has the top and Packages/ too.
      if (p === 'rsync') {
        assert.equal(at('fresh', '')?.up2date, true);
        assert.equal(at('fresh', `${repoDirs[0]}/Packages/h`)?.up2date, true);
      }
      const fresh = await hostRow(db, nameOf(p, 'fresh'));
      assert.equal(fresh.last_crawl_method, p);
      assert.equal(fresh.crawl_failures, 0);
      assert.equal(fresh.reachable_ipv4, true);
      assert.equal(fresh.reachable_ipv6, false);
      const dead = await hostRow(db, nameOf(p, 'dead'));
      assert.equal(dead.crawl_failures, 1);
      const log = await lastLog(db, nameOf(p, 'dead'));
      assert.equal(log?.ok, false);
      assert.equal(log?.error_kind, 'refused');
      const ok = await lastLog(db, nameOf(p, 'fresh'));
      assert.ok(ok!.requests <= ok!.budget, `${p}: ${ok!.requests} requests within budget ${ok!.budget}`);
      assert.ok(ok!.lines.length > 0);
    }
    // Propagation of the key repository fedora-40 (one arch per repo: x86_64, aarch64, ppc64le).
    const { rows } = await db.query<{ host: string; behind: number | null }>(
      `SELECT h.name AS host, p.versions_behind AS behind FROM propagation_sample p JOIN host h ON h.id = p.host_id
        JOIN repository r ON r.id = p.repository_id WHERE r.arch = 'x86_64'`,
    );
    const behind = new Map(rows.map((r) => [r.host, r.behind]));
    assert.equal(behind.get(nameOf('http', 'fresh')), 0);
    assert.equal(behind.get(nameOf('http', 'stale-1')), 1);
    assert.equal(behind.get(nameOf('http', 'stale-3')), 3);
    assert.equal(behind.get(nameOf('ftp', 'stale-1')), 1);
    assert.equal(behind.get(nameOf('rsync', 'fresh')), 0);
    // Same-size repomd.xml: rsync alone can only guess (the newest older push of that size) …
    assert.equal(behind.get(nameOf('rsync', 'stale-3')), 1);
    // … the http hash of a key repository is exact.
    assert.equal(behind.get('both-stale-3.sim.test'), 3);
    assert.equal((await hostRow(db, 'both-stale-3.sim.test')).last_crawl_method, 'rsync');
    // A host that cannot be reached at all is sampled as unreachable, over every protocol …
    for (const p of PROTOCOLS) {
      assert.ok(behind.has(nameOf(p, 'dead')), `${p}: a dead host records a propagation sample`);
      assert.equal(behind.get(nameOf(p, 'dead')), null, `${p}: the dead host's sample says unreachable`);
    }
    // … and the status page's plot counts it so.
    const x86 = master.repos.find((r) => r.arch === 'x86_64')!;
    const series = await plotOf(db, x86.prefix, x86.arch);
    assert.equal(series.at(-1)!.counts.unreachable, 3, JSON.stringify(series.at(-1)));
    // The politeness figures are printed.
    assert.ok(result.notes?.some((n) => /^politeness: \d+ requests, at most \d+ on one host/.test(n)), result.notes?.join('\n'));
  });

  test('auto-disable after N failed crawls, re-enable on success, admin-disabled hosts untouched', { skip, timeout: 120_000 }, async (t) => {
    const mirrors = [MIRRORS.find((m) => m.name === nameOf('http', 'fresh'))!, MIRRORS.find((m) => m.name === nameOf('http', 'dead'))!];
    const { db } = await setup(t, backend, mirrors);
    const config = crawlConfig({ failuresBeforeDisable: 2 });
    const dead = nameOf('http', 'dead');
    await crawl(stageCtx(db, config, { resolver: net.resolver }));
    assert.equal((await hostRow(db, dead)).auto_disabled, false);
    await crawl(stageCtx(db, config, { resolver: net.resolver }));
    const disabled = await hostRow(db, dead);
    assert.equal(disabled.crawl_failures, 2);
    assert.equal(disabled.auto_disabled, true);
    assert.match(disabled.disable_reason!, /auto-disabled after 2 consecutive failed crawls; last errors: connection refused/);
    // The mirror comes back: point its URL at the fresh mirror's server.
    await db.query(`UPDATE host_category_url SET url = $1 WHERE host_category_id IN (SELECT hc.id FROM host_category hc JOIN host h ON h.id = hc.host_id WHERE h.name = $2)`, [
      net.urls.get(nameOf('http', 'fresh'))![0]!.replace(nameOf('http', 'fresh'), dead),
      dead,
    ]);
    await crawl(stageCtx(db, config, { resolver: staticResolver({ [dead]: { v4: ['127.0.0.1'], v6: [] } }, net.resolver) }));
    const back = await hostRow(db, dead);
    assert.deepEqual([back.crawl_failures, back.auto_disabled, back.disable_reason], [0, false, null]);
    // Back and current on the propagation plot; when it dies again it must not stay "current" there.
    const x86 = master.repos.find((r) => r.arch === 'x86_64')!;
    const latestOf = async () => {
      const series = await plotOf(db, x86.prefix, x86.arch);
      return series.at(-1)!.counts;
    };
    assert.deepEqual(await latestOf(), { current: 2, behind1: 0, behind2: 0, older: 0, unreachable: 0 });
    await crawl(stageCtx(db, config, { resolver: staticResolver({ [dead]: { v4: [], v6: [] } }, net.resolver) }));
    assert.deepEqual(await latestOf(), { current: 1, behind1: 0, behind2: 0, older: 0, unreachable: 1 }, 'a host whose name no longer resolves is unreachable');
    // An admin-disabled host is not crawled and keeps its state.
    await db.query(`UPDATE host SET admin_active = false, disable_reason = 'admin: abuse report' WHERE name = $1`, [dead]);
    const r = await crawl(stageCtx(db, config, { resolver: net.resolver }));
    assert.equal(r.stats?.hosts, 1);
    const admin = await hostRow(db, dead);
    assert.equal(admin.disable_reason, 'admin: abuse report');
  });

  test('outage guard: most hosts failing at once counts nothing and keeps freshness', { skip, timeout: 120_000 }, async (t) => {
    const { db } = await setup(t, backend);
    const config = crawlConfig({ outageMinHosts: 5 });
    await crawl(stageCtx(db, config, { resolver: net.resolver }));
    const before = await verdicts(db);
    // Our own resolver is broken: every host fails.
    const ctx = stageCtx(db, config, { resolver: staticResolver({}, null) });
    const result = await crawl(ctx);
    assert.equal(result.degraded, true);
    assert.equal(result.counts.failed, 0);
    assert.equal(result.stats?.outage, true);
    assert.ok(ctx.log.lines.some((l) => l.includes('outage guard')));
    const fresh = await hostRow(db, nameOf('http', 'fresh'));
    assert.equal(fresh.crawl_failures, 0, 'not counted against the mirror');
    assert.equal((await hostRow(db, nameOf('http', 'dead'))).crawl_failures, 1, 'only the earlier real failure');
    const log = await lastLog(db, nameOf('http', 'fresh'));
    assert.deepEqual([log?.ok, log?.counted], [false, false]);
    assert.deepEqual(await verdicts(db), before, 'freshness data kept');
  });

  test('a host whose categories are all always_up2date is not crawled and counts as ok', { skip, timeout: 60_000 }, async (t) => {
    const fresh = MIRRORS.find((m) => m.name === nameOf('http', 'fresh'))!;
    const { db, categoryId } = await setup(t, backend, [fresh]);
    // Its URL points at a closed port: any request would fail.
    await registerSimHosts(db, categoryId, [{ name: 'always.sim.test', urls: net.urls.get(nameOf('http', 'dead'))!, alwaysUp2date: true }]);
    const result = await crawl(stageCtx(db, crawlConfig(), { resolver: net.resolver }));
    assert.deepEqual(result.counts, { ok: 2, failed: 0, skipped: 0 });
    assert.equal(result.stats?.alwaysUp2date, 1);
    assert.ok(result.notes?.some((n) => /always_up2date: 1 host\(s\) not crawled, counted as ok/.test(n)), result.notes?.join('\n'));
    const log = await lastLog(db, 'always.sim.test');
    assert.equal(log?.requests, 0);
    assert.ok(log?.lines.some((l) => /always up to date, not crawled/.test(l)));
  });

  test('--host, --shard and --dry-run', { skip, timeout: 60_000 }, async (t) => {
    const { db } = await setup(t, backend);
    const config = crawlConfig();
    const one = await crawl(stageCtx(db, config, { resolver: net.resolver, host: nameOf('rsync', 'fresh'), dryRun: true }));
    assert.equal(one.stats?.hosts, 1);
    assert.equal((await verdicts(db)).size, 0, 'dry run writes nothing');
    let total = 0;
    for (const shard of ['1/3', '2/3', '3/3']) total += Number((await crawl(stageCtx(db, config, { resolver: net.resolver, shard, dryRun: true }))).stats?.hosts);
    assert.equal(total, MIRRORS.length, 'shards partition the hosts');
    await assert.rejects(crawl(stageCtx(db, config, { shard: '4/3' })), /--shard 4\/3/);
    await assert.rejects(crawl(stageCtx(db, config, { host: 'nope.example' })), /no active public host named nope\.example/);
  });
});
