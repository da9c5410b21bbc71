// Private-mirror reports end to end: the generated fragment and htpasswd served by
// the real nginx, the report client PUTting through WebDAV, then the ingest stage
// applying or rejecting what landed in the spool — on PGlite and on Postgres.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, it } from 'node:test';
import { createGenerationWriter } from '../../pipelines/core/generation.ts';
import type { Db } from '../../pipelines/core/db.ts';
import { openDb } from '../../pipelines/core/db.ts';
import { migrate } from '../../pipelines/core/migrate.ts';
import { buildReport, describeStatus, fetchStatus, parseClientConfig, uploadReport, walkCategory } from '../../pipelines/report/client.ts';
import { REPORTS_FRAGMENT, REPORTS_HTPASSWD, reportsEmitter } from '../../pipelines/report/emitter.ts';
import { apr1, verifyApr1 } from '../../pipelines/report/htpasswd.ts';
import { depositReport } from '../../pipelines/report/spool.ts';
import { startNginx, type RunningNginx } from '../../pipelines/serve/nginx.ts';
import { run as ingest } from '../../pipelines/stages/ingest.ts';
import pg from 'pg';
import { describeBackends, freshDb, PG_URL } from '../helpers/db.ts';
import { CATEGORY, OS, REPOMD, UPD, makeMirrorTree, seedNetwork, sha256, stageContext, type Seeded } from '../helpers/report-fixture.ts';
import { REQUIRE_SYSTEM, whichTool } from '../helpers/system.ts';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
// Absolute, so the CLI children may run in a temp directory.
const TSX = import.meta.resolve('tsx');
const PASSWORDS = { priv1: 'priv1-secret-pw', priv2: 'priv2-secret-pw', pub1: 'pub1-secret-pw' };
const MAX_REPORT = 1024 * 1024;

function nginxOrSkip(): string | null {
  const bin = whichTool('nginx');
  if (bin) return bin;
  if (REQUIRE_SYSTEM) throw new Error('"nginx" is required (MIRRORSMITH_REQUIRE_SYSTEM=1) but not installed: apt-get install nginx-light');
  process.stderr.write('\n*** SYSTEM TEST SKIPPED: "nginx" not installed (apt-get install nginx-light)\n');
  return null;
}

/** A raw PUT (for cases the client would never send); the body is streamed, never buffered whole. */
function rawPut(url: string, user: string, password: string, body: Readable, length: number, expect: boolean): Promise<{ status: number; pulled: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'PUT',
      headers: { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`, 'Content-Length': String(length), ...(expect ? { Expect: '100-continue' } : {}) },
    });
    const timer = setTimeout(() => req.destroy(new Error('raw PUT timed out')), 20_000);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => {
        clearTimeout(timer);
        body.destroy();
        resolve({ status: res.statusCode ?? 0, pulled: (body as Readable & { produced?: number }).produced ?? -1 });
      });
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    if (expect) req.on('continue', () => body.pipe(req));
    else body.pipe(req);
  });
}

/** `total` bytes of filler produced lazily in 64 KiB chunks; `produced` counts what was pulled. */
function lazyBody(total: number): Readable & { produced: number } {
  let left = total;
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const stream = new Readable({
    read() {
      if (left <= 0) return this.push(null);
      const n = Math.min(left, chunk.length);
      left -= n;
      stream.produced += n;
      this.push(chunk.subarray(0, n));
    },
  }) as Readable & { produced: number };
  stream.produced = 0;
  return stream;
}

describeBackends('report upload through nginx + ingest', (backend) => {
  let db: Db;
  let dbUrl: string | undefined;
  let seeded: Seeded;
  let tmp: string;
  let nginx: RunningNginx | null = null;
  let spool: { incoming: string; processed: string; rejected: string; status: string };
  let config: Record<string, unknown>;
  const skip = !whichTool('nginx') && !REQUIRE_SYSTEM;

  before(async () => {
    if (!nginxOrSkip()) return;
    ({ db, url: dbUrl } = await freshDb(undefined, backend));
    seeded = await seedNetwork(db);
    for (const [k, pw] of Object.entries(PASSWORDS)) await db.query('UPDATE host SET report_password_hash = $2 WHERE name = $1', [`${k}.example.org`, apr1(pw)]);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorsmith-report-'));
    spool = { incoming: path.join(tmp, 'reports/incoming'), processed: path.join(tmp, 'reports/processed'), rejected: path.join(tmp, 'reports/rejected'), status: path.join(tmp, 'reports/status') };
    config = { ingest: { spoolDir: spool.incoming, processedDir: spool.processed, rejectedDir: spool.rejected, statusDir: spool.status, maxReportBytes: MAX_REPORT } };
    const ctx = stageContext(db, config);
    const genDir = path.join(tmp, 'out/generations/g1');
    const result = await reportsEmitter.emit(ctx, createGenerationWriter(genDir, 'g1'));
    assert.equal(result.counts.reportAccounts, 2, 'only private hosts get an account');
    nginx = await startNginx({ outDir: path.join(tmp, 'out'), root: genDir });
  });

  after(async () => {
    await nginx?.stop();
    if (db) await db.close().catch(() => {});
    if (dbUrl) {
      // freshDb cleans up after a test context; this suite-wide one is dropped here.
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${new URL(dbUrl).pathname.slice(1)} WITH (FORCE)`);
      await admin.end();
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const mirror = (name: string, opts: Parameters<typeof makeMirrorTree>[1]) => {
    const root = path.join(tmp, 'mirrors', name, 'linux');
    makeMirrorTree(root, opts);
    return root;
  };
  const clientConfig = (host: string, site: string, root: string, password: string) =>
    parseClientConfig({ server: nginx!.url, site, host, password, categories: [{ name: CATEGORY, path: root }] }, path.join(tmp, 'report.yaml'));

  it('the generated htpasswd holds only apr1 hashes htpasswd(1) verifies', { skip }, (t) => {
    const text = fs.readFileSync(path.join(tmp, 'out/generations/g1', REPORTS_HTPASSWD), 'utf8');
    assert.match(text, /^lab\/priv1\.example\.org:\$apr1\$/m);
    assert.ok(!text.includes(PASSWORDS.priv1));
    assert.ok(fs.readFileSync(path.join(tmp, 'out/generations/g1', REPORTS_FRAGMENT), 'utf8').includes(spool.incoming));
    const htpasswd = whichTool('htpasswd');
    if (!htpasswd) {
      if (REQUIRE_SYSTEM) throw new Error('htpasswd is required: apt-get install apache2-utils');
      return t.skip('htpasswd not installed (apache2-utils)');
    }
    const file = path.join(tmp, 'out/generations/g1', REPORTS_HTPASSWD);
    execFileSync(htpasswd, ['-vb', file, 'lab/priv1.example.org', PASSWORDS.priv1], { stdio: 'pipe' });
    assert.throws(() => execFileSync(htpasswd, ['-vb', file, 'lab/priv1.example.org', 'wrong-password'], { stdio: 'pipe' }));
  });

  it('the client walks the copy: directories and repomd.xml sha256, no dot-dirs, no files', { skip }, async () => {
    const root = mirror('walk', { updates: 'old' });
    fs.mkdirSync(path.join(root, 'updates', 'bad\nname'));
    const cat = await walkCategory(CATEGORY, root, { maxDirectories: 1000 });
    assert.ok(!cat.directories.some((d) => d.includes('\n')), 'a name the report cannot carry is left out');
    assert.ok(cat.directories.includes(OS) && cat.directories.includes(`${UPD}/repodata`));
    assert.ok(!cat.directories.some((d) => d.includes('.~tmp~')));
    assert.deepEqual(cat.repomd, { [OS]: sha256(REPOMD.os), [UPD]: sha256(REPOMD.updOld) });
    await assert.rejects(walkCategory(CATEGORY, root, { maxDirectories: 3 }), /more than 3 directories/);
    await assert.rejects(walkCategory(CATEGORY, path.join(root, 'nope'), { maxDirectories: 3 }), /cannot read .*ENOENT/);
    // Bounded in time too: a huge (or hanging network) filesystem ends with a clear message.
    const wide = path.join(tmp, 'mirrors', 'wide');
    for (let i = 0; i < 2000; i++) fs.mkdirSync(path.join(wide, `d${i}`, 'sub'), { recursive: true });
    await assert.rejects(
      buildReport({ site: 'lab', host: 'priv1.example.org', baseDir: tmp, maxDirectories: 100_000, walkTimeoutMs: 5, categories: [{ name: CATEGORY, path: wide }] }),
      /took longer than walkTimeoutMs \(5 ms\); nothing was uploaded/,
    );
  });

  it('a wrong password gets 401 with a clear message, and nothing is stored', { skip }, async () => {
    const cfg = clientConfig('priv1.example.org', 'lab', mirror('priv1-bad', { updates: 'new' }), 'not-the-password');
    const body = Buffer.from(JSON.stringify(await buildReport(cfg)));
    const out = await uploadReport(body, { server: cfg.server, site: cfg.site, host: cfg.host, password: 'not-the-password' }, { timeoutMs: 10_000 });
    assert.equal(out.ok, false);
    assert.ok(!out.ok && out.status === 401 && /authentication failed for user "lab\/priv1.example.org"/.test(out.message), JSON.stringify(out));
    assert.ok(!fs.existsSync(path.join(spool.incoming, 'lab/priv1.example.org.json')));
  });

  it("a host cannot write another host's path (403), nor read reports back", { skip }, async () => {
    const url = `${nginx!.url}/reports/lab/priv1.example.org.json`;
    const r = await rawPut(url, 'lab/priv2.example.org', PASSWORDS.priv2, Readable.from([Buffer.from('{}')]), 2, false);
    assert.equal(r.status, 403);
    const get = await fetch(url, { headers: { Authorization: `Basic ${Buffer.from(`lab/priv1.example.org:${PASSWORDS.priv1}`).toString('base64')}` } });
    assert.equal(get.status, 403);
    const noAuth = await fetch(url, { method: 'PUT', body: '{}' });
    assert.equal(noAuth.status, 401, 'no credentials: the basic-auth challenge');
    assert.match(noAuth.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    assert.ok(!fs.existsSync(path.join(spool.incoming, 'lab/priv1.example.org.json')));
  });

  it('a 50 MB report is refused with 413 before its body is read', { skip }, async () => {
    const url = `${nginx!.url}/reports/lab/priv2.example.org.json`;
    const size = 50 * 1024 * 1024;
    const rssBefore = process.memoryUsage().rss;
    const withExpect = await rawPut(url, 'lab/priv2.example.org', PASSWORDS.priv2, lazyBody(size), size, true);
    assert.equal(withExpect.status, 413);
    assert.ok(withExpect.pulled <= 64 * 1024, `nginx answered 413 to Expect: 100-continue before the body (${withExpect.pulled} bytes produced)`);
    // Without Expect the client starts streaming; nginx still answers 413 from the header.
    const blind = await rawPut(url, 'lab/priv2.example.org', PASSWORDS.priv2, lazyBody(size), size, false).catch((err: Error) => ({ status: -1, pulled: 0, err }));
    assert.ok(blind.status === 413 || blind.status === -1, `status ${blind.status}`);
    // (How much of the body the client manages to send before the 413 arrives is timing:
    // nginx discards what it still receives, so a loaded machine may push all of it.)
    assert.ok(process.memoryUsage().rss - rssBefore < 40 * 1024 * 1024, 'the body was streamed, not held in memory');
    assert.ok(!fs.existsSync(path.join(spool.incoming, 'lab/priv2.example.org.json')));
    const errorLog = fs.readFileSync(path.join(nginx!.prefixDir, 'logs/error.log'), 'utf8');
    assert.match(errorLog, /client intended to send too large body/);
  });

  it('the report CLI uploads (201), then ingest applies it in one go', { skip }, async () => {
    const root = mirror('priv1', { updates: 'old' });
    const pwFile = path.join(tmp, 'priv1.pw');
    fs.writeFileSync(pwFile, PASSWORDS.priv1 + '\n', { mode: 0o600 });
    const yamlFile = path.join(tmp, 'priv1-report.yaml');
    fs.writeFileSync(yamlFile, `server: ${nginx!.url}\nsite: lab\nhost: priv1.example.org\npasswordFile: priv1.pw\ntimeoutMs: 20000\ncategories:\n  - name: ${CATEGORY}\n    path: mirrors/priv1/linux\n`);
    const cli = await runCli(['report', '--config', yamlFile]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stderr, /uploaded to http:\/\/127\.0\.0\.1:\d+\/reports\/lab\/priv1\.example\.org\.json \(HTTP 201\)/);
    assert.ok(fs.existsSync(path.join(spool.incoming, 'lab/priv1.example.org.json')));

    // Same client, wrong password in the file: exit 1 and the 401 explained.
    fs.writeFileSync(pwFile, 'wrong-password-here\n');
    const bad = await runCli(['report', '--config', yamlFile]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /authentication failed for user "lab\/priv1.example.org" \(HTTP 401\)/);
  });

  it('a public host cannot upload (401); its report is rejected at ingest even if one lands; unknown directories too', { skip }, async () => {
    const pub = clientConfig('pub1.example.org', 'pubsite', mirror('pub1', { updates: 'new' }), PASSWORDS.pub1);
    const pubReport = await buildReport(pub);
    const pubOut = await uploadReport(Buffer.from(JSON.stringify(pubReport)), { ...pub, password: PASSWORDS.pub1 }, { timeoutMs: 10_000 });
    assert.ok(!pubOut.ok && pubOut.status === 401, JSON.stringify(pubOut));
    // As if uploaded while the host was still private: ingest must refuse it anyway.
    depositReport(spool.incoming, pubReport, JSON.stringify(pubReport));
    const p2 = clientConfig('priv2.example.org', 'lab', mirror('priv2', { updates: 'new', extraDirs: ['releases/99/Everything', 'lost+found'] }), PASSWORDS.priv2);
    const p2Out = await uploadReport(Buffer.from(JSON.stringify(await buildReport(p2))), { ...p2, password: PASSWORDS.priv2 }, { timeoutMs: 10_000 });
    assert.ok(p2Out.ok, JSON.stringify(p2Out));
    // Something that never came through nginx.
    fs.writeFileSync(path.join(spool.incoming, 'stray.txt'), 'not a report');
  });

  it('ingest: processed for the private host, rejected with reasons for the rest; public host untouched', { skip }, async () => {
    const ctx = stageContext(db, config);
    const result = await ingest(ctx);
    assert.equal(result.counts.ok, 1, JSON.stringify(result.failures));
    assert.equal(result.counts.failed, 3);
    const reasons = new Map(result.failures.map((f) => [f.subject, f.message]));
    assert.match(reasons.get('pubsite/pub1.example.org') ?? '', /is public: public mirrors are crawled/);
    assert.match(reasons.get('lab/priv2.example.org') ?? '', /not in the master list: "lost\+found", "releases\/99", "releases\/99\/Everything"/);
    assert.match(reasons.get('stray.txt') ?? '', /not a <site>\/<host>\.json report path/);

    // priv1: os current → up to date; updates at the previous push → behind.
    const rows = await db.query<{ name: string; up2date: boolean; reason: string }>(
      `SELECT d.name, hcd.up2date, hcd.reason FROM host_category_dir hcd JOIN directory d ON d.id = hcd.directory_id
        WHERE hcd.host_category_id = $1 ORDER BY d.name`,
      [seeded.hosts.priv1.hostCategoryId],
    );
    const v = new Map(rows.rows.map((r) => [r.name, r]));
    assert.equal(rows.rows.length, seeded.dirIds.size);
    assert.equal(v.get(OS)!.up2date, true);
    assert.equal(v.get(UPD)!.up2date, false);
    assert.match(v.get(UPD)!.reason, /previous push \(-1\)/);
    const hosts = await db.query<{ name: string; last_checked_in: Date | null }>('SELECT name, last_checked_in FROM host ORDER BY name');
    const checked = new Map(hosts.rows.map((h) => [h.name, h.last_checked_in]));
    assert.ok(checked.get('priv1.example.org'));
    assert.equal(checked.get('pub1.example.org'), null, 'a report never touches a public host');
    assert.equal(checked.get('priv2.example.org'), null);
    const pubRows = await db.query('SELECT 1 FROM host_category_dir WHERE host_category_id = $1', [seeded.hosts.pub1.hostCategoryId]);
    assert.equal(pubRows.rowCount, 0);

    // Filed: processed/ for priv1, rejected/ with .reason for the others; the spool is empty.
    const processed = fs.readdirSync(path.join(spool.processed, 'lab/priv1.example.org'));
    assert.equal(processed.filter((f) => f.endsWith('.json')).length, 1);
    const rejDir = path.join(spool.rejected, 'pubsite/pub1.example.org');
    const reasonFile = fs.readdirSync(rejDir).find((f) => f.endsWith('.reason'))!;
    assert.match(fs.readFileSync(path.join(rejDir, reasonFile), 'utf8'), /is public/);
    assert.ok(fs.readdirSync(path.join(spool.rejected, '_stray')).some((f) => f.endsWith('.reason')));
    assert.deepEqual(fs.readdirSync(path.join(spool.incoming, 'lab')), []);

    // A second run finds nothing to do.
    const again = await ingest(stageContext(db, config));
    assert.deepEqual(again.counts, { ok: 0, failed: 0, skipped: 0 });
  });

  it('each host reads back the outcome of its own last report, and only its own', { skip }, async () => {
    const p1 = await fetchStatus({ server: nginx!.url, site: 'lab', host: 'priv1.example.org', password: PASSWORDS.priv1 }, { timeoutMs: 10_000 });
    assert.ok(p1.ok && p1.status?.outcome === 'processed', JSON.stringify(p1));
    assert.match(describeStatus(p1.ok ? p1.status : null), /last report processed at .*: 11 directories up to date, 1 behind, 0 absent/);
    const p2 = await fetchStatus({ server: nginx!.url, site: 'lab', host: 'priv2.example.org', password: PASSWORDS.priv2 }, { timeoutMs: 10_000 });
    assert.ok(p2.ok && p2.status?.outcome === 'rejected');
    assert.match(describeStatus(p2.ok ? p2.status : null), /REJECTED .*not in the master list: "lost\+found"/);
    // priv2 asking for priv1's outcome: the own-path rule holds for reading too.
    const other = await fetch(`${nginx!.url}/reports/lab/priv1.example.org.status`, { headers: { Authorization: `Basic ${Buffer.from(`lab/priv2.example.org:${PASSWORDS.priv2}`).toString('base64')}` } });
    assert.equal(other.status, 403);
    const bad = await fetchStatus({ server: nginx!.url, site: 'lab', host: 'priv1.example.org', password: 'wrong-password' }, { timeoutMs: 10_000 });
    assert.ok(!bad.ok && bad.httpStatus === 401);
    // The CLI: --status exits 1 for a rejected last report and says why.
    const yamlFile = path.join(tmp, 'priv2-report.yaml');
    fs.writeFileSync(yamlFile, `server: ${nginx!.url}\nsite: lab\nhost: priv2.example.org\npassword: ${PASSWORDS.priv2}\ncategories:\n  - name: ${CATEGORY}\n    path: mirrors/priv2/linux\n`);
    const cli = await runCli(['report', '--config', yamlFile, '--status']);
    assert.equal(cli.code, 1, cli.stderr);
    assert.match(cli.stdout, /last report REJECTED at .*releases\/99/);
  });

  it('a fresh upload after the mirror catches up marks the repository up to date', { skip }, async () => {
    const root = path.join(tmp, 'mirrors', 'priv1', 'linux');
    fs.writeFileSync(path.join(root, UPD, 'repodata', 'repomd.xml'), REPOMD.updNew);
    const cfg = clientConfig('priv1.example.org', 'lab', root, PASSWORDS.priv1);
    const out = await uploadReport(Buffer.from(JSON.stringify(await buildReport(cfg))), { ...cfg, password: PASSWORDS.priv1 }, { timeoutMs: 10_000 });
    assert.ok(out.ok && out.status === 201, JSON.stringify(out)); // ingest moved the previous one away
    const result = await ingest(stageContext(db, config));
    assert.equal(result.counts.ok, 1);
    const r = await db.query<{ up2date: boolean }>('SELECT up2date FROM host_category_dir WHERE host_category_id = $1 AND directory_id = $2', [seeded.hosts.priv1.hostCategoryId, seeded.dirIds.get(UPD)]);
    assert.equal(r.rows[0]!.up2date, true);
  });

  it('ingest refuses an oversized report without reading it', { skip }, async () => {
    const file = path.join(spool.incoming, 'lab/priv2.example.org.json');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const fd = fs.openSync(file, 'w');
    fs.ftruncateSync(fd, MAX_REPORT + 1); // sparse: big on paper, nothing to read
    fs.closeSync(fd);
    const result = await ingest(stageContext(db, config));
    assert.equal(result.counts.failed, 1);
    assert.match(result.failures[0]!.message, new RegExp(`${MAX_REPORT + 1} bytes, more than ingest.maxReportBytes`));
  });

  it('a report older than ingest.staleAfterHours is rejected; a silent private host loses its verdicts', { skip }, async () => {
    const cfg = clientConfig('priv2.example.org', 'lab', mirror('priv2-old', { updates: 'new' }), PASSWORDS.priv2);
    const old = await buildReport(cfg, { now: new Date(Date.now() - 100 * 3600_000) });
    const out = await uploadReport(Buffer.from(JSON.stringify(old)), { ...cfg, password: PASSWORDS.priv2 }, { timeoutMs: 10_000 });
    assert.ok(out.ok, JSON.stringify(out));
    await db.query(`UPDATE host SET last_checked_in = now() - interval '100 hours' WHERE name = 'priv1.example.org'`);
    const result = await ingest(stageContext(db, config));
    assert.equal(result.counts.failed, 1);
    assert.match(result.failures[0]!.message, /more than 72 hours ago/);
    assert.ok(Number(result.stats!.expired) >= 1);
    const up = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM host_category_dir WHERE host_category_id = $1 AND up2date', [seeded.hosts.priv1.hostCategoryId]);
    assert.equal(up.rows[0]!.n, 0);
    const why = await db.query<{ reason: string }>('SELECT reason FROM host_category_dir WHERE host_category_id = $1 LIMIT 1', [seeded.hosts.priv1.hostCategoryId]);
    assert.match(why.rows[0]!.reason, /none received for more than 72 hours/);
  });

  it('a host made public after reporting keeps no report-made verdict', { skip }, async () => {
    const cfg = clientConfig('priv2.example.org', 'lab', mirror('priv2-fresh', { updates: 'new' }), PASSWORDS.priv2);
    const out = await uploadReport(Buffer.from(JSON.stringify(await buildReport(cfg))), { ...cfg, password: PASSWORDS.priv2 }, { timeoutMs: 10_000 });
    assert.ok(out.ok, JSON.stringify(out));
    assert.equal((await ingest(stageContext(db, config))).counts.ok, 1);
    const upBefore = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM host_category_dir WHERE host_category_id = $1 AND up2date', [seeded.hosts.priv2.hostCategoryId]);
    assert.ok(upBefore.rows[0]!.n > 0);
    await db.query(`UPDATE host SET private = false WHERE name = 'priv2.example.org'`);
    await ingest(stageContext(db, config));
    const r = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM host_category_dir WHERE host_category_id = $1 AND up2date', [seeded.hosts.priv2.hostCategoryId]);
    assert.equal(r.rows[0]!.n, 0);
  });

  async function runCli(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', TSX, path.join(REPO_ROOT, 'pipelines/cli.ts'), ...args], {
        cwd: tmp,
        env: { ...process.env, DATABASE_URL: '' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      child.stdin.end(input ?? '');
    });
  }
});

describeBackends('host set-report-password', (backend) => {
  it('stores only an apr1 hash that htpasswd and we verify; rejects bad input', async (t) => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorsmith-pw-'));
    t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
    let url: string | undefined;
    let db: Db;
    if (backend === 'pg') {
      ({ db, url } = await freshDb(t, 'pg'));
    } else {
      db = await openDb({ dataDir: path.join(tmp, 'db') });
      await migrate(db);
    }
    await seedNetwork(db);
    if (backend === 'pglite') await db.close(); // the CLI takes the embedded database's lock
    fs.writeFileSync(path.join(tmp, 'mirrorsmith.yaml'), 'database:\n  dataDir: db\n');
    const env = { ...process.env, DATABASE_URL: url ?? '' };
    const cli = (args: string[], input: string) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', TSX, path.join(REPO_ROOT, 'pipelines/cli.ts'), '--config', path.join(tmp, 'mirrorsmith.yaml'), ...args], { cwd: tmp, env });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, out });
        });
        child.stdin.end(input);
      });
    const ok = await cli(['host', 'set-report-password', 'priv1.example.org', '--stdin'], 'a-long-secret\n');
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /uploads as user "lab\/priv1.example.org"/);
    const short = await cli(['host', 'set-report-password', 'priv1.example.org', '--stdin'], 'short\n');
    assert.equal(short.code, 2);
    assert.match(short.out, /at least 8 characters/);
    const unknown = await cli(['host', 'set-report-password', 'nope.example.org', '--stdin'], 'a-long-secret\n');
    assert.equal(unknown.code, 2);
    assert.match(unknown.out, /no host named "nope.example.org"/);
    if (backend === 'pglite') db = await openDb({ dataDir: path.join(tmp, 'db') });
    const r = await db.query<{ report_password_hash: string }>(`SELECT report_password_hash FROM host WHERE name = 'priv1.example.org'`);
    await (backend === 'pglite' ? db.close() : Promise.resolve());
    const hash = r.rows[0]!.report_password_hash;
    assert.match(hash, /^\$apr1\$/);
    assert.ok(verifyApr1('a-long-secret', hash));
    const htpasswd = whichTool('htpasswd');
    if (htpasswd) {
      const file = path.join(tmp, 'htpasswd');
      fs.writeFileSync(file, `lab/priv1.example.org:${hash}\n`);
      execFileSync(htpasswd, ['-vb', file, 'lab/priv1.example.org', 'a-long-secret'], { stdio: 'pipe' });
    } else if (REQUIRE_SYSTEM) throw new Error('htpasswd is required: apt-get install apache2-utils');
  });
});

