// The probe over ftp and rsync against the simulated network's real daemons (vsftpd,
// the rsync daemon): hosts without an http(s) URL are probed too — an anonymous ftp
// login and one LIST, or one non-recursive rsync listing of the probed file — with
// the same hysteresis; dead, missing-file and hostile servers fail within the probe
// timeout — on PGlite and on Postgres.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { staticResolver } from '../../pipelines/net/dns.ts';
import { startGarbageRsync, startSilentPasvFtp, type Closable } from '../../pipelines/simnet/hostile.ts';
import { seedSimMaster, writeSimMaster, type SimMaster } from '../../pipelines/simnet/master.ts';
import { registerSimHosts, startSimNetwork, type SimMirror, type SimNetwork } from '../../pipelines/simnet/network.ts';
import { run as probe } from '../../pipelines/stages/probe.ts';
import { describeBackends, freshDb } from '../helpers/db.ts';
import { SIM_CATEGORY, stageCtx } from '../helpers/simnet.ts';
import { REQUIRE_SYSTEM, whichTool } from '../helpers/system.ts';
import { parseConfig } from '../../pipelines/core/config.ts';

const tools = { rsync: whichTool('rsync'), vsftpd: whichTool('vsftpd') };
const missingTools = Object.entries(tools).filter(([, p]) => !p).map(([n]) => n);
const skip = missingTools.length ? `SYSTEM TEST SKIPPED: ${missingTools.join(', ')} not installed (apt-get install rsync vsftpd)` : false;
if (skip && REQUIRE_SYSTEM) throw new Error(`${missingTools.join(', ')} required (MIRRORSMITH_REQUIRE_SYSTEM=1): apt-get install rsync vsftpd`);
if (skip) process.stderr.write(`\n*** ${skip}\n`);

const MIRRORS: SimMirror[] = (['ftp', 'rsync'] as const).flatMap((p) =>
  (['fresh', 'dead', 'missing-dir'] as const).map((b): SimMirror => ({ name: `${p}-${b}.probe.test`, behaviour: b, protocols: [p] })),
);
const TIMEOUT_MS = 1500;
const config = () => parseConfig({ probe: { failuresToDown: 2, successesToUp: 2, timeoutMs: TIMEOUT_MS, concurrency: 8, outageMinHosts: 20 } }, '');

let work: string;
let master: SimMaster;
let net: SimNetwork;
let silentFtp: Closable;
let garbageRsync: Closable;

before(async () => {
  if (skip) return;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-probe-'));
  master = writeSimMaster(path.join(work, 'master'), { repos: 3, pushes: 2 });
  // The probe's default file is the first repository's (by prefix, arch) repomd.xml: the missing-dir mirrors lack it.
  const first = [...master.repos].sort((a, b) => (a.prefix + a.arch < b.prefix + b.arch ? -1 : 1))[0]!;
  net = await startSimNetwork({ master, workDir: path.join(work, 'net'), mirrors: MIRRORS, tools, missingDir: first.dir });
  silentFtp = await startSilentPasvFtp();
  garbageRsync = await startGarbageRsync();
});

after(async () => {
  await silentFtp?.close();
  await garbageRsync?.close();
  await net?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

type Row = { name: string; probe_down: boolean; probe_fail_streak: number; probe_ok_streak: number; last_probed: Date | null };

describeBackends('probe over ftp and rsync', (backend) => {
  test('every host is probed; dead, missing and hostile ones go down after two runs, within the timeout', { skip, timeout: 60_000 }, async (t) => {
    const { db } = await freshDb(t, backend);
    const { categoryId } = await seedSimMaster(db, master, SIM_CATEGORY);
    await registerSimHosts(db, categoryId, [
      ...MIRRORS.map((m) => ({ name: m.name, urls: net.urls.get(m.name)! })),
      { name: 'silent-pasv.probe.test', urls: [`ftp://127.0.0.1:${silentFtp.port}/`] },
      { name: 'garbage-rsync.probe.test', urls: [`rsync://127.0.0.1:${garbageRsync.port}/linux/`] },
    ]);
    const options = { resolver: staticResolver({}, net.resolver) };

    const t0 = Date.now();
    const r1 = await probe(stageCtx(db, config(), options));
    assert.ok(Date.now() - t0 < 4 * TIMEOUT_MS + 3000, `a hung server costs its timeout, not the run (${Date.now() - t0} ms)`);
    assert.deepEqual(r1.counts, { ok: 2, failed: 6, skipped: 0 }, JSON.stringify(r1.failures, null, 1));
    assert.deepEqual([r1.stats!.ftp, r1.stats!.rsync, r1.stats!.http], [4, 4, 0]);
    const why = new Map(r1.failures.map((f) => [f.subject, f]));
    assert.equal(why.get('ftp-dead.probe.test')!.kind, 'refused');
    assert.equal(why.get('rsync-dead.probe.test')!.kind, 'refused');
    assert.match(why.get('ftp-missing-dir.probe.test')!.message, /LIST|550|not there/);
    assert.match(why.get('rsync-missing-dir.probe.test')!.message, /no repomd\.xml|No such file/);
    assert.ok(why.has('silent-pasv.probe.test') && why.has('garbage-rsync.probe.test'));

    await probe(stageCtx(db, config(), options));
    const rows = new Map((await db.query<Row>('SELECT name, probe_down, probe_fail_streak, probe_ok_streak, last_probed FROM host')).rows.map((r) => [r.name, r]));
    for (const p of ['ftp', 'rsync']) {
      const fresh = rows.get(`${p}-fresh.probe.test`)!;
      assert.deepEqual([fresh.probe_down, fresh.probe_ok_streak], [false, 2], p);
      for (const b of ['dead', 'missing-dir']) assert.deepEqual([rows.get(`${p}-${b}.probe.test`)!.probe_down, rows.get(`${p}-${b}.probe.test`)!.probe_fail_streak], [true, 2], `${p}-${b}`);
    }
    assert.equal(rows.get('silent-pasv.probe.test')!.probe_down, true);
    assert.equal(rows.get('garbage-rsync.probe.test')!.probe_down, true);
  });

  test('a probed-down ftp mirror comes back after two good probes', { skip, timeout: 60_000 }, async (t) => {
    const { db } = await freshDb(t, backend);
    const { categoryId } = await seedSimMaster(db, master, SIM_CATEGORY);
    const fresh = net.urls.get('ftp-fresh.probe.test')!;
    await registerSimHosts(db, categoryId, [{ name: 'ftp-fresh.probe.test', urls: fresh }]);
    await db.query(`UPDATE host SET probe_down = true, probe_fail_streak = 3 WHERE name = 'ftp-fresh.probe.test'`);
    const options = { resolver: net.resolver };
    const r1 = await probe(stageCtx(db, config(), options));
    assert.deepEqual(r1.counts, { ok: 1, failed: 0, skipped: 0 });
    let row = (await db.query<Row>(`SELECT name, probe_down, probe_fail_streak, probe_ok_streak, last_probed FROM host`)).rows[0]!;
    assert.deepEqual([row.probe_down, row.probe_ok_streak], [true, 1], 'one success is not enough');
    const r2 = await probe(stageCtx(db, config(), options));
    assert.equal(r2.stats!.cameBack, 1);
    row = (await db.query<Row>(`SELECT name, probe_down, probe_fail_streak, probe_ok_streak, last_probed FROM host`)).rows[0]!;
    assert.equal(row.probe_down, false);
  });
});
