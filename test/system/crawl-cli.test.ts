// `mirrorsmith crawl` end to end through the CLI: config file, embedded database,
// the orchestrator's run row, the summary and politeness lines, exit codes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { openDb } from '../../pipelines/core/db.ts';
import { migrate } from '../../pipelines/core/migrate.ts';
import { seedSimMaster, writeSimMaster, type SimMaster } from '../../pipelines/simnet/master.ts';
import { registerSimHosts, startSimNetwork, type SimNetwork } from '../../pipelines/simnet/network.ts';
import { REQUIRE_SYSTEM, whichTool } from '../helpers/system.ts';
import { SIM_CATEGORY } from '../helpers/simnet.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const tools = { nginx: whichTool('nginx'), rsync: whichTool('rsync'), vsftpd: whichTool('vsftpd') };
const missingTools = Object.entries(tools).filter(([n, p]) => n !== 'vsftpd' && !p).map(([n]) => n);
const skip = missingTools.length ? `SYSTEM TEST SKIPPED: ${missingTools.join(', ')} not installed (apt-get install nginx-light rsync)` : false;
if (skip && REQUIRE_SYSTEM) throw new Error(`${missingTools.join(', ')} required (MIRRORSMITH_REQUIRE_SYSTEM=1)`);

let work: string;
let master: SimMaster;
let net: SimNetwork;

before(async () => {
  if (skip) return;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-crawl-cli-'));
  master = writeSimMaster(path.join(work, 'master'), { repos: 2, pushes: 2 });
  net = await startSimNetwork({
    master,
    workDir: path.join(work, 'net'),
    mirrors: [
      { name: 'web.sim.test', behaviour: 'fresh', protocols: ['http'] },
      { name: 'sync.sim.test', behaviour: 'stale-1', protocols: ['rsync'] },
    ],
    tools,
  });
});

after(async () => {
  await net?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** Runs the CLI without blocking this process (it owns the simulated mirrors' daemons). */
function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true' };
  delete env.DATABASE_URL;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'pipelines/cli.ts'), '-c', path.join(work, 'mirrorsmith.yaml'), ...args], { cwd: ROOT, env });
    let out = '';
    let err = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (err += b));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

test('mirrorsmith crawl: exit codes, summary, politeness, stored verdicts', { skip, timeout: 300_000 }, async () => {
  fs.writeFileSync(
    path.join(work, 'mirrorsmith.yaml'),
    `database:\n  dataDir: ${path.join(work, 'db')}\ncategories:\n  - name: ${SIM_CATEGORY.name}\n    topdir: ${SIM_CATEGORY.topdir}\n` +
      `    source: { type: local, path: ${master.current} }\n    keyRepos: [fedora-40]\ncrawl:\n  requestTimeoutMs: 3000\n  hostTimeoutMs: 20000\n`,
  );
  // Seed as registry apply and scan-master would have; URLs by address (the CLI uses the system resolver).
  const db = await openDb({ dataDir: path.join(work, 'db'), holder: 'test seed' });
  try {
    await migrate(db);
    const { categoryId } = await seedSimMaster(db, master, SIM_CATEGORY);
    await registerSimHosts(db, categoryId, [
      { name: 'web.sim.test', urls: net.urls.get('web.sim.test')!.map((u) => u.replace('web.sim.test', '127.0.0.1')) },
      { name: 'sync.sim.test', urls: net.urls.get('sync.sim.test')!.map((u) => u.replace('sync.sim.test', '127.0.0.1')) },
    ]);
  } finally {
    await db.close();
  }

  const bad = await cli(['crawl', '--shard', '3/2']);
  assert.equal(bad.code, 2, bad.err);
  assert.match(bad.err, /--shard 3\/2: i must be between 1 and N/);

  const dry = await cli(['crawl', '--dry-run', '--host', 'web.sim.test']);
  assert.equal(dry.code, 0, dry.err);
  assert.match(dry.err, /dry run: nothing written/);

  const r = await cli(['crawl']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /crawl ok=2 failed=0 skipped=0 hosts=2 requests=\d+/);
  assert.match(r.err, /politeness: \d+ requests, at most \d+ on one host \(.* of a budget of 22 = repositories \+ 20\), 0 host\(s\) over budget/);

  const check = await openDb({ dataDir: path.join(work, 'db'), holder: 'test check' });
  try {
    const { rows } = await check.query<{ host: string; dir: string; up2date: boolean }>(
      `SELECT h.name AS host, d.name AS dir, hcd.up2date FROM host_category_dir hcd JOIN host_category hc ON hc.id = hcd.host_category_id
         JOIN host h ON h.id = hc.host_id JOIN directory d ON d.id = hcd.directory_id WHERE d.name = $1`,
      [master.repos[0]!.dir],
    );
    assert.deepEqual(Object.fromEntries(rows.map((x) => [x.host, x.up2date])), { 'web.sim.test': true, 'sync.sim.test': false });
    const run = await check.query<{ status: string; stages: Array<{ stage: string; status: string }> }>('SELECT status, stages FROM pipeline_run ORDER BY id DESC LIMIT 1');
    assert.equal(run.rows[0]!.status, 'ok');
    assert.equal(run.rows[0]!.stages[0]!.stage, 'crawl');
    const log = await check.query<{ n: number }>('SELECT count(*)::int AS n FROM crawl_log');
    assert.equal(log.rows[0]!.n, 2, 'the dry run logged nothing');
  } finally {
    await check.close();
  }
});
