import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig, parseYaml } from '../../pipelines/core/config.ts';
import { ValidationError } from '../../pipelines/core/errors.ts';

function configError(raw: unknown): string {
  try {
    parseConfig(raw, 'mirrorsmith.yaml');
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected ValidationError, got ${err}`);
    return err.message;
  }
  assert.fail('config was accepted');
}

test('defaults fill an empty config', () => {
  const c = parseConfig({}, '', { DATABASE_URL: '' });
  assert.equal(c.database.dataDir, 'var/db');
  assert.equal(c.selection.minimum, 5);
  assert.equal(c.databaseUrl, undefined);
  assert.ok(Object.isFrozen(c.crawl));
});

test('DATABASE_URL from the environment selects the real server', () => {
  assert.equal(parseConfig({}, '', { DATABASE_URL: 'postgres://x@127.0.0.1/db' }).databaseUrl, 'postgres://x@127.0.0.1/db');
});

test('errors name the key path', () => {
  assert.match(configError({ crawl: { concurrency: 0 } }), /mirrorsmith\.yaml: crawl\.concurrency: /);
  assert.match(configError({ bogus: 1 }), /\(top level\): unknown field\(s\) "bogus"/);
  assert.match(configError({ crawl: { concurency: 3 } }), /crawl: unknown field\(s\) "concurency"/);
  assert.match(configError({ countryContinentRedirects: { il: 'EU' } }), /countryContinentRedirects\.il: .*ISO 3166/);
  assert.match(configError({ countryContinentRedirects: { IL: 'XX' } }), /countryContinentRedirects\.IL: /);
  const cat = { name: 'Fedora Linux', topdir: 'linux', source: { type: 'local', path: '/srv/pub' } };
  assert.match(configError({ categories: [{ ...cat, topdir: '../etc' }] }), /categories\.0\.topdir: must be a relative path/);
  assert.match(configError({ categories: [{ ...cat, repoRules: [{ match: '(', repo: 'x', arch: 'y' }] }] }), /categories\.0\.repoRules\.0\.match: is not a valid regular expression/);
  assert.match(configError({ categories: [cat, cat] }), /categories\.1\.name: duplicate category "Fedora Linux"/);
  assert.match(configError({ categories: [{ ...cat, source: { type: 'rsync', url: 'rsync://h/x;rm' } }] }), /categories\.0\.source\.url: must be an rsync:\/\/ URL/);
  assert.match(configError({ selection: { countrySets: [['DE', 'X"']] } }), /selection\.countrySets\.0\.1: must be an ISO 3166-1 alpha-2 country code/);
  assert.match(configError({ selection: { countrySets: [['DE', 'de']] } }), /selection\.countrySets\.0: must not name a country twice/);
  assert.match(configError({ selection: { countrySets: [['DE']] } }), /selection\.countrySets\.0: /);
  assert.deepEqual(parseConfig({ selection: { countrySets: [['de', 'at']] } }, '').selection.countrySets, [['DE', 'AT']]);
});

test('invalid YAML is reported with the file name and position', () => {
  assert.throws(() => parseYaml('a: [1, 2\nb: }', 'mirrorsmith.yaml'), (err: Error) => {
    assert.ok(err instanceof ValidationError);
    assert.match(err.message, /mirrorsmith\.yaml is not valid YAML/);
    assert.match(err.message, /line \d+/);
    return true;
  });
  assert.throws(() => parseYaml('a: 1\na: 2\n', 'dup.yaml'), /dup\.yaml: .*(unique|Map keys)/i);
});
