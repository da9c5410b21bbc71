// The repo rules of examples/fedora.yaml map real Fedora master paths to the
// repository names MirrorManager serves (and dnf configs ask for).
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../pipelines/core/config.ts';
import { DEMO_CATEGORIES } from '../../pipelines/demo/master-tree.ts';
import { compileRules, mapRepository, substitute } from '../../pipelines/master/rules.ts';

const config = loadConfig(path.join(import.meta.dirname, '..', '..', 'examples', 'fedora.yaml'), {});
const rulesOf = (name: string) => compileRules(config.categories.find((c) => c.name === name)!.repoRules);
const map = (category: string, dir: string) => {
  const m = mapRepository(dir, rulesOf(category));
  return m ? `${m.prefix} ${m.arch}` : null;
};

test('examples/fedora.yaml is a valid config with the four categories', () => {
  assert.deepEqual(
    config.categories.map((c) => `${c.name}:${c.topdir}:${c.source.type}`),
    ['Fedora Linux:linux:local', 'Fedora EPEL:epel:rsync', 'Fedora Secondary:fedora-secondary:local', 'Fedora Archive:archive/fedora/linux:local'],
  );
  assert.ok(config.repositoryAliases.some((a) => a.from === 'fedora-rawhide' && a.to === 'rawhide'));
});

const FEDORA_LINUX: Array<[string, string | null]> = [
  ['releases/41/Everything/x86_64/os', 'fedora-41 x86_64'],
  ['releases/41/Everything/aarch64/os', 'fedora-41 aarch64'],
  ['releases/40/Everything/ppc64le/os', 'fedora-40 ppc64le'],
  ['releases/41/Everything/x86_64/debug/tree', 'fedora-debug-41 x86_64'],
  ['releases/41/Everything/source/tree', 'fedora-source-41 source'],
  ['updates/41/Everything/x86_64', 'updates-released-f41 x86_64'],
  ['updates/41/Everything/aarch64/debug', 'updates-released-debug-f41 aarch64'],
  ['updates/41/Everything/source/tree', 'updates-released-source-f41 source'],
  ['updates/testing/41/Everything/x86_64', 'updates-testing-f41 x86_64'],
  ['updates/testing/41/Everything/s390x/debug', 'updates-testing-debug-f41 s390x'],
  ['updates/testing/41/Everything/source/tree', 'updates-testing-source-f41 source'],
  ['development/rawhide/Everything/x86_64/os', 'rawhide x86_64'],
  ['development/rawhide/Everything/aarch64/debug/tree', 'rawhide-debug aarch64'],
  ['development/rawhide/Everything/source/tree', 'rawhide-source source'],
  ['development/42/Everything/x86_64/os', 'fedora-42 x86_64'],
  // Not repositories dnf asks for: reported by the scan when they hold repodata.
  ['releases/41/Workstation/x86_64/iso', null],
  ['releases/41/Everything/x86_64/os/Packages', null],
  ['updates/41', null],
];

for (const [dir, want] of FEDORA_LINUX) {
  test(`Fedora Linux: ${dir} → ${want ?? 'no repository'}`, () => assert.equal(map('Fedora Linux', dir), want));
}

test('Fedora EPEL, Secondary and Archive paths', () => {
  assert.equal(map('Fedora EPEL', '9/Everything/x86_64'), 'epel-9 x86_64');
  assert.equal(map('Fedora EPEL', '9/Everything/x86_64/debug'), 'epel-debug-9 x86_64');
  assert.equal(map('Fedora EPEL', '9/Everything/source/tree'), 'epel-source-9 source');
  assert.equal(map('Fedora EPEL', '10.0/Everything/aarch64'), 'epel-10.0 aarch64');
  assert.equal(map('Fedora EPEL', 'next/9/Everything/x86_64'), 'epel-next-9 x86_64');
  assert.equal(map('Fedora EPEL', 'testing/9/Everything/x86_64'), 'testing-epel9 x86_64');
  assert.equal(map('Fedora EPEL', 'testing/next/9/Everything/x86_64'), 'testing-epel-next9 x86_64');
  assert.equal(map('Fedora Secondary', 'releases/41/Everything/s390x/os'), 'fedora-41 s390x');
  assert.equal(map('Fedora Secondary', 'updates/41/Everything/ppc64le'), 'updates-released-f41 ppc64le');
  assert.equal(map('Fedora Archive', 'releases/30/Everything/x86_64/os'), 'fedora-30 x86_64');
  assert.equal(map('Fedora Archive', 'updates/25/x86_64'), 'updates-released-f25 x86_64');
  assert.equal(map('Fedora Archive', 'updates/30/Everything/x86_64'), 'updates-released-f30 x86_64');
});

test('the demo categories carry the same Fedora Linux rules as the example config', () => {
  const demo = DEMO_CATEGORIES.find((c) => c.name === 'Fedora Linux')!;
  const example = config.categories.find((c) => c.name === 'Fedora Linux')!;
  for (const r of demo.repoRules) assert.ok(example.repoRules.some((e) => e.match === r.match && e.repo === r.repo && e.arch === r.arch), `example lacks ${r.match}`);
});

test('first matching rule wins; empty substitutions do not match; disabled carried', () => {
  const rules = compileRules([
    { match: '^a/(x)?b$', repo: 'r$1', arch: '$1', disabled: false },
    { match: '^a/(\\w+)$', repo: 'two-$1', arch: 'noarch', disabled: true },
  ]);
  assert.deepEqual(mapRepository('a/xb', rules), { prefix: 'rx', arch: 'x', disabled: false, rule: 0 });
  // group 1 did not participate: arch would be empty, so the next rule is tried
  assert.deepEqual(mapRepository('a/b', rules), { prefix: 'two-b', arch: 'noarch', disabled: true, rule: 1 });
  assert.equal(substitute('x-${1}-$2', /^(a)(b)$/.exec('ab')!), 'x-a-b');
});
