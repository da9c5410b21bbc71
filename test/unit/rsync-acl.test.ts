import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDnsName, parseAddress, resolveAcl, rsyncAclText, rsyncdSnippet, sortAddresses, type Resolver } from '../../pipelines/public/rsync-acl.ts';

const never = new AbortController().signal;

function fakeResolver(table: Record<string, string[]>, calls: string[] = []): Resolver {
  return async (name) => {
    calls.push(name);
    const found = table[name];
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return found;
  };
}

describe('rsync_acl', () => {
  it('normalizes addresses and CIDRs, clearing host bits', () => {
    assert.equal(parseAddress('192.0.2.10')?.text, '192.0.2.10');
    assert.equal(parseAddress('198.51.100.7/28')?.text, '198.51.100.0/28');
    assert.equal(parseAddress('2001:DB8:0:0::10')?.text, '2001:db8::10');
    assert.equal(parseAddress('2001:db8::1/32')?.text, '2001:db8::/32');
    assert.equal(parseAddress('::ffff:192.0.2.10')?.text, '192.0.2.10');
    for (const bad of ['192.0.2.256', '1.2.3', 'mirror.example.org', '10.0.0.1; rm -rf /', '', '2001:db8::g']) assert.equal(parseAddress(bad), null, bad);
  });

  it('sorts IPv4 numerically before IPv6 and drops duplicates', () => {
    const list = ['2001:db8::2', '10.0.0.10', '10.0.0.9', '2001:db8::10', '9.255.255.255', '10.0.0.9', '10.0.0.0/8', '::1'].map((s) => parseAddress(s)!);
    assert.deepEqual(sortAddresses(list).map((a) => a.text), ['9.255.255.255', '10.0.0.0/8', '10.0.0.9', '10.0.0.10', '::1', '2001:db8::2', '2001:db8::10']);
  });

  it('lists every address a hostname resolves to, once, and reports names that do not resolve', async () => {
    const calls: string[] = [];
    const resolve = fakeResolver({ 'rsync.example.edu': ['192.0.2.20', '2001:db8::20', '192.0.2.21', '192.0.2.10'], 'gw.example.org': ['203.0.113.1'] }, calls);
    const acl = await resolveAcl(
      [
        { host: 'a.example.edu', value: '192.0.2.10' },
        { host: 'a.example.edu', value: 'rsync.example.edu' },
        { host: 'b.example.org', value: 'gw.example.org.' },
        { host: 'b.example.org', value: 'missing.example.org' },
        { host: 'c.example.net', value: '192.0.2.10' },
        { host: 'c.example.net', value: 'bad value!' },
      ],
      resolve,
      { signal: never },
    );
    assert.deepEqual(acl.addresses.map((a) => a.text), ['192.0.2.10', '192.0.2.20', '192.0.2.21', '203.0.113.1', '2001:db8::20']);
    assert.equal(acl.resolvedNames, 2);
    assert.deepEqual(calls.sort(), ['gw.example.org', 'missing.example.org', 'rsync.example.edu']);
    assert.equal(acl.notes.length, 2);
    assert.match(acl.notes.join('\n'), /b\.example\.org: acl name missing\.example\.org did not resolve \(getaddrinfo ENOTFOUND/);
    assert.match(acl.notes.join('\n'), /c\.example\.net: acl entry "bad value!" is neither an address nor a DNS name/);
    const text = rsyncAclText(acl.addresses);
    assert.equal(text, '192.0.2.10\n192.0.2.20\n192.0.2.21\n203.0.113.1\n2001:db8::20\n');
    assert.doesNotMatch(text, /missing|example/);
  });

  it('gives up on a resolver that hangs, after its timeout', async () => {
    const hang: Resolver = (_name, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    const t0 = Date.now();
    const acl = await resolveAcl([{ host: 'h', value: 'slow.example.org' }], hang, { signal: never, timeoutMs: 100 });
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(acl.addresses.length, 0);
    assert.match(acl.notes[0]!, /slow\.example\.org did not resolve \(no answer within 100 ms\)/);
  });

  it('is deterministic whatever order the entries and answers come in', async () => {
    const table = { 'x.example.org': ['192.0.2.3', '192.0.2.1'], 'y.example.org': ['192.0.2.1', '2001:db8::1'] };
    const entries = [
      { host: 'h1', value: 'x.example.org' },
      { host: 'h2', value: 'y.example.org' },
      { host: 'h3', value: '198.51.100.1' },
    ];
    const a = await resolveAcl(entries, fakeResolver(table), { signal: never });
    const b = await resolveAcl([...entries].reverse(), fakeResolver(table), { signal: never });
    assert.equal(rsyncAclText(a.addresses), rsyncAclText(b.addresses));
  });

  it('writes an rsyncd hosts allow snippet with continuation lines', () => {
    const many = Array.from({ length: 30 }, (_, i) => parseAddress(`192.0.2.${i + 1}`)!);
    const snippet = rsyncdSnippet(sortAddresses(many));
    assert.match(snippet, /^hosts allow = 192\.0\.2\.1 192\.0\.2\.2 /m);
    assert.match(snippet, /^hosts deny = \*$/m);
    const joined = snippet.replace(/\\\n\s*/g, '');
    assert.match(joined, /hosts allow = (192\.0\.2\.\d+ ?){30}\n/);
    assert.match(rsyncdSnippet([]), /nobody is allowed/);
  });

  it('accepts DNS names only', () => {
    assert.ok(isDnsName('rsync.example.edu'));
    assert.ok(isDnsName('gw.example.org.'));
    assert.ok(!isDnsName('1.2.3.4'));
    assert.ok(!isDnsName('-bad.example.org'));
    assert.ok(!isDnsName('a b.example.org'));
  });
});
