import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareVersions } from '../../pipelines/public/publiclist.ts';
import { fmtBandwidth, fmtDuration, fmtTime, groupByPlace, safeHref, slug, urlsByProtocol, versionOf } from '../../pipelines/public/model.ts';
import type { PublicHost } from '../../pipelines/public/data.ts';

describe('public list model', () => {
  it('derives the release from MirrorManager-style repository names', () => {
    const cases: Record<string, string> = {
      'fedora-41': '41', 'fedora-debug-41': '41', 'fedora-source-41': '41', 'updates-released-f41': '41', 'updates-testing-f40': '40',
      'epel-9': '9', 'epel-testing-9': '9', 'centos-8.5': '8.5', rawhide: 'rawhide', 'rawhide-debug': 'rawhide-debug', 'fedora-secondary-41': '41',
    };
    for (const [prefix, version] of Object.entries(cases)) assert.equal(versionOf(prefix), version, prefix);
  });

  it('orders development names (rawhide) first, then releases newest first', () => {
    assert.deepEqual(['9', 'rawhide', '41', '40', '8.5', 'eln'].sort(compareVersions), ['eln', 'rawhide', '41', '40', '9', '8.5']);
  });

  it('makes path segments that cannot escape or break a URL', () => {
    assert.equal(slug('Fedora Linux'), 'Fedora-Linux');
    assert.equal(slug('../etc'), '__etc');
    assert.equal(slug('.hidden'), '_hidden');
    assert.equal(slug('a/b?c#d'), 'a_b_c_d');
    assert.equal(slug('x86_64'), 'x86_64');
    assert.equal(slug(''), '_');
  });

  it('links only http, https, ftp and rsync URLs', () => {
    assert.equal(safeHref('https://example.org/a?b=1&c=2'), 'https://example.org/a?b=1&c=2');
    assert.equal(safeHref('rsync://example.org/fedora/'), 'rsync://example.org/fedora/');
    for (const bad of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'data:text/html,<script>', 'https://ex"ample.org', 'https://a b', '//example.org', null]) assert.equal(safeHref(bad), null, String(bad));
  });

  it('groups URLs by protocol, https first, deduplicated', () => {
    assert.deepEqual(urlsByProtocol(['rsync://m/f/', 'http://m/f/', 'https://m/f/', 'ftp://m/f/', 'https://m/f/', 'https://m/e/']), [
      { protocol: 'https', urls: ['https://m/e/', 'https://m/f/'] },
      { protocol: 'http', urls: ['http://m/f/'] },
      { protocol: 'ftp', urls: ['ftp://m/f/'] },
      { protocol: 'rsync', urls: ['rsync://m/f/'] },
    ]);
  });

  it('formats times, durations and bandwidth deterministically', () => {
    assert.equal(fmtTime(new Date('2026-11-20T10:30:59.999Z')), '2026-11-20 10:30 UTC');
    assert.equal(fmtTime(null), 'never');
    assert.equal(fmtDuration(850), '850 ms');
    assert.equal(fmtDuration(61_000), '61.0 s');
    assert.equal(fmtDuration(5 * 60_000), '5.0 min');
    assert.equal(fmtDuration(null), '—');
    assert.equal(fmtBandwidth(10_000), '10 Gbit/s');
    assert.equal(fmtBandwidth(1500), '1.5 Gbit/s');
    assert.equal(fmtBandwidth(100), '100 Mbit/s');
  });

  it('groups hosts by continent then country, both by name, unknown last', () => {
    const h = (name: string, country: string | null) => ({ name, country }) as PublicHost;
    const groups = groupByPlace([h('a', 'US'), h('b', 'SE'), h('c', 'FI'), h('d', null), h('e', 'SE'), h('f', 'CA')], (x) => x);
    assert.deepEqual(
      groups.map((g) => [g.continent, g.count, g.countries.map((c) => [c.country, c.items.map((i) => i.name).join('')])]),
      [
        ['EU', 3, [['FI', 'c'], ['SE', 'be']]],
        ['NA', 2, [['CA', 'f'], ['US', 'a']]],
        ['XX', 1, [[null, 'd']]],
      ],
    );
  });
});
