// `mirrorsmith last-sync` as a mirror's cron script runs it: spawned, against the
// status/changes.json of a generation the real pipeline published and nginx
// serves, before and after the master changes. And the change times themselves:
// what scan-master recorded beyond directory ctimes (file times, repomd.xml).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadChanges, type ChangeFeed } from '../../pipelines/admin/changes.ts';
import { DEMO_EXCLUDES, writeFullFileTimeList } from '../../pipelines/demo/master-tree.ts';
import { freePort } from '../../pipelines/simnet/daemons.ts';
import { describeBackends, freshDb } from '../helpers/db.ts';
import { demoGeneration } from '../helpers/demo-generation.ts';
import { get } from '../helpers/nginx.ts';
import { runMirrorsmith } from '../helpers/cli.ts';

const cli = (cwd: string, args: string[]) => runMirrorsmith(cwd, args);

const nowS = () => Date.now() / 1000;
const newest = (feed: ChangeFeed) => Math.max(...feed.categories.map((c) => c.lastChange));
const treeOf = (feed: ChangeFeed, topdir: string, tree: string) => feed.categories.find((c) => c.topdir === topdir)!.trees.find((t) => t.tree === tree)!.lastChange;

test('last-sync exits 0 changed / 1 unchanged / 2 cannot tell against a served generation, and sees a file rewritten in place after a rescan', { timeout: 300_000 }, async (t) => {
  const g = await demoGeneration(t);
  if (!g) return;
  const nginx = await g.serve();
  const server = `${nginx.url}/`;
  const cwd = g.paths.dir;
  const run = (...args: string[]) => cli(cwd, ['last-sync', '--server', server, ...args]);
  const feedNow = async () => JSON.parse((await get(`${server}status/changes.json`)).body) as ChangeFeed;

  const before = await feedNow();
  assert.deepEqual(before.categories.map((c) => c.name).sort(), g.config.categories.map((c) => c.name).sort());
  assert.match((await get(`${server}status/changes.txt`)).body, /^\d+ \S+Z linux\/releases$/m);
  // Let at least 4 s pass since the newest change, so a window can leave it out.
  for (let i = 0; i < 10 && nowS() - newest(before) < 4; i++) await sleep(1000);
  const quiet = Math.floor(nowS() - newest(before)) - 2;
  assert.ok(quiet >= 1, `window ${quiet}`);

  const unchanged = await run('--delta', String(quiet));
  assert.equal(unchanged.code, 1, unchanged.stdout + unchanged.stderr);
  assert.match(unchanged.stdout, new RegExp(`nothing changed in the last ${quiet} s`));
  const changed = await run('--delta', '86400');
  assert.equal(changed.code, 0, changed.stdout + changed.stderr);
  assert.match(changed.stdout, /changed within the last 86400 s: Fedora EPEL at .*Fedora Linux at /);
  assert.equal((await run('--category', 'epel', '--tree', '9', '--delta', '86400')).code, 0);
  assert.equal((await run('--category', 'Fedora EPEL', '--tree', '9', '--delta', String(quiet))).code, 1);

  // Cannot tell: unknown category or tree, no feed at the URL, no server, a bad window.
  const unknown = await run('--category', 'Fedora Archive');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stdout, /unknown category "Fedora Archive" \(known: Fedora EPEL, Fedora Linux\)/);
  assert.equal((await run('--category', 'epel', '--tree', 'rawhide')).code, 2);
  const missing = await cli(cwd, ['last-sync', '--server', `${server}nowhere/`]);
  assert.equal(missing.code, 2);
  assert.match(missing.stdout, /cannot tell: .*nowhere\/status\/changes\.json: HTTP 404/);
  const closed = await cli(cwd, ['last-sync', '--server', `http://127.0.0.1:${await freePort()}/`]);
  assert.equal(closed.code, 2);
  assert.match(closed.stdout, /cannot tell: /);
  assert.equal((await run('--delta', 'soon')).code, 2);

  // -q (before or after the command, as the README and the guide write it): only the exit code.
  for (const [args, code] of [
    [['-q', 'last-sync', '--server', server, '--delta', '86400'], 0],
    [['last-sync', '--server', server, '--delta', String(quiet), '-q'], 1],
    [['-q', 'last-sync', '--server', server, '--category', 'nope'], 2],
    [['-q', 'last-sync', '--server', `${server}nowhere/`], 2],
  ] as const) {
    const r = await cli(cwd, [...args]);
    assert.equal(r.code, code, args.join(' '));
    assert.equal(r.stdout + r.stderr, '', `${args.join(' ')} prints nothing`);
  }
  // Without --server: the local out/current of the config.
  assert.equal((await cli(cwd, ['-c', g.paths.configFile, 'last-sync', '--delta', '86400'])).code, 0);

  // The master changes: an image is rewritten in place (same size, same directory
  // entry: its directory's ctime stays), then the master's cron rewrites the list.
  const isoDir = path.join(g.paths.master, 'linux', 'releases', '41', 'Workstation', 'x86_64', 'iso');
  const iso = path.join(isoDir, fs.readdirSync(isoDir).find((f) => f.endsWith('.iso'))!);
  const dirCtime = fs.statSync(isoDir).ctimeMs;
  // A window reaching back MARGIN s before the rewrite must still leave out every
  // earlier change, with room for the CLI's start-up time (seconds under load).
  const MARGIN = 5;
  for (let i = 0; i < 15 && nowS() - newest(before) < 2 * MARGIN; i++) await sleep(1000);
  const changedAt = nowS();
  const size = fs.statSync(iso).size;
  fs.writeFileSync(iso, Buffer.alloc(size, 'x'));
  assert.equal(fs.statSync(isoDir).ctimeMs, dirCtime, 'an in-place rewrite leaves the directory ctime alone');
  writeFullFileTimeList(path.join(g.paths.master, 'linux'), 'fullfiletimelist-fedora', DEMO_EXCLUDES);
  await g.publish();

  const after = await feedNow();
  assert.ok(treeOf(after, 'linux', 'releases') >= Math.floor(changedAt), `releases changed at ${treeOf(after, 'linux', 'releases')}, rewrite at ${changedAt}`);
  assert.ok(treeOf(after, 'linux', 'releases/41') >= Math.floor(changedAt));
  assert.equal(treeOf(after, 'linux', 'updates'), treeOf(before, 'linux', 'updates'), 'the untouched tree keeps its time');
  const since = () => String(Math.ceil(nowS() - changedAt) + MARGIN);
  const releases = await run('--category', 'Fedora Linux', '--tree', 'releases', '--delta', since());
  assert.equal(releases.code, 0, releases.stdout);
  assert.match(releases.stdout, /changed within the last \d+ s: Fedora Linux\/releases at /);
  assert.equal((await run('--category', 'linux', '--tree', 'releases/41', '--delta', since(), '-q')).code, 0);
  const updates = await run('--category', 'linux', '--tree', 'updates', '--delta', since());
  assert.equal(updates.code, 1, updates.stdout);
  assert.equal((await run('--category', 'epel', '--delta', since())).code, 1);
});

describeBackends('change times', (backend) => {
  test('file times in the short list, repomd.xml <timestamp>, and a new hash seen with an unchanged listing', async (t) => {
    const { db } = await freshDb(t, backend);
    await db.exec(`INSERT INTO category (name, topdir) VALUES ('Fedora Linux', 'linux')`);
    const files = (xs: Array<[string, number]>) => JSON.stringify(xs.map(([name, mtime]) => ({ name, size: 10, mtime })));
    await db.query(
      `INSERT INTO directory (category_id, name, ctime, files, readable) VALUES
         (1, '', 100, '[]', true),
         (1, 'releases/41/iso', 100, $1, true),
         (1, 'updates/41/x86_64/repodata', 100, $2, true),
         (1, 'development/rawhide/x86_64/repodata', 100, $2, true),
         (1, 'extras/hidden', 9000, $3, false)`,
      [files([['a.iso', 500]]), files([['repomd.xml', 100]]), files([['x', 9500]])],
    );
    // updates: one repomd.xml whose own <timestamp> is newer than its listing.
    // rawhide: a replacement with the same size and mtime, seen (new hash) at a known time.
    await db.exec(`INSERT INTO file_detail (directory_id, filename, size, sha256, "timestamp", created_at) VALUES
      (3, 'repomd.xml', 10, 'aa', 700, to_timestamp(100000)),
      (4, 'repomd.xml', 10, 'bb', 90, to_timestamp(1000)),
      (4, 'repomd.xml', 10, 'cc', 90, to_timestamp(3000))`);
    const linux = (await loadChanges(db)).categories[0]!;
    const tree = (name: string) => linux.trees.find((x) => x.tree === name)?.lastChange;
    assert.equal(tree('releases'), 500, 'file mtime beats the directory ctime');
    assert.equal(tree('updates'), 700, "repomd.xml's <timestamp>");
    assert.equal(tree('development/rawhide'), 3000, 'the time a new hash was first seen');
    assert.equal(tree('extras'), undefined, 'unreadable (pre-bitflip) directories are not announced');
    // The first sighting of a file is no change (a first scan of an old tree stays old).
    assert.equal(linux.lastChange, 3000);
  });
});
