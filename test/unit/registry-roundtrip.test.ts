// Property: any valid registry, written by export's YAML writer and read back by the
// loader's parser and validator, plans no change against itself.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseYaml } from '../../pipelines/core/config.ts';
import { COUNTRIES } from '../../pipelines/core/countries.ts';
import { planRegistry, type DbSite } from '../../pipelines/registry/apply.ts';
import { siteToYaml } from '../../pipelines/registry/export.ts';
import { validateSites, type HostEntry, type SiteFile } from '../../pipelines/registry/schema.ts';

const CATS = ['Fedora Linux', 'Fedora EPEL', 'CentOS'];
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
const country = fc.constantFrom(...COUNTRIES.keys());
const text = fc.string({ maxLength: 40 }).filter((s) => !s.includes('\0'));
const ipv4 = fc.tuple(fc.integer({ min: 1, max: 223 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 8, max: 32 })).map(([a, b, len]) => {
  // Build the network address for the prefix so no normalization warning is involved.
  const n = ((a << 24) | (b << 16)) >>> 0;
  const net = len === 0 ? 0 : (n & (~0 << (32 - len))) >>> 0;
  return `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${len}`;
});

function hostArb(name: string): fc.Arbitrary<HostEntry> {
  return fc.record({
    country: fc.option(country, { nil: undefined }),
    bandwidth_mbps: fc.integer({ min: 1, max: 200000 }),
    private: fc.boolean(),
    internet2: fc.boolean(),
    internet2_clients: fc.boolean(),
    asn: fc.option(fc.integer({ min: 1, max: 4294967295 }), { nil: undefined }),
    asn_clients: fc.boolean(),
    countries_allowed: fc.uniqueArray(country, { maxLength: 3 }),
    netblocks: fc.uniqueArray(ipv4, { minLength: 1, maxLength: 3 }),
    acl_ips: fc.uniqueArray(fc.constantFrom('192.0.2.1', '2001:db8::1', 'rsync.example.org'), { maxLength: 2 }),
    max_connections: fc.integer({ min: 1, max: 100 }),
    admin_active: fc.boolean(),
    user_active: fc.boolean(),
    comment: text,
    categories: fc.dictionary(fc.constantFrom(...CATS), fc.record({
      always_up2date: fc.boolean(),
      urls: fc.uniqueArray(fc.constantFrom(`https://${name}/pub/`, `rsync://${name}/pub/`, `ftp://${name}/pub/`), { maxLength: 3 }),
      private_urls: fc.uniqueArray(fc.constantFrom(`rsync://${name}/private/`), { maxLength: 1 }),
    })),
  }).map((h) => {
    const { country: c, asn, ...rest } = h;
    return { name, ...(c ? { country: c } : {}), ...(asn ? { asn } : {}), ...rest };
  });
}

const siteArb: fc.Arbitrary<SiteFile[]> = fc.uniqueArray(label, { minLength: 1, maxLength: 4 }).chain((names) =>
  fc.tuple(
    ...names.map((n, i) =>
      fc.record({
        org_url: fc.option(fc.constant(`https://www.${n}.example/`), { nil: undefined }),
        private: fc.boolean(),
        admin_active: fc.boolean(),
        user_active: fc.boolean(),
        admins: fc.uniqueArray(label, { maxLength: 2 }),
        comment: text,
        hosts: fc.uniqueArray(label, { minLength: 0, maxLength: 3 }).chain((hs): fc.Arbitrary<HostEntry[]> => (hs.length ? fc.tuple(...hs.map((h) => hostArb(`${h}.s${i}.example.org`))).map((t) => [...t]) : fc.constant([]))),
      }).map((s): SiteFile => {
        const { org_url, ...rest } = s;
        return { site: `${n}-${i}`, ...(org_url ? { org_url } : {}), ...rest, hosts: [...s.hosts] };
      }),
    ),
  ),
);

test('export YAML → load → plan against the same state is empty', () => {
  fc.assert(
    fc.property(siteArb, (sites) => {
      const docs = sites.map((s) => ({ file: `${s.site}.yaml`, data: parseYaml(siteToYaml(s, 'header'), `${s.site}.yaml`) }));
      const loaded = validateSites(docs, CATS);
      assert.deepEqual(loaded.errors, []);
      assert.deepEqual(loaded.warnings, []);
      let id = 1;
      const db: DbSite[] = sites.map((s) => ({ ...s, id: id++, hosts: s.hosts.map((h) => ({ ...h, id: id++, overrides: {} })) }));
      const plan = planRegistry(loaded.sites, db);
      assert.deepEqual(plan.items.map((i) => i.text), []);
    }),
    { numRuns: 150 },
  );
});
