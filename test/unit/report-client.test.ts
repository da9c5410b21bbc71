// The report client's config validation, URL building, excludes and status text.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeStatus, excluder, parseClientConfig, reportUrl } from '../../pipelines/report/client.ts';
import { ValidationError } from '../../pipelines/core/errors.ts';

const base = { server: 'https://mirrors.example.org', site: 'lab', host: 'm1.lab.example.org', password: 'long enough pw', categories: [{ name: 'Fedora Linux', path: '/srv/fedora/linux' }] };

describe('report client config', () => {
  it('accepts a minimal config with defaults', () => {
    const c = parseClientConfig(base, '/etc/mirrorsmith/report.yaml');
    assert.equal(c.timeoutMs, 60_000);
    assert.equal(c.baseDir, '/etc/mirrorsmith');
    assert.deepEqual(c.categories[0]!.excludes, []);
  });

  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['both password sources', { ...base, passwordFile: 'pw' }, /report.yaml: password: give exactly one of password and passwordFile/],
    ['no password source', { ...base, password: undefined }, /password: give exactly one/],
    ['a non-http server', { ...base, server: 'ftp://mirrors.example.org' }, /server: must be an http:\/\/ or https:\/\/ URL/],
    ['a site name with a slash', { ...base, site: 'lab/x' }, /site: must be the site name/],
    ['no categories', { ...base, categories: [] }, /categories: /],
    ['an unknown key', { ...base, pasword: 'x' }, /unknown field\(s\) "pasword"/],
  ];
  for (const [what, raw, re] of bad) {
    it(`rejects ${what}, naming the field`, () => {
      assert.throws(
        () => parseClientConfig(raw, 'report.yaml'),
        (err: unknown) => err instanceof ValidationError && re.test(err.message),
      );
    });
  }
});

describe('report URLs, excludes and status lines', () => {
  it('builds the upload URL below the server path, encoded', () => {
    assert.equal(reportUrl('https://mirrors.example.org', 'lab', 'm1.example.org'), 'https://mirrors.example.org/reports/lab/m1.example.org.json');
    assert.equal(reportUrl('http://127.0.0.1:8080/mm/', 'lab', 'm1'), 'http://127.0.0.1:8080/mm/reports/lab/m1.json');
  });

  it('excludes like the master scan: anchored with a slash, any component without', () => {
    const ex = excluder(['development/old', 'lost+found', '*.tmp']);
    assert.ok(ex('development/old'));
    assert.ok(ex('development/old/x86_64'));
    assert.ok(!ex('releases/development/old'));
    assert.ok(ex('lost+found'));
    assert.ok(ex('releases/41/x.tmp/os'));
    assert.ok(!ex('releases/41'));
  });

  it('says what happened to the last report', () => {
    assert.equal(describeStatus(null), 'no report of this host has been ingested yet');
    const at = '2026-11-23T19:00:00.000Z';
    assert.equal(
      describeStatus({ format: 'mirrorsmith-report-status/1', site: 'lab', host: 'm1', outcome: 'rejected', at, reason: 'host lab/m1 is public' }),
      `last report REJECTED at ${at}: host lab/m1 is public`,
    );
    assert.match(describeStatus({ format: 'mirrorsmith-report-status/1', site: 'lab', host: 'm1', outcome: 'processed', at, counts: { upToDate: 3, behind: 1, absent: 0 } }), /processed .*: 3 directories up to date, 1 behind, 0 absent/);
  });
});
