import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeChanges, decideLastSync, renderChangesText } from '../../pipelines/admin/changes.ts';

const rows = [
  { name: 'Fedora Linux', topdir: 'linux', dir: '', changedAt: 100 },
  { name: 'Fedora Linux', topdir: 'linux', dir: 'releases/41/Everything/x86_64/os', changedAt: 1_000 },
  { name: 'Fedora Linux', topdir: 'linux', dir: 'updates/41/Everything/x86_64', changedAt: 5_000 },
  { name: 'Fedora Linux', topdir: 'linux', dir: 'development/rawhide/Everything/x86_64/os', changedAt: 9_000 },
  { name: 'Fedora EPEL', topdir: 'epel', dir: '9/Everything/x86_64', changedAt: 2_000 },
];
const feed = { categories: computeChanges(rows) };
const now = new Date(10_000 * 1000);

test('changes fold into per-category and per-tree maxima', () => {
  const linux = feed.categories.find((c) => c.name === 'Fedora Linux')!;
  assert.equal(linux.lastChange, 9_000);
  assert.deepEqual(
    linux.trees.map((t) => [t.tree, t.lastChange]),
    [['development', 9_000], ['development/rawhide', 9_000], ['releases', 1_000], ['releases/41', 1_000], ['updates', 5_000], ['updates/41', 5_000]],
  );
  assert.deepEqual(feed.categories.map((c) => c.name), ['Fedora EPEL', 'Fedora Linux']);
  assert.match(renderChangesText(feed), /^9000 1970-01-01T02:30:00Z linux\/development\/rawhide$/m);
});

test('last-sync answers 0 changed, 1 unchanged, 2 cannot tell', () => {
  assert.equal(decideLastSync(feed, { deltaSeconds: 1_500, now }).code, 0, 'rawhide changed 1000 s ago');
  assert.equal(decideLastSync(feed, { category: 'epel', deltaSeconds: 1_500, now }).code, 1);
  assert.equal(decideLastSync(feed, { category: 'Fedora Linux', tree: 'updates', deltaSeconds: 4_000, now }).code, 1);
  assert.equal(decideLastSync(feed, { category: 'Fedora Linux', tree: 'updates', deltaSeconds: 5_000, now }).code, 0);
  assert.equal(decideLastSync(feed, { tree: 'development/rawhide', deltaSeconds: 999, now }).code, 1);
  const unknown = decideLastSync(feed, { category: 'Fedora Archive', deltaSeconds: 10, now });
  assert.equal(unknown.code, 2);
  assert.match(unknown.message, /unknown category "Fedora Archive" \(known: Fedora EPEL, Fedora Linux\)/);
  assert.equal(decideLastSync(feed, { category: 'epel', tree: 'rawhide', deltaSeconds: 10, now }).code, 2);
});
