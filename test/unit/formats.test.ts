// MirrorManager formats, byte for byte, against golden files (regenerate with
// UPDATE_GOLDEN=1 and review the diff).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compose, invalidRepoText, metalinkBlob, metalinkFacts, metalinkFailure, metalinkFirstHost, metalinkPreferences, metalinkUnit, mirrorlistBlob, mirrorlistDeletion, mirrorlistFirstHost, mirrorlistLastHost, mirrorlistUnit, moveFirst, PH, wrapAlternates, type FormatHost } from '../../pipelines/build/formats.ts';
import type { FileDetail } from '../../pipelines/build/snapshot.ts';

const GOLDEN = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/build/golden');

function golden(name: string, actual: string): void {
  const file = path.join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1') fs.writeFileSync(file, actual);
  assert.equal(actual, fs.readFileSync(file, 'utf8'), `${name} differs from the golden file`);
}

const hosts: FormatHost[] = [
  { country: 'US', private: true, urls: ['http://private.campus.example/fedora'] },
  { country: 'US', private: false, urls: ['https://mirror.us-big.example/fedora/linux', 'http://mirror.us-big.example/fedora/linux', 'rsync://mirror.us-big.example/fedora/linux'] },
  { country: 'DE', private: false, urls: ['ftp://ftp.de.example/pub/fedora/linux'] },
  { country: 'JP', private: false, urls: ['rsync://only-rsync.jp.example/fedora'] },
  { country: 'FR', private: false, urls: ['https://mirror.fr.example/a&b/fedora'] },
];
const history: FileDetail[] = [
  { size: 4321, md5: 'a'.repeat(32), sha1: 'b'.repeat(40), sha256: 'c'.repeat(64), sha512: 'd'.repeat(128), timestamp: 1732300000, createdAt: new Date('2026-11-21T00:00:00Z') },
  { size: 4300, md5: null, sha1: null, sha256: '3'.repeat(64), sha512: null, timestamp: 1732200000, createdAt: new Date('2026-11-20T00:00:00Z') },
];
const repo = { repo: 'fedora-41 arch = x86_64', path: 'releases/41/Everything/x86_64/os' };

test('mirrorlist: header, one preferred URL per host (https > http > ftp), rsync-only hosts left out', () => {
  golden('mirrorlist.txt', compose(mirrorlistBlob('Using preferred netblock country = US country = global ', hosts, null), repo));
});

test('mirrorlist with protocol=: every URL of those protocols and the protocol header word', () => {
  golden('mirrorlist-http-https.txt', compose(mirrorlistBlob('country = US ', hosts, ['http', 'https']), repo));
});

test('metalink 3.0: facts, alternates, preference per host, mm0:private, XML-escaped URLs', () => {
  const facts = metalinkFacts(history);
  const doc = compose(metalinkBlob(hosts, null), { ...repo, pubdate: 'Sat, 21 Nov 2026 00:00:00 GMT', head: facts.current + wrapAlternates(facts.alternates) });
  golden('metalink.xml', doc);
  assert.match(doc, /<url protocol="https" type="https" location="FR" preference="96">https:\/\/mirror\.fr\.example\/a&amp;b\/fedora\//);
  assert.match(doc, /preference="100" mm0:private="True">http:\/\/private/);
});

test('error bodies: invalid repo lists the valid pairs sorted; metalink wraps messages in a comment', () => {
  const text = invalidRepoText([['fedora-41', 'x86_64'], ['fedora-41', 'aarch64'], ['epel-9', 'x86_64']]);
  golden('invalid.txt', compose(text, { echo: '(invalid) arch = x86_64' }));
  golden('failure.xml', metalinkFailure('Sat, 21 Nov 2026 00:00:00 GMT', 'repo disabled'));
  assert.doesNotMatch(metalinkFailure('d', 'a -- b'), /a -- b/);
});

test('one blob per list: moving any lead-group host to PH.first gives that variant (mirrorlist byte for byte; metalink in order, preference strictly decreasing)', () => {
  for (const lead of [{ start: 1, size: 3 }, { start: 2, size: 3 }, { start: 0, size: 5 }]) {
  const mlBlob = mirrorlistBlob('country = US ', hosts, null, lead);
  const mtBlob = metalinkBlob(hosts, null, lead);
  const prefs = metalinkPreferences(hosts, null, lead);
  const urlsOf = (doc: string) => [...doc.matchAll(/<url [^>]*preference="(\d+)"[^>]*>([^<]+)<\/url>/g)].map((m) => ({ pref: Number(m[1]), url: m[2] }));
  for (let k = lead.start; k < lead.start + lead.size; k++) {
    const order = [...hosts.slice(0, lead.start), hosts[k], ...hosts.slice(lead.start).filter((_, i) => i + lead.start !== k)];
    const mlFirst = k === mirrorlistFirstHost(hosts.slice(lead.start), null) + lead.start;
    const mlLast = k === mirrorlistLastHost(hosts, null);
    const ml = moveFirst(mlBlob, mirrorlistDeletion(hosts[k], null, mlFirst, mlLast), mlFirst ? mirrorlistUnit(hosts[k], null) : `${PH.path}/`, mirrorlistUnit(hosts[k], null));
    assert.equal(compose(ml, repo), compose(mirrorlistBlob('country = US ', order, null), repo), `variant ${k}`);
    const mtFirst = k === metalinkFirstHost(hosts.slice(lead.start), null) + lead.start;
    const ins = metalinkUnit(hosts[k], null, prefs.first, 'insert');
    const mt = compose(moveFirst(mtBlob, metalinkUnit(hosts[k], null, prefs.hosts[k], mtFirst ? 'first' : 'other'), mtFirst ? ins : '', ins), { ...repo, pubdate: 'd', head: '' });
    const want = urlsOf(compose(metalinkBlob(order, null), { ...repo, pubdate: 'd', head: '' }));
    const got = urlsOf(mt);
    assert.deepEqual(got.map((u) => u.url), want.map((u) => u.url), `metalink variant ${k}: order`);
    assert.equal(got[0].pref, 100);
    const perHost = [...new Map(got.map((u) => [new URL(u.url).host, u.pref])).values()];
    assert.ok(perHost.every((p, i) => i === 0 || p < perHost[i - 1]), `metalink variant ${k}: ${perHost.join(' ')}`);
    assert.doesNotMatch(mt, /@@/);
    assert.equal(mt.split('<url ').length, want.length + 1);
  }
  }
  // Without a lead slot the blob is the plain list.
  assert.equal(compose(moveFirst(mirrorlistBlob('x ', hosts, null), '', '', ''), repo), compose(mirrorlistBlob('x ', hosts, null), repo));
});
