import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSnapshot } from '../../pipelines/build/snapshot.ts';
import { describeBackends, freshDb } from '../helpers/db.ts';
import { loadFixture, REPOMD } from '../fixtures/build/registry.ts';

describeBackends('build snapshot loader', (backend) => {
  test('loads active hosts, public URLs, readable repositories and repomd history', async (t) => {
    const { db } = await freshDb(t, backend);
    const ids = await loadFixture(db);
    const snap = await loadSnapshot(db, { retentionDays: 3 });

    assert.deepEqual(snap.inactiveHosts, [{ name: 'down.example', reason: 'down at the last probe' }]);
    assert.equal(snap.hosts.length, 7);
    const priv = snap.hosts.find((h) => h.name === 'private.campus.example')!;
    assert.equal(priv.private, true);
    assert.deepEqual(priv.netblocks.map((n) => `${n.kind}:${n.netblock}`), ['cidr:192.0.2.0/24', 'cidr:2001:db8:1::/48', 'dns:localhost']);
    const de = snap.hosts.find((h) => h.name === 'mirror.de.example')!;
    assert.equal(de.asn, 680);
    assert.equal(de.asnClients, true);
    assert.equal(snap.hosts.find((h) => h.name === 'mirror.jp.example')!.reachableIpv6, false);
    assert.equal(snap.hosts.find((h) => h.name === 'mirror.us-big.example')!.reachableIpv6, null);

    const hc = snap.hostCategories.find((c) => c.hostId === ids.hosts['mirror.us-big.example'])!;
    assert.deepEqual(hc.urls, ['http://mirror.us-big.example/fedora/linux', 'https://mirror.us-big.example/fedora/linux', 'rsync://mirror.us-big.example/fedora/linux']);
    assert.deepEqual(hc.privateUrls, ['rsync://mirror.us-big.example/mirror-only']);
    assert.equal(snap.hostCategories.some((c) => c.hostId === ids.hosts['down.example']), false);

    // fedora-42 lives in an unreadable directory: not public yet.
    assert.deepEqual(snap.repositories.map((r) => `${r.prefix}/${r.arch}`), ['fedora-41/aarch64', 'fedora-41/x86_64', 'updates-released-f41/x86_64', 'updates-testing-f41/x86_64']);
    const f41 = snap.repositories.find((r) => r.prefix === 'fedora-41' && r.arch === 'x86_64')!;
    assert.deepEqual(f41.repomd.map((d) => d.sha256), [REPOMD.current.sha256, REPOMD.previous.sha256]);
    assert.equal(f41.repomd[0].size, REPOMD.current.size);
    assert.equal(f41.repomd[0].timestamp, REPOMD.current.timestamp);
    assert.equal(snap.repositories.find((r) => r.prefix === 'updates-testing-f41')!.disabled, true);
    assert.deepEqual(snap.aliases, [{ from: 'fedora-rawhide-alias', to: 'fedora-41' }]);

    const staleHc = snap.hostCategories.find((c) => c.hostId === ids.hosts['stale.example'])!;
    assert.equal(snap.upToDate.has(`${staleHc.id}:${ids.dirs['updates/41/Everything/x86_64']}`), false);
    assert.equal(snap.upToDate.has(`${staleHc.id}:${ids.dirs['releases/41/Everything/x86_64/os']}`), true);
  });
});
