// scan-master end to end: the demo tree with createrepo_c repodata, scanned from
// the filesystem, from a real rsync daemon on 127.0.0.1 and from the
// fullfiletimelist; rescans, the bitflip and bad input.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { CategorySchema, parseConfig, type CategoryConfig } from '../../pipelines/core/config.ts';
import type { Db } from '../../pipelines/core/db.ts';
import { memoryLogger } from '../../pipelines/core/log.ts';
import { DEMO_CATEGORIES, DEMO_EXCLUDES, generateDemoMasterTree, pushDemoUpdate, writeFullFileTimeList } from '../../pipelines/demo/master-tree.ts';
import { listRepositories } from '../../pipelines/master/queries.ts';
import { scanCategory, type ScanFigures } from '../../pipelines/master/scan.ts';
import { run as runScanStage } from '../../pipelines/stages/scan-master.ts';
import { describeBackends, freshDb, type Backend } from '../helpers/db.ts';
import { requireTool } from '../helpers/system.ts';

const execFileP = promisify(execFile);
const LINUX = CategorySchema.parse(DEMO_CATEGORIES[0]);
const EPEL = CategorySchema.parse(DEMO_CATEGORIES[1]);

function tools(t: TestContext): boolean {
  return Boolean(requireTool(t, 'createrepo_c', 'createrepo-c') && requireTool(t, 'rpmbuild', 'rpm') && requireTool(t, 'rsync'));
}

/** A small demo tree (one release + the pre-bitflip one, x86_64, EPEL 9) in a temp dir. */
async function demoTree(t: TestContext): Promise<{ base: string; root: string }> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-scan-'));
  t.after(() => fs.rmSync(base, { recursive: true, force: true }));
  const root = path.join(base, 'master');
  const tree = await generateDemoMasterTree(root, { releases: [41], arches: ['x86_64'], epel: ['9'] });
  assert.equal(tree.tool, 'createrepo_c');
  return { base, root };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A real rsync daemon on 127.0.0.1 serving `root` as module `pub`; stopped when the test ends. */
async function rsyncDaemon(t: TestContext, root: string): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-rsyncd-'));
  const port = await freePort();
  const conf = path.join(dir, 'rsyncd.conf');
  // As root the daemon would drop to nobody and could not list the 0750 pre-bitflip
  // tree that the master's own scan account can; keep the invoking user.
  const ids = process.getuid?.() === 0 ? 'uid = 0\ngid = 0\n' : '';
  fs.writeFileSync(conf, `pid file = ${dir}/rsyncd.pid\nuse chroot = no\n${ids}[pub]\n  path = ${root}\n  read only = yes\n`);
  const child = spawn('rsync', ['--daemon', '--no-detach', '--address', '127.0.0.1', '--port', String(port), '--config', conf], { stdio: 'ignore' });
  t.after(() => {
    child.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return `rsync://127.0.0.1:${port}/pub`;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('rsync daemon did not start');
}

const withSource = (c: CategoryConfig, source: CategoryConfig['source'], extra: Partial<CategoryConfig> = {}): CategoryConfig => ({ ...c, source, ...extra });

async function scan(db: Db, category: CategoryConfig, base: string, prefer: 'auto' | 'listing' = 'listing'): Promise<ScanFigures> {
  return scanCategory({ db, category, baseDir: base, retentionDays: 3, prefer, timeoutMs: 30_000 });
}

/** The scan's tables in comparable form (ids replaced by names). */
async function tables(db: Db, opts: { ctime?: boolean; mtime?: boolean } = {}) {
  const dirs = await db.query<{ category: string; name: string; readable: boolean; ctime: number; files: Array<{ name: string; size: number; mtime: number }> }>(
    'SELECT c.name AS category, d.name, d.readable, d.ctime, d.files FROM directory d JOIN category c ON c.id = d.category_id ORDER BY c.name, d.name',
  );
  const repos = await db.query(
    'SELECT r.prefix, r.arch, c.name AS category, d.name AS dir, r.disabled, r.error FROM repository r JOIN category c ON c.id = r.category_id JOIN directory d ON d.id = r.directory_id ORDER BY r.prefix, r.arch',
  );
  const details = await db.query(
    'SELECT d.name AS dir, fd.filename, fd.size, fd.md5, fd.sha1, fd.sha256, fd.sha512, fd."timestamp" FROM file_detail fd JOIN directory d ON d.id = fd.directory_id ORDER BY d.name, fd.filename, fd.id',
  );
  return {
    directory: dirs.rows.map((d) => ({
      ...d,
      ctime: opts.ctime ? d.ctime : undefined,
      files: d.files.map((f) => ({ ...f, mtime: opts.mtime === false ? undefined : f.mtime })),
    })),
    repository: repos.rows,
    file_detail: details.rows,
  };
}

/** xmin of every scan-owned row: a rewritten row gets a new one. */
async function rowVersions(db: Db): Promise<string[]> {
  const { rows } = await db.query<{ v: string }>(
    `SELECT 'd' || id || ':' || xmin::text AS v FROM directory UNION ALL SELECT 'r' || id || ':' || xmin::text FROM repository UNION ALL SELECT 'f' || id || ':' || xmin::text FROM file_detail ORDER BY 1`,
  );
  return rows.map((r) => r.v);
}

describeBackends('scan-master', (backend: Backend) => {
  test('walk, rsync listing and fullfiletimelist give identical directory/repository/file_detail tables', async (t) => {
    if (!tools(t)) return;
    const { base, root } = await demoTree(t);
    const url = await rsyncDaemon(t, root);
    const results = [];
    const { db } = await freshDb(t, backend);
    for (const [label, source, prefer] of [
      ['walk', { type: 'local', path: 'master' }, 'listing'],
      ['fullfiletimelist (local)', { type: 'local', path: 'master' }, 'auto'],
      ['rsync', { type: 'rsync', url }, 'listing'],
      ['fullfiletimelist (rsync)', { type: 'rsync', url }, 'auto'],
    ] as const) {
      await db.query('DELETE FROM category'); // each source starts from an empty database
      const figures = [await scan(db, withSource(LINUX, source), base, prefer), await scan(db, withSource(EPEL, source), base, prefer)];
      assert.deepEqual(figures.flatMap((f) => f.failures), [], label);
      assert.deepEqual(figures.map((f) => f.source), prefer === 'auto' ? ['fullfiletimelist', 'fullfiletimelist'] : source.type === 'local' ? ['walk', 'walk'] : ['rsync', 'rsync'], label);
      results.push({ label, local: source.type === 'local', t: await tables(db, { mtime: false }), withTimes: await tables(db, { ctime: true }) });
    }
    const [walk] = results;
    assert.ok(walk!.t.repository.length >= 14, `repositories found: ${walk!.t.repository.length}`);
    assert.ok(walk!.t.directory.some((d) => d.name === 'releases/42' && !d.readable));
    assert.ok(!walk!.t.directory.some((d) => d.name.includes('.snapshot')), 'excludes applied');
    for (const r of results.slice(1)) assert.deepEqual(r.t, walk!.t, `${r.label} differs from the walk`);
    // Local sources stat directories: directory ctimes agree exactly too. A file's time is
    // its ctime in the list and its mtime in the walk: the same second, unless the demo
    // writer's rename/chmod after the write crossed a second boundary (seen under load).
    const listed = results[1]!.withTimes;
    const walkedMtime = new Map(walk!.withTimes.directory.flatMap((d) => d.files.map((f) => [`${d.name}/${f.name}`, f.mtime] as const)));
    for (const d of listed.directory) {
      for (const f of d.files) {
        const m = walkedMtime.get(`${d.name}/${f.name}`);
        if (m !== undefined && f.mtime !== undefined && Math.abs(f.mtime - m) <= 1) f.mtime = m;
      }
    }
    assert.deepEqual(listed, walk!.withTimes, 'fullfiletimelist (local) with times');
  });

  test('a fullfiletimelist-* at the category top is found without configuring it (local and rsync); false turns it off; rescans from it write only changes', async (t) => {
    if (!tools(t)) return;
    const { base, root } = await demoTree(t);
    const url = await rsyncDaemon(t, root);
    const { db } = await freshDb(t, backend);
    const zero = { dirsInserted: 0, dirsUpdated: 0, dirsDeleted: 0, reposInserted: 0, reposUpdated: 0, reposDeleted: 0, detailsAdded: 0, detailsPruned: 0 };
    for (const source of [{ type: 'local', path: 'master' } as const, { type: 'rsync', url } as const]) {
      await db.query('DELETE FROM category');
      const detected = withSource(LINUX, source, { fullfiletimelist: undefined });
      const first = await scan(db, detected, base, 'auto');
      assert.equal(first.source, 'fullfiletimelist', `${source.type}: found by itself`);
      assert.deepEqual(first.failures, []);
      const topRow = (await tables(db)).directory.find((d) => d.name === '')!;
      assert.ok(!topRow.files.some((f) => f.name.startsWith('fullfiletimelist-')), 'the list is not content of the tree');
      const byList = await tables(db, { mtime: false });

      const before = await rowVersions(db);
      const again = await scan(db, detected, base, 'auto');
      assert.equal(again.source, 'fullfiletimelist');
      assert.deepEqual({ ...again.counts! }, zero, `${source.type}: unchanged rescan from the list`);
      assert.deepEqual(await rowVersions(db), before, `${source.type}: no row was rewritten`);

      const off = await scan(db, withSource(LINUX, source, { fullfiletimelist: false }), base, 'auto');
      assert.equal(off.source, source.type === 'local' ? 'walk' : 'rsync', `${source.type}: false turns the list off`);

      // A push (the master's cron rewrites the list): only that repository's detail is added.
      await db.query('DELETE FROM category');
      await scan(db, detected, base, 'auto');
      assert.deepEqual(await tables(db, { mtime: false }), byList);
      await pushDemoUpdate(root, { repoDir: 'linux/updates/41/Everything/x86_64' });
      const after = await scan(db, detected, base, 'auto');
      assert.equal(after.source, 'fullfiletimelist');
      assert.equal(after.counts!.detailsAdded, 1, `${source.type}: one new repomd.xml detail`);
      assert.equal(after.counts!.dirsDeleted + after.counts!.reposInserted + after.counts!.reposDeleted, 0);
      const pushed = (await listRepositories(db)).find((r) => r.repo === 'updates-released-f41' && r.arch === 'x86_64')!;
      assert.equal(pushed.versions.length, 2, 'current + one alternate');
      // The rows match a fresh scan of the pushed tree.
      const incremental = await tables(db, { mtime: false });
      await db.query('DELETE FROM category');
      await scan(db, detected, base, 'auto');
      const fresh = await tables(db, { mtime: false });
      assert.deepEqual(incremental.directory, fresh.directory, `${source.type}: incremental rows equal a fresh scan's`);
      assert.deepEqual(incremental.repository, fresh.repository);
    }
  });

  test('an unchanged tree (fullfiletimelist local and rsync, walk) is not parsed and writes nothing; a change in one directory rewrites exactly that row', async (t) => {
    if (!tools(t)) return;
    const { base, root } = await demoTree(t);
    const url = await rsyncDaemon(t, root);
    const { db } = await freshDb(t, backend);
    const top = path.join(root, 'linux');
    const changedDir = 'releases/41/Everything/x86_64/os';
    // A list scan vouches for the next one only when nothing in it is as new as its start.
    const pastThisSecond = () => new Promise((r) => setTimeout(r, 1100));
    const idsOf = async (names: string[]) => (await db.query<{ id: number }>('SELECT id FROM directory WHERE name = ANY($1::text[]) ORDER BY id', [names])).rows.map((r) => r.id);
    const passes = [
      { label: 'list (local)', source: { type: 'local', path: 'master' } as const, list: undefined },
      { label: 'list (rsync)', source: { type: 'rsync', url } as const, list: undefined },
      { label: 'walk', source: { type: 'local', path: 'master' } as const, list: false as const },
    ];
    for (const { label, source, list } of passes) {
      await db.query('DELETE FROM category');
      const category = withSource(LINUX, source, { fullfiletimelist: list });
      await pastThisSecond();
      const first = await scan(db, category, base, 'auto');
      assert.equal(first.source, list === false ? 'walk' : 'fullfiletimelist');
      assert.equal(first.unchanged, false);
      const before = await rowVersions(db);
      const again = await scan(db, category, base, 'auto');
      assert.equal(again.unchanged, true, `${label}: the unchanged tree is recognised`);
      assert.equal(again.ms.load, 0, 'the directory table is not read');
      assert.deepEqual({ ...again.counts! }, { dirsInserted: 0, dirsUpdated: 0, dirsDeleted: 0, reposInserted: 0, reposUpdated: 0, reposDeleted: 0, detailsAdded: 0, detailsPruned: 0 });
      assert.deepEqual([again.directories, again.repositories, again.files], [first.directories, first.repositories, first.files], 'figures repeated');
      assert.deepEqual(await rowVersions(db), before, `${label}: no row was rewritten`);

      // One file more in one directory, and the list regenerated (by rename, which
      // also changes the top's ctime: a walk or lstat sees that, rsync does not).
      const added = path.join(top, changedDir, `extra-${label.replace(/\W/g, '')}.txt`);
      fs.writeFileSync(added, 'x');
      writeFullFileTimeList(top, 'fullfiletimelist-fedora', DEMO_EXCLUDES);
      const after = await scan(db, category, base, 'auto');
      assert.equal(after.unchanged, false);
      const rewritten = source.type === 'local' ? ['', changedDir] : [changedDir];
      assert.deepEqual({ ...after.counts! }, { dirsInserted: 0, dirsUpdated: rewritten.length, dirsDeleted: 0, reposInserted: 0, reposUpdated: 0, reposDeleted: 0, detailsAdded: 0, detailsPruned: 0 });
      const ids = new Set((await idsOf(rewritten)).map((id) => `d${id}:`));
      const now = await rowVersions(db);
      const differ = now.filter((v, i) => v !== before[i]).map((v) => v.slice(0, v.indexOf(':') + 1));
      assert.deepEqual(new Set(differ), ids, `${label}: exactly ${rewritten.join(', ') || 'the top'} rewritten`);
      const row = (await tables(db)).directory.find((d) => d.name === changedDir)!;
      assert.ok(row.files.some((f) => f.name === path.basename(added)), 'the new file is in the short list');
      // The incremental rows equal a fresh scan's.
      const incremental = await tables(db, { ctime: true });
      await db.query('DELETE FROM category');
      await scan(db, category, base, 'auto');
      assert.deepEqual((await tables(db, { ctime: true })).directory, incremental.directory, `${label}: incremental rows equal a fresh scan's`);
      fs.rmSync(added);
      writeFullFileTimeList(top, 'fullfiletimelist-fedora', DEMO_EXCLUDES);

      // A bitflip the list does not show yet (not regenerated): the directory's
      // mode and ctime are checked, so it is not taken for an unchanged tree.
      await pastThisSecond();
      await scan(db, category, base, 'auto');
      const pre = path.join(top, 'releases', '42');
      const mode = fs.statSync(pre).mode & 0o777;
      fs.chmodSync(pre, mode === 0o755 ? 0o750 : 0o755);
      const flipped = await scan(db, category, base, 'auto');
      assert.equal(flipped.unchanged, false, `${label}: a chmod is a change`);
      const rows42 = (await tables(db)).directory.filter((d) => d.name.startsWith('releases/42'));
      assert.ok(rows42.length > 0 && rows42.every((d) => d.readable === (mode !== 0o755)), `${label}: the bitflip is seen`);
      fs.chmodSync(pre, mode);
      writeFullFileTimeList(top, 'fullfiletimelist-fedora', DEMO_EXCLUDES); // the next pass starts from a true list
    }
  });

  test('unchanged rescan rewrites nothing; a push adds one file detail and keeps history', async (t) => {
    if (!tools(t)) return;
    const { base, root } = await demoTree(t);
    const url = await rsyncDaemon(t, root);
    const { db } = await freshDb(t, backend);
    for (const source of [{ type: 'local', path: 'master' } as const, { type: 'rsync', url } as const]) {
      await db.query('DELETE FROM category');
      const category = withSource(LINUX, source);
      const first = await scan(db, category, base);
      assert.ok(first.counts!.dirsInserted > 50);
      const before = await rowVersions(db);
      const again = await scan(db, category, base);
      assert.deepEqual(
        { ...again.counts! },
        { dirsInserted: 0, dirsUpdated: 0, dirsDeleted: 0, reposInserted: 0, reposUpdated: 0, reposDeleted: 0, detailsAdded: 0, detailsPruned: 0 },
        `${source.type}: unchanged rescan`,
      );
      assert.deepEqual(await rowVersions(db), before, `${source.type}: no row was rewritten`);

      const push = await pushDemoUpdate(root, { repoDir: 'linux/updates/41/Everything/x86_64' });
      const after = await scan(db, category, base);
      assert.equal(after.counts!.detailsAdded, 1, `${source.type}: one new repomd.xml detail`);
      assert.equal(after.counts!.dirsDeleted + after.counts!.reposInserted + after.counts!.reposDeleted, 0);
      const repos = await listRepositories(db);
      const pushed = repos.find((r) => r.repo === 'updates-released-f41' && r.arch === 'x86_64')!;
      assert.equal(pushed.versions.length, 2, 'current + one alternate');
      const current = fs.readFileSync(path.join(root, push.repoDir, 'repodata', 'repomd.xml'));
      const old = fs.readFileSync(path.join(push.historyDir, 'repomd.xml'));
      assert.equal(pushed.versions[0]!.size, current.length);
      assert.notEqual(current.toString(), old.toString());
      assert.ok(repos.filter((r) => r !== pushed).every((r) => r.versions.length === 1), 'other repositories untouched');
      // History pruning keeps the newest always, older ones inside the window.
      const pruned = await scanCategory({ db, category, baseDir: base, retentionDays: 0, prefer: 'listing', timeoutMs: 30_000 });
      assert.equal(pruned.counts!.detailsPruned, 1);
      assert.equal((await listRepositories(db)).find((r) => r.repo === 'updates-released-f41')!.versions.length, 1);
    }
  });

  test('bitflip: a 0750 release is not readable until chmod 0755 (walk and fullfiletimelist)', async (t) => {
    if (!tools(t)) return;
    const { base, root } = await demoTree(t);
    const { db } = await freshDb(t, backend);
    for (const prefer of ['listing', 'auto'] as const) {
      await db.query('DELETE FROM category');
      const pre = path.join(root, 'linux', 'releases', '42');
      fs.chmodSync(pre, 0o750);
      writeFullFileTimeList(path.join(root, 'linux'), 'fullfiletimelist-fedora', ['.snapshot']);
      const category = withSource(LINUX, { type: 'local', path: 'master' });
      await scan(db, category, base, prefer);
      const hidden = (await tables(db)).directory.filter((d) => d.name.startsWith('releases/42'));
      assert.ok(hidden.length >= 4 && hidden.every((d) => !d.readable), `${prefer}: everything under releases/42 unreadable`);
      assert.equal((await listRepositories(db)).find((r) => r.repo === 'fedora-42')!.readable, false);
      fs.chmodSync(pre, 0o755);
      writeFullFileTimeList(path.join(root, 'linux'), 'fullfiletimelist-fedora', ['.snapshot']);
      const f = await scan(db, category, base, prefer);
      assert.equal(f.source, prefer === 'auto' ? 'fullfiletimelist' : 'walk');
      const shown = (await tables(db)).directory.filter((d) => d.name.startsWith('releases/42'));
      assert.ok(shown.every((d) => d.readable), `${prefer}: readable after the bitflip`);
      assert.equal((await listRepositories(db)).find((r) => r.repo === 'fedora-42')!.readable, true);
    }
  });

  test('bad input: loops, odd names, broken repomd.xml, unmatched repodata, garbage fullfiletimelist', async (t) => {
    if (!tools(t)) return;
    const { base, root } = await demoTree(t);
    const top = path.join(root, 'linux');
    fs.symlinkSync('..', path.join(top, 'releases', 'loop'));
    fs.symlinkSync('loop2', path.join(top, 'releases', 'loop2'));
    const odd = path.join(top, 'releases', '41', 'odd');
    fs.mkdirSync(odd);
    for (const n of [Buffer.from('new\nline'), Buffer.from('sp ace'), Buffer.from([0x62, 0x61, 0x64, 0xff])]) {
      fs.writeFileSync(Buffer.concat([Buffer.from(odd + '/'), n]), 'x');
      fs.mkdirSync(Buffer.concat([Buffer.from(odd + '/dir-'), n]));
    }
    // A truncated repomd.xml on the master: an error on that repository, the scan goes on.
    const broken = path.join(top, 'updates', 'testing', '41', 'Everything', 'x86_64', 'repodata', 'repomd.xml');
    fs.writeFileSync(broken, fs.readFileSync(broken).subarray(0, 200));
    // repodata no rule maps: reported, not guessed.
    fs.mkdirSync(path.join(top, 'releases', '41', 'Server', 'x86_64', 'os', 'repodata'), { recursive: true });
    fs.copyFileSync(path.join(top, 'releases', '41', 'Everything', 'x86_64', 'os', 'repodata', 'repomd.xml'), path.join(top, 'releases', '41', 'Server', 'x86_64', 'os', 'repodata', 'repomd.xml'));
    // A fullfiletimelist with garbage: reported with line numbers, then a walk.
    const listFile = path.join(top, 'fullfiletimelist-fedora');
    fs.writeFileSync(listFile, fs.readFileSync(listFile, 'utf8').replace('[Files]\n', '[Files]\ngarbage line\n'));
    const url = await rsyncDaemon(t, root);

    const seen = [];
    const { db } = await freshDb(t, backend);
    for (const source of [{ type: 'local', path: 'master' } as const, { type: 'rsync', url } as const]) {
      await db.query('DELETE FROM category');
      const f = await scan(db, withSource(LINUX, source), base, 'auto');
      assert.equal(f.source, source.type === 'local' ? 'walk' : 'rsync', 'fell back from the garbage list');
      const ftl = f.failures.find((x) => x.message.includes('fullfiletimelist-fedora unusable'));
      assert.match(ftl?.message ?? '', /line \d+: expected "ctime<TAB>type<TAB>size<TAB>path"/);
      const parse = f.failures.find((x) => x.subject.endsWith('updates/testing/41/Everything/x86_64/repodata/repomd.xml'));
      assert.equal(parse?.kind, 'parse');
      assert.deepEqual(f.unmatched, ['releases/41/Server/x86_64/os']);
      const repos = await listRepositories(db);
      assert.match(repos.find((r) => r.repo === 'updates-testing-f41' && r.arch === 'x86_64')!.error ?? '', /malformed repomd\.xml/);
      assert.equal(repos.find((r) => r.repo === 'fedora-41')!.error, null);
      assert.ok(!repos.some((r) => r.dir.includes('Server')));
      const dirs = (await tables(db)).directory;
      const oddRow = dirs.find((d) => d.name === 'releases/41/odd')!;
      assert.deepEqual(oddRow.files.map((x) => x.name), ['bad\\#377', 'new\\#012line', 'sp ace']);
      assert.ok(dirs.some((d) => d.name === 'releases/41/odd/dir-new\\#012line'));
      assert.ok(!dirs.some((d) => d.name.includes('loop')), 'symlinks are not followed');
      seen.push(dirs.map((d) => d.name));
    }
    assert.deepEqual(seen[1], seen[0], 'rsync sees the same odd names as the walk');
  });

  test('an rsync source that is down fails that category and keeps its previous data', async (t) => {
    if (!tools(t)) return;
    const { base, root } = await demoTree(t);
    const { db } = await freshDb(t, backend);
    const url = await rsyncDaemon(t, root);
    const config = parseConfig({ categories: [withSource(LINUX, { type: 'rsync', url }), withSource(EPEL, { type: 'local', path: 'master' })] }, path.join(base, 'mirrorsmith.yaml'), {});
    const log = memoryLogger();
    const ctx = (c = config) => ({ db, config: c, log, signal: new AbortController().signal, run: { id: null, startedAt: new Date(), generationId: 'x', force: false, dryRun: false }, options: {}, progress: () => ({ tick() {}, done() {} }) });
    const ok = await runScanStage(ctx());
    assert.deepEqual(ok.counts, { ok: 2, failed: 0, skipped: 0 });
    const before = await tables(db, { ctime: true });
    const deadPort = await freePort();
    const down = parseConfig({ categories: [withSource(LINUX, { type: 'rsync', url: `rsync://127.0.0.1:${deadPort}/pub` }), withSource(EPEL, { type: 'local', path: 'master' })] }, path.join(base, 'mirrorsmith.yaml'), {});
    const r = await runScanStage(ctx(down));
    assert.deepEqual(r.counts, { ok: 1, failed: 1, skipped: 0 });
    assert.equal(r.failures[0]!.subject, 'Fedora Linux');
    assert.match(r.failures[0]!.message, /rsync exit \d+.*(refused|Connection)/i);
    assert.deepEqual(await tables(db, { ctime: true }), before, 'previous data untouched');
    const { rows } = await db.query<{ scan_error: string | null }>(`SELECT scan_error FROM category WHERE name = 'Fedora Linux'`);
    assert.match(rows[0]!.scan_error ?? '', /rsync/);
  });
});

test('an unreadable directory is recorded as not readable and reported (rsync daemon and walk)', async (t) => {
  if (!requireTool(t, 'rsync')) return;
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-unreadable-'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-rsyncd-'));
  let daemon: ReturnType<typeof spawn> | undefined;
  t.after(() => {
    daemon?.kill('SIGTERM');
    fs.chmodSync(path.join(base, 'pub', 'secret'), 0o755);
    fs.rmSync(base, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });
  fs.chmodSync(base, 0o755);
  fs.mkdirSync(path.join(base, 'pub', 'secret', 'inner'), { recursive: true });
  fs.mkdirSync(path.join(base, 'pub', 'open'));
  fs.writeFileSync(path.join(base, 'pub', 'visible'), 'x');
  const asRoot = process.getuid?.() === 0;
  // root reads every directory: as root the daemon and the walker run as nobody.
  fs.chmodSync(path.join(base, 'pub', 'secret'), asRoot ? 0o700 : 0o000);

  // 1. rsync: the daemon cannot open the directory (exit 23); the scan goes on.
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'rsyncd.conf'), `pid file = ${dir}/pid\nuse chroot = no\n${asRoot ? 'uid = 65534\ngid = 65534\n' : ''}[m]\n  path = ${base}\n  read only = yes\n`);
  daemon = spawn('rsync', ['--daemon', '--no-detach', '--address', '127.0.0.1', '--port', String(port), '--config', path.join(dir, 'rsyncd.conf')], { stdio: 'ignore' });
  const { db } = await freshDb(t, 'pglite');
  const category = CategorySchema.parse({ name: 'Unreadable', topdir: 'pub', source: { type: 'rsync', url: `rsync://127.0.0.1:${port}/m` } });
  let f: ScanFigures | undefined;
  for (let i = 0; i < 50 && !f; i++) {
    try {
      f = await scanCategory({ db, category, baseDir: base, retentionDays: 3, timeoutMs: 10_000 });
    } catch (err) {
      if (!/refused|exit (5|10)/i.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 100)); // daemon still starting
    }
  }
  assert.ok(f, 'rsync daemon answered');
  assert.deepEqual(f.failures.map((x) => x.subject + ' ' + x.message), ['Unreadable:secret cannot list directory: the rsync server could not open it']);
  const rows = (await tables(db)).directory.map((d) => `${d.name}:${d.readable}`);
  assert.deepEqual(rows, [':true', 'open:true', 'secret:false']);

  // 2. the walk (as nobody when root, where the repository is readable to nobody).
  const script = path.join(import.meta.dirname, '..', 'fixtures', 'master', 'walk-as.ts');
  const drop = asRoot ? ['--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  if (asRoot) {
    if (!requireTool(t, 'setpriv', 'util-linux')) return;
    const canRead = await execFileP('setpriv', [...drop, process.execPath, '-e', 'require("fs").accessSync(process.argv[1], 4)', script]).then(
      () => true,
      () => false,
    );
    if (!canRead) {
      t.diagnostic('walk part not run: this checkout is not readable by nobody (the rsync part above covered the unreadable directory)');
      return;
    }
  }
  const [cmd, args] = asRoot ? ['setpriv', [...drop, process.execPath]] : [process.execPath, []];
  const { stdout } = await execFileP(cmd, [...args, '--import', 'tsx', script, path.join(base, 'pub')], { cwd: path.join(import.meta.dirname, '..', '..'), timeout: 60_000 });
  const out = JSON.parse(stdout) as { dirs: Array<{ name: string; unlisted?: boolean; files: unknown[] }>; problems: Array<{ dir: string; message: string }> };
  assert.deepEqual(out.problems, [{ dir: 'secret', message: 'cannot list directory: EACCES' }]);
  assert.equal(out.dirs.find((d) => d.name === 'secret')!.unlisted, true);
  assert.ok(!out.dirs.some((d) => d.name === 'secret/inner'));
  assert.equal(out.dirs.find((d) => d.name === '')!.files.length, 1);
});

test('CLI: scan-master, repo list, dir ls, file show; a misspelt category is a usage error', async (t) => {
  if (!tools(t)) return;
  const { base } = await demoTree(t);
  const yaml = [
    `database: { dataDir: ${JSON.stringify(path.join(base, 'db'))} }`,
    'categories:',
    ...[LINUX, EPEL].map((c) => `  - ${JSON.stringify({ ...c, source: { type: 'local', path: 'master' } })}`),
  ].join('\n');
  fs.writeFileSync(path.join(base, 'mirrorsmith.yaml'), yaml + '\n');
  const repoRoot = path.join(import.meta.dirname, '..', '..');
  const env = { ...process.env };
  delete env.DATABASE_URL; // the embedded database in the temp dir
  const cli = async (...args: string[]) => {
    try {
      const r = await execFileP(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'pipelines', 'cli.ts'), '-c', path.join(base, 'mirrorsmith.yaml'), ...args], { cwd: repoRoot, env, timeout: 120_000 });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const scanned = await cli('scan-master');
  assert.equal(scanned.code, 0, scanned.stderr);
  assert.match(scanned.stderr, /scan-master ok=2 failed=0/);
  const list = JSON.parse((await cli('repo', 'list', '--json')).stdout) as Array<{ repo: string; arch: string; path: string; readable: boolean; versions: unknown[] }>;
  const f41 = list.find((r) => r.repo === 'fedora-41' && r.arch === 'x86_64')!;
  assert.equal(f41.path, 'linux/releases/41/Everything/x86_64/os');
  assert.equal(f41.versions.length, 1);
  assert.equal(list.find((r) => r.repo === 'fedora-42')!.readable, false);
  assert.ok(list.some((r) => r.repo === 'epel-9' && r.arch === 'x86_64'));
  const table = await cli('repo', 'list', '--category', 'Fedora EPEL');
  assert.match(table.stdout, /^repo +arch +directory +repomd timestamp +alternates +state$/m);
  assert.match(table.stdout, /^epel-source-9 +source +epel\/9\/Everything\/source\/tree +\d{4}-\d\d-\d\dT/m);
  const dir = JSON.parse((await cli('dir', 'ls', 'linux/releases/41/Everything/x86_64/os', '--json')).stdout) as { subdirs: Array<{ name: string }>; repos: Array<{ repo: string }> };
  assert.deepEqual(dir.repos, [{ repo: 'fedora-41', arch: 'x86_64' }]);
  assert.ok(dir.subdirs.some((s) => s.name === 'repodata'));
  const file = await cli('file', 'show', 'linux/releases/41/Everything/x86_64/os/repodata/repomd.xml');
  assert.match(file.stdout, /1 version\(s\)/);
  assert.match(file.stdout, /[0-9a-f]{64}/);
  const bad = await cli('scan-master', '--category', 'Fedora Linxu');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown category "Fedora Linxu" \(configured: "Fedora Linux", "Fedora EPEL"\)/);
  assert.equal((await cli('dir', 'ls', 'nowhere/x')).code, 2);
});
