// apr1 (MD5-crypt) as nginx's auth_basic and htpasswd(1) read it. The expected
// strings were produced by `openssl passwd -apr1 -salt SALT PASSWORD`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PASSWORD_HASH_RE, apr1, checkPassword, renderHtpasswd, reportUser, verifyApr1 } from '../../pipelines/report/htpasswd.ts';

describe('apr1', () => {
  const vectors: Array<[string, string, string]> = [
    ['secret-pass', 'abcdefgh', '$apr1$abcdefgh$d9r2l334sC1cAy6lzCL9h1'],
    ['correct horse battery', 'x/Y.12', '$apr1$x/Y.12$Kyv4OiX7cfq43O/MQsh46.'],
    ['pässwörd-ünïcode', 'Zz9', '$apr1$Zz9$JpP5vtaCihCzVJMgXGM9M.'],
  ];
  for (const [pw, salt, want] of vectors) {
    it(`matches openssl for salt ${salt}`, () => assert.equal(apr1(pw, salt), want));
  }

  it('uses a fresh 8-character salt each time and verifies', () => {
    const a = apr1('hunter2hunter2');
    const b = apr1('hunter2hunter2');
    assert.notEqual(a, b);
    assert.match(a, /^\$apr1\$[./0-9A-Za-z]{8}\$[./0-9A-Za-z]{22}$/);
    assert.ok(verifyApr1('hunter2hunter2', a));
    assert.ok(!verifyApr1('hunter2hunter3', a));
    assert.ok(!verifyApr1('hunter2hunter2', 'not-a-hash'));
  });

  it('accepts only hash formats nginx reads', () => {
    assert.ok(PASSWORD_HASH_RE.test(apr1('long enough')));
    assert.ok(PASSWORD_HASH_RE.test('{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g+wL3T'));
    assert.ok(!PASSWORD_HASH_RE.test('plaintext'));
    assert.ok(!PASSWORD_HASH_RE.test('$apr1$abc$short'));
    assert.ok(!PASSWORD_HASH_RE.test(apr1('long enough') + '\nevil:line'));
  });
});

describe('htpasswd file', () => {
  it('is sorted user:hash lines, user = site/host', () => {
    const h1 = apr1('password-one', 'aaaaaaaa');
    const h2 = apr1('password-two', 'bbbbbbbb');
    const text = renderHtpasswd([
      { user: reportUser('site-b', 'm2.example.org'), hash: h2 },
      { user: reportUser('site-a', 'm1.example.org'), hash: h1 },
    ]);
    assert.equal(text, `site-a/m1.example.org:${h1}\nsite-b/m2.example.org:${h2}\n`);
    assert.equal(renderHtpasswd([]), '');
  });

  it('refuses a user with ":" or whitespace and a hash that is not one', () => {
    assert.throws(() => renderHtpasswd([{ user: 'a:b', hash: apr1('password-one') }]), /contains ':'/);
    assert.throws(() => renderHtpasswd([{ user: 'a/b', hash: 'plain' }]), /not an apr1/);
  });

  it('checks password strength bounds', () => {
    assert.match(checkPassword('short') ?? '', /at least 8/);
    assert.match(checkPassword('long enough\nsecond') ?? '', /line breaks/);
    assert.equal(checkPassword('long enough'), null);
  });
});
