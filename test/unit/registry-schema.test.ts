import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseYaml } from '../../pipelines/core/config.ts';
import { COUNTRIES, continentOf, isCountryCode } from '../../pipelines/core/countries.ts';
import { ValidationError } from '../../pipelines/core/errors.ts';
import { isDnsName, normalizeNetblock, urlProblem, validateSites, type SiteDoc } from '../../pipelines/registry/schema.ts';

const CATS = ['Fedora Linux', 'Fedora EPEL'];
const FILE = 'registry/uni.yaml';

function host(extra: Record<string, unknown> = {}) {
  return { name: 'mirror.uni.example.edu', country: 'DE', bandwidth_mbps: 1000, categories: { 'Fedora Linux': { urls: ['https://mirror.uni.example.edu/fedora/'] } }, ...extra };
}
function site(extra: Record<string, unknown> = {}, hosts: unknown[] = [host()]) {
  return { site: 'uni', hosts, ...extra };
}
function errorsOf(docs: SiteDoc[]): string[] {
  return validateSites(docs, CATS).errors;
}
function oneError(data: unknown): string {
  const errors = errorsOf([{ file: FILE, data }]);
  assert.equal(errors.length, 1, `expected exactly one error, got: ${JSON.stringify(errors, null, 2)}`);
  return errors[0]!;
}

test('a complete site file as in the issue is accepted with defaults filled in', () => {
  const r = validateSites(
    [
      {
        file: FILE,
        data: parseYaml(
          `site: example-university
org_url: https://example.edu/
private: false
admin_active: true
user_active: true
admins: [alice]
comment: free text
hosts:
  - name: mirror.example.edu
    country: DE
    bandwidth_mbps: 1000
    private: false
    internet2: false
    internet2_clients: false
    asn: 680
    asn_clients: false
    countries_allowed: []
    netblocks: [192.0.2.0/24, "2001:db8::/32", nat-gw.example.edu]
    acl_ips: [192.0.2.10, rsync.example.edu]
    max_connections: 10
    admin_active: true
    user_active: true
    comment: free text
    categories:
      Fedora Linux:
        always_up2date: false
        urls:
          - https://mirror.example.edu/fedora/
          - rsync://mirror.example.edu/fedora/
        private_urls: []
`,
          FILE,
        ),
      },
    ],
    CATS,
  );
  assert.deepEqual(r.errors, []);
  assert.equal(r.sites.length, 1);
  const h = r.sites[0]!.hosts[0]!;
  assert.deepEqual(h.netblocks, ['192.0.2.0/24', '2001:db8::/32', 'nat-gw.example.edu']);
  assert.equal(h.asn, 680);
  assert.deepEqual(h.categories['Fedora Linux']!.urls, ['https://mirror.example.edu/fedora/', 'rsync://mirror.example.edu/fedora/']);

  const minimal = validateSites([{ file: FILE, data: { site: 'tiny', hosts: [{ name: 'm.tiny.example' }] } }], CATS);
  assert.deepEqual(minimal.errors, []);
  assert.equal(minimal.sites[0]!.hosts[0]!.bandwidth_mbps, 100);
  assert.equal(minimal.sites[0]!.hosts[0]!.admin_active, true);
});

test('duplicate site names across files are an error naming both files', () => {
  const errors = errorsOf([
    { file: 'registry/a.yaml', data: site({}, [host({ name: 'a.example.org' })]) },
    { file: 'registry/b.yaml', data: site({}, [host({ name: 'b.example.org' })]) },
  ]);
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /^registry\/b\.yaml: site uni: site: duplicate site name "uni" \(also in registry\/a\.yaml\)$/);
});

test('duplicate host names, within a site or across sites, are an error naming the host field', () => {
  assert.match(oneError(site({}, [host(), host()])), /^registry\/uni\.yaml: site uni, host mirror\.uni\.example\.edu: hosts\[1\]\.name: duplicate host name "mirror\.uni\.example\.edu"/);
  const errors = errorsOf([
    { file: 'registry/a.yaml', data: site({ site: 'a' }) },
    { file: 'registry/b.yaml', data: site({ site: 'b' }) },
  ]);
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /registry\/b\.yaml: site b, host mirror\.uni\.example\.edu: hosts\[0\]\.name: duplicate host name .*also in registry\/a\.yaml site a/);
});

test('an unknown field is named at every level', () => {
  assert.equal(oneError(site({ hostz: [] })), 'registry/uni.yaml: site uni: hostz: unknown field "hostz"');
  assert.equal(oneError(site({}, [host({ bandwith_mbps: 10 })])), 'registry/uni.yaml: site uni, host mirror.uni.example.edu: hosts[0].bandwith_mbps: unknown field "bandwith_mbps"');
  assert.equal(
    oneError(site({}, [host({ categories: { 'Fedora Linux': { url: ['https://x.example/'] } } })])),
    'registry/uni.yaml: site uni, host mirror.uni.example.edu: hosts[0].categories["Fedora Linux"].url: unknown field "url"',
  );
});

test('bandwidth must be an integer above 0', () => {
  assert.match(oneError(site({}, [host({ bandwidth_mbps: 0 })])), /hosts\[0\]\.bandwidth_mbps: must be greater than 0$/);
  assert.match(oneError(site({}, [host({ bandwidth_mbps: -5 })])), /hosts\[0\]\.bandwidth_mbps: must be greater than 0$/);
  assert.match(oneError(site({}, [host({ bandwidth_mbps: 1.5 })])), /hosts\[0\]\.bandwidth_mbps: expected an integer, got number 1\.5$/);
  assert.match(oneError(site({}, [host({ bandwidth_mbps: '1000' })])), /hosts\[0\]\.bandwidth_mbps: expected number, got string "1000"$/);
  // 100000 is fine here: the 1..10000 clamp happens at selection time.
  assert.deepEqual(errorsOf([{ file: FILE, data: site({}, [host({ bandwidth_mbps: 100000 })]) }]), []);
});

test('country codes must be ISO 3166-1 alpha-2', () => {
  assert.match(oneError(site({}, [host({ country: 'XX' })])), /host mirror\.uni\.example\.edu: hosts\[0\]\.country: "XX" is not an ISO 3166-1 alpha-2 country code/);
  assert.match(oneError(site({}, [host({ country: 'de' })])), /hosts\[0\]\.country: must be an ISO 3166-1 alpha-2 code in capitals/);
  assert.match(oneError(site({}, [host({ country: 'UK' })])), /hosts\[0\]\.country: "UK" is not an ISO/);
  assert.match(oneError(site({}, [host({ countries_allowed: ['IL', 'ZZ'] })])), /hosts\[0\]\.countries_allowed\[1\]: "ZZ" is not an ISO/);
});

test('a CIDR with host bits set is normalized with a warning naming the field', () => {
  const r = validateSites([{ file: FILE, data: site({}, [host({ netblocks: ['192.0.2.77/24', '2001:DB8:0:0::1/32', '198.51.100.7'] })]) }], CATS);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.sites[0]!.hosts[0]!.netblocks, ['192.0.2.0/24', '2001:db8::/32', '198.51.100.7/32']);
  assert.equal(r.warnings.length, 2);
  assert.match(r.warnings[0]!, /^registry\/uni\.yaml: site uni, host mirror\.uni\.example\.edu: hosts\[0\]\.netblocks\[0\]: "192\.0\.2\.77\/24" has host bits set; normalized to 192\.0\.2\.0\/24$/);
  assert.match(r.warnings[1]!, /netblocks\[1\]: .*normalized to 2001:db8::\/32/);
});

test('an unparseable netblock is an error naming the field', () => {
  assert.match(oneError(site({}, [host({ netblocks: ['192.0.2.0/33'] })])), /hosts\[0\]\.netblocks\[0\]: "192\.0\.2\.0\/33" has a prefix length above 32/);
  assert.match(oneError(site({}, [host({ netblocks: ['300.1.2.0/24'] })])), /hosts\[0\]\.netblocks\[0\]: "300\.1\.2\.0\/24" is not a valid IP address or CIDR/);
  assert.match(oneError(site({}, [host({ netblocks: ['10.0.0.0/8/2'] })])), /hosts\[0\]\.netblocks\[0\]: .*not a valid CIDR/);
  assert.match(oneError(site({}, [host({ netblocks: ['not a netblock'] })])), /hosts\[0\]\.netblocks\[0\]: .*whitespace|neither a CIDR/);
  assert.match(oneError(site({}, [host({ acl_ips: ['192.0.2.0/24'] })])), /hosts\[0\]\.acl_ips\[0\]: "192\.0\.2\.0\/24" is neither an IP address nor a DNS name/);
});

test('URLs: only http, https, ftp and rsync, no credentials, no dangerous characters', () => {
  const urlError = (url: string) => oneError(site({}, [host({ categories: { 'Fedora Linux': { urls: ['https://ok.example/', url] } } })]));
  assert.equal(urlError('gopher://mirror.uni.example.edu/fedora/'), 'registry/uni.yaml: site uni, host mirror.uni.example.edu: hosts[0].categories["Fedora Linux"].urls[1]: scheme "gopher" not allowed (http, https, ftp, rsync)');
  assert.match(urlError('file:///etc/passwd'), /urls\[1\]: scheme "file" not allowed/);
  assert.match(urlError('https://user:secret@mirror.example/'), /urls\[1\]: must not contain credentials/);
  assert.match(urlError('ftp://anonymous@mirror.example/'), /urls\[1\]: must not contain credentials/);
  assert.match(urlError('https://mirror.example/fe dora/'), /urls\[1\]: must not contain whitespace/);
  assert.match(urlError('https://mirror.example/fedora/\n'), /urls\[1\]: must not contain a newline/);
  assert.match(urlError('https://mirror.example/"fedora"/'), /urls\[1\]: must not contain quotes/);
  assert.match(urlError("https://mirror.example/'x'/"), /urls\[1\]: must not contain quotes/);
  assert.match(urlError('https://mirror.example/a;b/'), /urls\[1\]: must not contain ";"/);
  assert.match(urlError('https://mirror.example/{a}/'), /urls\[1\]: must not contain "\{"/);
  assert.match(urlError('https://mirror.example/a}/'), /urls\[1\]: must not contain "\}"/);
  assert.match(urlError('https://mirror.example/$arg/'), /urls\[1\]: must not contain "\$"/);
  assert.match(urlError('https://mirror.example/a\\b/'), /urls\[1\]: must not contain "\\"/);
  assert.match(urlError('mirror.example/fedora/'), /urls\[1\]: is not an absolute URL/);
  assert.match(urlError('https://mirror_bad.example/'), /urls\[1\]: host "mirror_bad\.example" is not a DNS name/);
  assert.match(oneError(site({ org_url: 'javascript:alert(1)' })), /^registry\/uni\.yaml: site uni: org_url: scheme "javascript" not allowed/);
  assert.match(
    oneError(site({}, [host({ categories: { 'Fedora Linux': { urls: [], private_urls: ['rsync://u:p@x.example/m/'] } } })])),
    /categories\["Fedora Linux"\]\.private_urls\[0\]: must not contain credentials/,
  );
  for (const ok of ['http://a.example/', 'https://a.example:8443/x/', 'ftp://a.example/pub/', 'rsync://a.example/fedora/', 'http://127.0.0.1:18631/h/x/', 'http://[2001:db8::1]/x/']) {
    assert.equal(urlProblem(ok), undefined, ok);
  }
});

test('host names must be DNS names', () => {
  assert.match(oneError(site({}, [host({ name: 'Mirror_1.example.org' })])), /host Mirror_1\.example\.org: hosts\[0\]\.name: host name is not a DNS name/);
  assert.match(oneError(site({}, [host({ name: '192.0.2.1' })])), /hosts\[0\]\.name: host name is not a DNS name/);
  assert.match(oneError(site({}, [host({ name: '-bad.example.org' })])), /hosts\[0\]\.name: host name is not a DNS name/);
  assert.match(oneError(site({}, [host({ name: `${'a'.repeat(64)}.example.org` })])), /hosts\[0\]\.name: host name is not a DNS name/);
  assert.ok(isDnsName('mirror.example.edu') && isDnsName('localhost') && !isDnsName('a..b') && !isDnsName(''));
});

test('site names follow [a-z0-9][a-z0-9.-]*', () => {
  assert.match(oneError(site({ site: 'Uni Site' })), /^registry\/uni\.yaml: site Uni Site: site: site name must match \[a-z0-9\]\[a-z0-9\.-\]\*$/);
  assert.match(oneError({ hosts: [] }), /site \?: site: expected string \(required\)/);
});

test('a private host, or a host of a private site, must have netblocks', () => {
  assert.match(oneError(site({}, [host({ private: true })])), /^registry\/uni\.yaml: site uni, host mirror\.uni\.example\.edu: hosts\[0\]\.netblocks: a private host needs at least one netblock/);
  assert.match(oneError(site({ private: true }, [host()])), /hosts\[0\]\.netblocks: a private site's host needs at least one netblock/);
  assert.deepEqual(errorsOf([{ file: FILE, data: site({ private: true }, [host({ netblocks: ['10.0.0.0/8'] })]) }]), []);
});

test('categories must exist in the config; a URL cannot be both public and private', () => {
  assert.match(oneError(site({}, [host({ categories: { 'CentOS': { urls: [] } } })])), /hosts\[0\]\.categories\["CentOS"\]: unknown category \(the config defines: Fedora Linux, Fedora EPEL\)/);
  assert.match(
    oneError(site({}, [host({ categories: { 'Fedora Linux': { urls: ['https://a.example/'], private_urls: ['https://a.example/'] } } })])),
    /hosts\[0\]\.categories\["Fedora Linux"\]\.private_urls: https:\/\/a\.example\/ is also listed in urls/,
  );
});

test('a YAML syntax error names the file and line; an empty file is reported', () => {
  assert.throws(
    () => parseYaml('site: uni\nhosts:\n  - name: [unclosed\n', FILE),
    (err: unknown) => err instanceof ValidationError && /registry\/uni\.yaml: .*line/i.test(err.issues[0]!),
  );
  assert.throws(() => parseYaml('site: a\nsite: b\n', FILE), (err: unknown) => err instanceof ValidationError && /unique|duplicate/i.test(err.message));
  assert.match(oneError(null), /registry\/uni\.yaml: \(top level\): file is empty/);
  assert.match(oneError(['a']), /registry\/uni\.yaml: site \?: \(top level\): expected object, got a list/);
});

test('all problems of all files are reported together', () => {
  const errors = errorsOf([
    { file: 'registry/a.yaml', data: site({ site: 'a' }, [host({ bandwidth_mbps: 0, country: 'QQ' })]) },
    { file: 'registry/b.yaml', data: site({ site: 'b', extra: 1 }, [host({ name: 'm.b.example' })]) },
  ]);
  assert.equal(errors.length, 3);
  assert.ok(errors.some((e) => e.startsWith('registry/a.yaml') && e.includes('bandwidth_mbps')));
  assert.ok(errors.some((e) => e.startsWith('registry/a.yaml') && e.includes('country')));
  assert.ok(errors.some((e) => e.startsWith('registry/b.yaml') && e.includes('extra')));
});

test('normalizeNetblock handles IPv4, IPv6, bare addresses and DNS names', () => {
  assert.deepEqual(normalizeNetblock('10.1.2.3/8'), { kind: 'cidr', value: '10.0.0.0/8', warning: '"10.1.2.3/8" has host bits set; normalized to 10.0.0.0/8' });
  assert.deepEqual(normalizeNetblock('2001:db8::1'), { kind: 'cidr', value: '2001:db8::1/128' });
  assert.deepEqual(normalizeNetblock('2001:0db8::/32'), { kind: 'cidr', value: '2001:db8::/32' });
  assert.deepEqual(normalizeNetblock('0.0.0.0/0'), { kind: 'cidr', value: '0.0.0.0/0' });
  assert.deepEqual(normalizeNetblock('nat-gw.example.edu'), { kind: 'dns', value: 'nat-gw.example.edu' });
  assert.throws(() => normalizeNetblock(' 10.0.0.0/8'), /whitespace/);
});

test('the country table is complete ISO 3166-1 with GeoNames continents', () => {
  assert.equal(COUNTRIES.size, 249);
  for (const [code, info] of COUNTRIES) {
    assert.match(code, /^[A-Z]{2}$/);
    assert.ok(info.name.length > 0);
  }
  const expect: Record<string, string> = { US: 'NA', CA: 'NA', MX: 'NA', BR: 'SA', AR: 'SA', DE: 'EU', GB: 'EU', FR: 'EU', RU: 'EU', JP: 'AS', CN: 'AS', IN: 'AS', IL: 'AS', AU: 'OC', NZ: 'OC', ZA: 'AF', EG: 'AF', AQ: 'AN' };
  for (const [code, continent] of Object.entries(expect)) assert.equal(continentOf(code), continent, code);
  assert.ok(!isCountryCode('UK') && !isCountryCode('EU') && !isCountryCode('XX'));
});
