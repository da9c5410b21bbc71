// Hostile mirrors: each must cost only its own host, with the reason recorded,
// and the crawl must finish in bounded time while an honest mirror next to them
// is crawled normally. Also address families: A/AAAA resolved, each checked,
// reachability per family stored (127.0.0.1 and ::1).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { staticResolver } from '../../pipelines/net/dns.ts';
import { run as crawl } from '../../pipelines/stages/crawl.ts';
import { startGarbageRsync, startHostileHttp, startSilentPasvFtp, type Closable, type HostileHttp } from '../../pipelines/simnet/hostile.ts';
import { seedSimMaster, writeSimMaster, type SimMaster } from '../../pipelines/simnet/master.ts';
import { registerSimHosts, startSimNetwork, type SimMirror, type SimNetwork } from '../../pipelines/simnet/network.ts';
import { freshDb } from '../helpers/db.ts';
import { REQUIRE_SYSTEM, whichTool } from '../helpers/system.ts';
import { SIM_CATEGORY, crawlConfig, hostRow, lastLog, stageCtx, verdicts } from '../helpers/simnet.ts';

const tools = { nginx: whichTool('nginx'), rsync: whichTool('rsync'), vsftpd: whichTool('vsftpd') };
const missingTools = Object.entries(tools).filter(([, p]) => !p).map(([n]) => n);
const skip = missingTools.length ? `SYSTEM TEST SKIPPED: ${missingTools.join(', ')} not installed (apt-get install nginx-light rsync vsftpd)` : false;
if (skip && REQUIRE_SYSTEM) throw new Error(`${missingTools.join(', ')} required (MIRRORSMITH_REQUIRE_SYSTEM=1): apt-get install nginx-light rsync vsftpd`);

const HTTP_MODES: HostileHttp[] = ['drip', 'endless', 'huge', 'huge-declared', 'redirect-loop', 'redirect-file', 'redirect-other', 'short-body', 'long-body'];

let work: string;
let master: SimMaster;
let net: SimNetwork;
const servers: Closable[] = [];

const honest: SimMirror[] = [
  { name: 'honest.sim.test', behaviour: 'fresh', protocols: ['http'] },
  { name: 'dual.sim.test', behaviour: 'fresh', protocols: ['http'], families: [4, 6] },
  { name: 'v4only.sim.test', behaviour: 'fresh', protocols: ['http'], families: [4], resolvesTo: [4, 6] },
  { name: 'v6only.sim.test', behaviour: 'fresh', protocols: ['http'], families: [6] },
  { name: 'v6rsync.sim.test', behaviour: 'fresh', protocols: ['rsync'], families: [4], resolvesTo: [6] },
];

before(async () => {
  if (skip) return;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-hostile-'));
  master = writeSimMaster(path.join(work, 'master'), { repos: 3, pushes: 2 });
  net = await startSimNetwork({ master, workDir: path.join(work, 'net'), mirrors: honest, tools });
});

after(async () => {
  for (const s of servers) await s.close();
  await net?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('crawl isolation', () => {
  test('every hostile mirror costs only its host, with its reason recorded', { skip, timeout: 120_000 }, async (t) => {
    const { db } = await freshDb(t, 'pglite');
    const { categoryId } = await seedSimMaster(db, master, SIM_CATEGORY);
    const honestUrl = net.urls.get('honest.sim.test')![0]!;
    const hostile: Array<{ name: string; url: string }> = [];
    for (const mode of HTTP_MODES) {
      const s = await startHostileHttp(mode, { otherUrl: honestUrl.replace('honest.sim.test', '127.0.0.1') });
      servers.push(s);
      hostile.push({ name: `${mode}.hostile.test`, url: `http://127.0.0.1:${s.port}/linux/` });
    }
    const garbage = await startGarbageRsync();
    const silent = await startSilentPasvFtp();
    servers.push(garbage, silent);
    hostile.push({ name: 'garbage-rsync.hostile.test', url: `rsync://127.0.0.1:${garbage.port}/linux/` });
    hostile.push({ name: 'silent-pasv.hostile.test', url: `ftp://127.0.0.1:${silent.port}/` });
    hostile.push({ name: 'nxdomain.hostile.test', url: 'http://mirror.nowhere.invalid/linux/' });
    await registerSimHosts(db, categoryId, [...hostile, { name: 'honest.sim.test', url: honestUrl }].map((h) => ({ name: h.name, urls: [h.url] })));

    const config = crawlConfig({ requestTimeoutMs: 1500, hostTimeoutMs: 8000, maxResponseBytes: 256 * 1024, outageMinHosts: 100 });
    const rssBefore = process.memoryUsage().rss;
    const t0 = performance.now();
    const result = await crawl(stageCtx(db, config, { resolver: net.resolver }));
    const seconds = (performance.now() - t0) / 1000;
    const rssGrowth = process.memoryUsage().rss - rssBefore;
    assert.ok(seconds < 30, `crawl took ${seconds}s`);
    assert.ok(rssGrowth < 200 * 1024 * 1024, `RSS grew by ${rssGrowth} bytes: a huge body was held in memory`);
    assert.equal(result.counts.ok, 1, JSON.stringify(result.failures, null, 1));
    assert.equal(result.counts.failed, hostile.length);

    const expect: Record<string, RegExp> = {
      'drip.hostile.test': /timed out/,
      'endless.hostile.test': /response too large: more than 262144 bytes/,
      'huge.hostile.test': /response too large: more than 262144 bytes/,
      'huge-declared.hostile.test': /Content-Length 1073741824 exceeds/,
      'redirect-loop.hostile.test': /too many redirects/,
      'redirect-file.hostile.test': /scheme file, only http and https/,
      'redirect-other.hostile.test': /redirect off host refused/,
      'short-body.hostile.test': /closed mid-body|Content-Length|connection reset/,
      'long-body.hostile.test': /Content-Length|HPE_|protocol|body/,
      'garbage-rsync.hostile.test': /rsync/,
      'silent-pasv.hostile.test': /timed out|Timeout|timeout/i,
      'nxdomain.hostile.test': /does not resolve/,
    };
    for (const [name, re] of Object.entries(expect)) {
      const row = await hostRow(db, name);
      const log = await lastLog(db, name);
      assert.equal(log?.ok, false, `${name} failed`);
      assert.match(log!.summary, re, `${name}: ${log!.summary}`);
      assert.equal(row.crawl_failures, 1, name);
      assert.ok(log!.requests <= log!.budget, `${name} within budget`);
    }
    assert.equal((await lastLog(db, 'nxdomain.hostile.test'))?.error_kind, 'dns');
    assert.equal((await lastLog(db, 'drip.hostile.test'))?.error_kind, 'timeout');
    const ok = await lastLog(db, 'honest.sim.test');
    assert.equal(ok?.ok, true, ok?.summary);
    const v = await verdicts(db);
    assert.equal(v.get(`honest.sim.test ${master.repos[0]!.dir}`)?.up2date, true);
  });

  test('A and AAAA are each checked; reachability per family is stored', { skip, timeout: 60_000 }, async (t) => {
    const { db } = await freshDb(t, 'pglite');
    const { categoryId } = await seedSimMaster(db, master, SIM_CATEGORY);
    await registerSimHosts(db, categoryId, honest.map((m) => ({ name: m.name, urls: net.urls.get(m.name)! })));
    const result = await crawl(stageCtx(db, crawlConfig(), { resolver: net.resolver }));
    assert.equal(result.counts.failed, 1, JSON.stringify(result.failures));
    const fam = async (n: string) => {
      const h = await hostRow(db, n);
      return [h.reachable_ipv4, h.reachable_ipv6];
    };
    assert.deepEqual(await fam('dual.sim.test'), [true, true]);
    assert.deepEqual(await fam('v4only.sim.test'), [true, false], 'AAAA published but nothing answers on ::1');
    assert.deepEqual(await fam('v6only.sim.test'), [false, true]);
    assert.deepEqual(await fam('honest.sim.test'), [true, false]);
    // Crawled over IPv6 when IPv4 is absent: its verdicts are real.
    const v = await verdicts(db);
    assert.equal(v.get(`v6only.sim.test ${master.repos[0]!.dir}`)?.up2date, true);
    // Resolves only to ::1 where nothing serves rsync: unreachable, failed, said so.
    const log = await lastLog(db, 'v6rsync.sim.test');
    assert.equal(log?.ok, false);
    assert.deepEqual(await fam('v6rsync.sim.test'), [false, false]);
    assert.ok(log!.lines.some((l) => /AAAA ::1/.test(l)), log!.lines.join('\n'));
    // Sanity: the resolver override is how names reach loopback here.
    await assert.rejects(staticResolver({}, null).resolve('x.sim.test'), /does not resolve/);
  });
});
