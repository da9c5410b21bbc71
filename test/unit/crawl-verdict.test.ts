// The crawler's pure core: verdicts from repomd hashes and from listings, the
// directory sample, failure accounting, the outage guard, sharding, the budget,
// URL choice and the rsync line parser on a real listing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { pickUrl } from '../../pipelines/crawl/host.ts';
import {
  compareListing,
  isOutage,
  nextHostState,
  parseShard,
  politenessBudget,
  repomdVerdict,
  sampleDirs,
  shardOf,
  type MasterCategory,
  type MasterRepo,
} from '../../pipelines/crawl/verdict.ts';
import { parseRsyncLine } from '../../pipelines/net/rsync.ts';

const H = (c: string) => c.repeat(64);
const repo: MasterRepo = {
  id: 1,
  prefix: 'fedora-41',
  arch: 'x86_64',
  dirId: 10,
  dirName: 'releases/41/Everything/x86_64/os',
  repodataDirId: 11,
  history: [
    { sha256: H('a'), size: 3051 },
    { sha256: H('b'), size: 3049 },
    { sha256: H('c'), size: 3051 },
    { sha256: H('d'), size: 3000 },
  ],
  key: true,
};

test('repomd sha256: current, -1, -3, unknown, missing', () => {
  assert.deepEqual(repomdVerdict(repo, { status: 'ok', sha256: H('a'), bytes: 3051 }), { up2date: true, reason: 'repomd.xml sha256 is current', behind: 0 });
  assert.deepEqual(repomdVerdict(repo, { status: 'ok', sha256: H('b'), bytes: 1 }), { up2date: false, reason: 'repomd.xml sha256 is the previous push (-1)', behind: 1 });
  assert.equal(repomdVerdict(repo, { status: 'ok', sha256: H('d'), bytes: 1 }).reason, 'repomd.xml sha256 is 3 pushes old (-3)');
  const unknown = repomdVerdict(repo, { status: 'ok', sha256: H('e'), bytes: 1 });
  assert.equal(unknown.up2date, false);
  assert.match(unknown.reason, /matches no known version/);
  assert.deepEqual(repomdVerdict(repo, { status: 'missing', detail: 'HTTP 404' }), { up2date: false, reason: 'repomd.xml missing (HTTP 404)', behind: null });
  // Hashes compare case-insensitively.
  assert.equal(repomdVerdict(repo, { status: 'ok', sha256: H('A'), bytes: 3051 }).up2date, true);
});

const cat: MasterCategory = {
  id: 1,
  name: 'Fedora Linux',
  dirs: [
    { id: 1, name: '', readable: true, ctime: 1, files: [{ name: 'README', size: 10 }] },
    { id: 10, name: repo.dirName, readable: true, ctime: 5, files: [] },
    { id: 11, name: `${repo.dirName}/repodata`, readable: true, ctime: 5, files: [{ name: 'repomd.xml', size: 3051 }, { name: 'aaa-primary.xml.gz', size: 500 }] },
    { id: 12, name: `${repo.dirName}/Packages/h`, readable: true, ctime: 3, files: [{ name: 'hello.rpm', size: 99 }] },
    { id: 13, name: 'releases/99', readable: false, ctime: 9, files: [{ name: 'secret', size: 1 }] },
  ],
  repos: [repo],
};

function listing(files: Record<string, number>, extraDirs: string[] = []) {
  const dirs = new Set(['.', ...extraDirs]);
  for (const f of Object.keys(files)) {
    const parts = f.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return { dirs, files: new Map(Object.entries(files)) };
}

const R = repo.dirName;
const complete = { README: 10, [`${R}/repodata/repomd.xml`]: 3051, [`${R}/repodata/aaa-primary.xml.gz`]: 500, [`${R}/Packages/h/hello.rpm`]: 99 };

test('listing: a complete mirror is fresh everywhere; pre-bitflip directories get no verdict', () => {
  const { verdicts, propagation } = compareListing(cat, listing(complete));
  assert.deepEqual(
    verdicts.map((v) => [v.dirId, v.up2date]),
    [
      [1, true],
      [10, true],
      [11, true],
      [12, true],
    ],
  );
  assert.equal(propagation.get(1), 0);
});

test('listing: stale repodata makes the repository directory stale, with the reason', () => {
  const stale = { ...complete, [`${R}/repodata/aaa-primary.xml.gz`]: undefined as unknown as number, [`${R}/repodata/bbb-primary.xml.gz`]: 480 };
  delete (stale as Record<string, number>)[`${R}/repodata/aaa-primary.xml.gz`];
  const { verdicts, propagation } = compareListing(cat, listing(stale));
  const v10 = verdicts.find((v) => v.dirId === 10)!;
  assert.equal(v10.up2date, false);
  assert.equal(v10.reason, 'repodata/aaa-primary.xml.gz missing');
  // Same repomd size as the current and the -2 push: the newest older push of that size.
  assert.equal(propagation.get(1), 2);
  const older = compareListing(cat, listing({ ...complete, [`${R}/repodata/repomd.xml`]: 3049 }));
  assert.match(older.verdicts.find((v) => v.dirId === 10)!.reason, /repomd\.xml is 3049 bytes, master 3051 \(size of the previous push \(-1\)\)/);
  assert.equal(older.propagation.get(1), 1);
});

test('listing: a missing directory and a wrong size', () => {
  const files: Record<string, number> = { ...complete, [`${R}/Packages/h/hello.rpm`]: 98 };
  const r = compareListing(cat, listing(files));
  assert.equal(r.verdicts.find((v) => v.dirId === 12)!.reason, 'hello.rpm is 98 bytes, master 99');
  const gone: Record<string, number> = { README: 10 };
  const r2 = compareListing(cat, listing(gone));
  assert.deepEqual(r2.verdicts.find((v) => v.dirId === 10), { dirId: 10, up2date: false, reason: 'directory missing on mirror' });
  assert.equal(r2.propagation.get(1), null);
});

test('sample: non-repository readable directories with files, newest first, bounded', () => {
  assert.deepEqual(sampleDirs(cat, 5).map((d) => d.id), [12, 1]);
  assert.deepEqual(sampleDirs(cat, 1).map((d) => d.id), [12]);
  assert.deepEqual(sampleDirs(cat, 0), []);
});

test('failure accounting: streak, auto-disable with reasons, re-enable only what we disabled', () => {
  const fresh = { crawlFailures: 0, autoDisabled: false, disableReason: null };
  let s = nextHostState(fresh, { ok: false, error: 'connection refused' }, 3);
  s = nextHostState(s, { ok: false, error: 'connection refused' }, 3);
  assert.deepEqual(s, { crawlFailures: 2, autoDisabled: false, disableReason: null });
  s = nextHostState(s, { ok: false, error: 'timed out' }, 3, ['connection refused', 'connection refused']);
  assert.equal(s.autoDisabled, true);
  assert.equal(s.disableReason, 'auto-disabled after 3 consecutive failed crawls; last errors: timed out | connection refused');
  assert.deepEqual(nextHostState(s, { ok: true }, 3), fresh);
  // A reason someone else set (an admin note) survives a successful crawl.
  assert.deepEqual(nextHostState({ crawlFailures: 1, autoDisabled: false, disableReason: 'admin note' }, { ok: true }, 3), {
    crawlFailures: 0,
    autoDisabled: false,
    disableReason: 'admin note',
  });
});

test('outage guard needs a share above the threshold and enough hosts', () => {
  assert.equal(isOutage(10, 8, 0.7, 5), true);
  assert.equal(isOutage(10, 7, 0.7, 5), false);
  assert.equal(isOutage(2, 2, 0.7, 5), false);
  assert.equal(isOutage(0, 0, 0.7, 1), false);
});

test('shards partition any set of names stably', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ minLength: 1 }), { maxLength: 50 }), fc.integer({ min: 1, max: 8 }), (names, n) => {
      for (const name of names) {
        const s = shardOf(name, n);
        assert.ok(s >= 1 && s <= n);
        assert.equal(shardOf(name, n), s);
      }
    }),
  );
  assert.deepEqual(parseShard('2/4'), { index: 2, count: 4 });
  assert.throws(() => parseShard('0/4'), /between 1 and N/);
  assert.throws(() => parseShard('x'), /--shard must look like i\/N/);
});

test('budget and URL choice', () => {
  assert.equal(politenessBudget(1200), 1220);
  assert.equal(pickUrl(['http://a/x', 'rsync://a/x', 'ftp://a/x'])!.method, 'rsync');
  assert.equal(pickUrl(['ftp://a/x', 'https://a/x', 'http://a/x'])!.method, 'https');
  assert.equal(pickUrl(['file:///etc', 'gopher://a/']), null);
});

test('rsync listing lines (scan-master parser): sizes with and without grouping, the top, links', () => {
  assert.deepEqual(parseRsyncLine(Buffer.from('drwxr-xr-x          4,096 2026/11/23 18:53:33 .')), { path: '.', type: 'dir', size: 4096, mtime: Date.UTC(2026, 10, 23, 18, 53, 33) / 1000 });
  assert.deepEqual(parseRsyncLine(Buffer.from('-rw-r--r--      123456 2026/11/23 18:53:33 a/big file')), { path: 'a/big file', type: 'file', size: 123456, mtime: Date.UTC(2026, 10, 23, 18, 53, 33) / 1000 });
  assert.equal(parseRsyncLine(Buffer.from('lrwxrwxrwx             7 2026/11/23 18:53:33 latest -> 41'))?.type, 'link');
  assert.equal(parseRsyncLine(Buffer.from('HELLO THIS IS NOT RSYNC')), null);
});
