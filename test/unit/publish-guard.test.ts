// The pure decisions of publish: the shrink guard, pruning, which generation a
// standalone publish or a rollback picks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generationsToPrune, maybeLoaded, newestUnpublished, rollbackTarget, shrinkCheck, type GenerationInfo, type PublishEvent } from '../../pipelines/serve/generations.ts';

const m = (hosts?: number, repositories?: number) => ({ counts: { ...(hosts === undefined ? {} : { hosts }), ...(repositories === undefined ? {} : { repositories }) } });
const gen = (id: string, minute: number): GenerationInfo => ({ id, dir: `/out/generations/${id}`, manifest: m(10, 10), createdAt: new Date(Date.UTC(2026, 10, 1, 0, minute)) });
const ev = (action: PublishEvent['action'], id: string, from: string | null): PublishEvent => ({ at: '2026-11-01T00:00:00Z', action, id, from });

test('shrink guard: below the share of hosts or repositories is refused, at the share is fine', () => {
  assert.deepEqual(shrinkCheck(null, m(1, 1), 0.5), { ok: true, reasons: [] }, 'nothing live: nothing to compare');
  assert.equal(shrinkCheck(m(40, 120), m(20, 60), 0.5).ok, true);
  assert.deepEqual(shrinkCheck(m(40, 120), m(19, 60), 0.5).reasons, ["hosts: 19 < 50% of the live generation's 40"]);
  assert.deepEqual(shrinkCheck(m(40, 120), m(3, 10), 0.5).reasons, ["hosts: 3 < 50% of the live generation's 40", "repositories: 10 < 50% of the live generation's 120"]);
  assert.equal(shrinkCheck(m(40, 120), m(400, 1200), 0.5).ok, true, 'growth is never refused');
  assert.equal(shrinkCheck(m(40, 120), m(0, 0), 0).ok, true, 'minShare 0 disables the guard');
  assert.deepEqual(shrinkCheck(m(40, 120), m(undefined, 120), 0.5).reasons, ['the new manifest has no "hosts" count (the live one has 40)']);
  assert.equal(shrinkCheck(m(0, 0), m(0, 0), 0.5).ok, true, 'an empty live generation cannot shrink');
});

test('pruning keeps the newest N and never the protected ones', () => {
  const all = [gen('a', 1), gen('b', 2), gen('c', 3), gen('d', 4), gen('e', 5)];
  assert.deepEqual(generationsToPrune(all, 3, ['e']), ['b', 'a']);
  assert.deepEqual(generationsToPrune(all, 3, ['b']), ['c', 'a'], 'a rolled-back-to live generation stays');
  assert.deepEqual(generationsToPrune(all, 1, ['c']), ['e', 'd', 'b', 'a']);
  assert.deepEqual(generationsToPrune(all, 10, ['e']), []);
});

test('standalone publish takes the newest generation newer than current that was never live', () => {
  const all = [gen('a', 1), gen('b', 2), gen('c', 3)];
  assert.equal(newestUnpublished(all, null, [])?.id, 'c');
  assert.equal(newestUnpublished(all, 'c', [ev('publish', 'c', null)]), null);
  assert.equal(newestUnpublished(all, 'a', [ev('publish', 'a', null)])?.id, 'c');
  // c was live and rolled back from: not taken again without --generation.
  assert.equal(newestUnpublished(all, 'b', [ev('publish', 'c', 'b'), ev('rollback', 'b', 'c')]), null);
  assert.equal(newestUnpublished(all, 'a', [ev('publish', 'c', 'a'), ev('rollback', 'a', 'c')])?.id, 'b');
});

test('rollback target: the newest older generation nobody rolled back away from', () => {
  const all = [gen('a', 1), gen('b', 2), gen('c', 3), gen('d', 4)];
  assert.equal(rollbackTarget(all, 'd', [])?.id, 'c');
  assert.equal(rollbackTarget(all, 'a', []), null, 'nothing older');
  // c was rejected earlier (rolled back from c to b); later d was published.
  assert.equal(rollbackTarget(all, 'd', [ev('publish', 'c', 'b'), ev('rollback', 'b', 'c'), ev('publish', 'd', 'b')])?.id, 'b');
  assert.equal(rollbackTarget(all, null, [])?.id, 'd', 'nothing live: the newest');
});

test('shrink guard compares hosts listed and repositories served, not the snapshot', () => {
  const g = (c: Record<string, number>) => ({ counts: c });
  const live = g({ hosts: 40, repositories: 12, listedHosts: 30, servedRepositories: 10 });
  // Every host stale: the snapshot counts are unchanged, the listed ones are 0.
  assert.deepEqual(shrinkCheck(live, g({ hosts: 40, repositories: 12, listedHosts: 0, servedRepositories: 0 }), 0.5).reasons, [
    "hosts listed: 0 < 50% of the live generation's 30",
    "repositories with a mirror: 0 < 50% of the live generation's 10",
  ]);
  assert.equal(shrinkCheck(live, g({ hosts: 40, repositories: 12, listedHosts: 15, servedRepositories: 5 }), 0.5).ok, true);
  // A live generation from before the listed counts: its snapshot counts bound what it listed.
  assert.deepEqual(shrinkCheck(g({ hosts: 40, repositories: 12 }), g({ listedHosts: 19, servedRepositories: 6 }), 0.5).reasons, ["hosts listed: 19 < 50% of the live generation's 40"]);
  assert.deepEqual(shrinkCheck(live, g({ hosts: 40, repositories: 12 }), 0.5).reasons, [
    'the new manifest has no "listedHosts" count (the live one has 30)',
    'the new manifest has no "servedRepositories" count (the live one has 10)',
  ]);
});

test('generations a running nginx may serve: recorded loads, plus all live since when reloads are unseen', () => {
  const at = (m: number) => new Date(Date.UTC(2026, 10, 1, 0, m)).toISOString();
  const history: PublishEvent[] = [
    { at: at(1), action: 'publish', id: 'a', from: null },
    { at: at(2), action: 'publish', id: 'b', from: 'a' },
    { at: at(4), action: 'publish', id: 'c', from: 'b' },
    { at: at(5), action: 'rollback', id: 'b', from: 'c' },
  ];
  const rec = [{ name: 'reload-command', id: 'b', at: at(3) }];
  assert.deepEqual([...maybeLoaded(rec, history, false)], ['b'], 'the reload command says what nginx has');
  assert.deepEqual([...maybeLoaded(rec, history, true)].sort(), ['b', 'c'], 'since the last recorded load');
  assert.deepEqual([...maybeLoaded([], history, true)].sort(), ['a', 'b', 'c'], 'nothing recorded: everything ever live');
  assert.deepEqual([...maybeLoaded([], history, false)], []);
  // A stopped nginx holds nothing, but its load still bounds what an unseen one may hold.
  const gone = [{ name: 'serve-1', id: 'c', at: at(4.5), pid: 1, gone: true }];
  assert.deepEqual([...maybeLoaded(gone, history, false)], []);
  assert.deepEqual([...maybeLoaded(gone, history, true)].sort(), ['b', 'c']);
});
