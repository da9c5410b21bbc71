// The pure core of scan-master: names, listing parsers, rows, short lists,
// excludes, repomd.xml and checksum files — over real captured artifacts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { hashes, parseChecksumFile, parseRepomd, repomdDetail } from '../../pipelines/master/details.ts';
import { formatFullFileTimeList, listedDirectories, modeFromPerms, parseFullFileTimeList, parseRsyncLine } from '../../pipelines/master/listing.ts';
import { canonicalName, nameToBytes, unescapeRsync } from '../../pipelines/master/names.ts';
import { buildDirRows, dirStateDigest, findChecksumFiles, findRepoDirs, makeExcluder, rowChanged, scanBuilder, scansFromEntries, shortFileList, type DirScan, type StoredDir } from '../../pipelines/master/tree.ts';
import { pickFileTimeList, reuseUnchanged } from '../../pipelines/master/scan.ts';
import { CategorySchema, loadConfig } from '../../pipelines/core/config.ts';
import { compileRules, mapRepository } from '../../pipelines/master/rules.ts';

const FIX = path.join(import.meta.dirname, '..', 'fixtures', 'master');
const fixture = (f: string) => fs.readFileSync(path.join(FIX, f));

test('canonical names: UTF-8 kept, control and invalid bytes escaped, reversible', () => {
  assert.equal(canonicalName(Buffer.from('Everything')), 'Everything');
  assert.equal(canonicalName(Buffer.from('café sp ace')), 'café sp ace');
  assert.equal(canonicalName(Buffer.from('new\nline')), 'new\\#012line');
  assert.equal(canonicalName(Buffer.from([0x62, 0x61, 0x64, 0xff])), 'bad\\#377');
  assert.equal(canonicalName(Buffer.from([0xc3])), '\\#303', 'truncated sequence');
  assert.equal(canonicalName(Buffer.from([0xed, 0xa0, 0x80])), '\\#355\\#240\\#200', 'surrogate half is not UTF-8');
  assert.equal(canonicalName(Buffer.from('a\\#b')), 'a\\#134#b', 'a literal backslash-hash is escaped');
  assert.equal(canonicalName(Buffer.from('a\\b')), 'a\\b');
  for (const raw of [Buffer.from('new\nline'), Buffer.from([0x62, 0xff, 0x0d]), Buffer.from('a\\#b'), Buffer.from('café'), Buffer.from([0xc3, 0x28])]) {
    assert.deepEqual(nameToBytes(canonicalName(raw)), raw);
  }
  assert.deepEqual(unescapeRsync(Buffer.from('new\\#012line')), Buffer.from('new\nline'));
});

test('rsync --list-only lines (a real captured listing)', () => {
  const lines = fixture('rsync-list-only.txt').toString('latin1').split('\n').filter(Boolean).map((l) => Buffer.from(l, 'latin1'));
  const entries = lines.map(parseRsyncLine);
  assert.ok(entries.every(Boolean));
  const byName = new Map(entries.map((e) => [e!.name, e!]));
  assert.deepEqual(byName.get(''), { name: '', type: 'd', size: 4096, time: Date.UTC(2024, 3, 16, 10) / 1000, mode: 0o755 });
  assert.equal(byName.get('releases/42')!.mode, 0o750);
  assert.equal(byName.get('releases/41/Everything/x86_64/os/repodata/repomd.xml')!.size, 1234);
  assert.equal(byName.get('releases/41/loop')!.type, 'l');
  assert.ok(byName.has('releases/41/new\\#012line'), 'newline in a name');
  assert.ok(byName.has('releases/41/bad\\#377'), 'non-UTF-8 byte');
  assert.ok(byName.has('releases/41/café'), 'UTF-8 kept');
  assert.ok(byName.has('releases/41/sp ace'));
  assert.equal(parseRsyncLine(Buffer.from('Welcome to the master rsync server')), null);
  assert.equal(modeFromPerms('rwsr-x--T'), 0o750);
});

test('fullfiletimelist: parsed, and garbage reported with line numbers', () => {
  const good = formatFullFileTimeList([
    { name: 'releases', type: 'd', size: 4096, time: 100 },
    { name: 'releases/41/Everything/x86_64/os/repodata/repomd.xml', type: 'f', size: 3000, time: 200 },
    { name: 'releases/41/link', type: 'l', size: 4, time: 300 },
    { name: 'bad\\#377name', type: 'f', size: 1, time: 1 },
    { name: 'new\\#012line', type: 'f', size: 1, time: 1 },
  ]);
  const parsed = parseFullFileTimeList(good);
  assert.deepEqual(parsed.issues, []);
  assert.equal(parsed.entries.length, 4, 'a newline name cannot be written in the format');
  assert.ok(parsed.entries.some((e) => e.name === 'bad\\#377name'), 'raw bytes round-trip');
  const bad = Buffer.from('[Version]\n2\n\n[Files]\n100\td\t4096\treleases\nnot a line\n100\tq\t1\tx\n12a\tf\t1\ty\n100\tf\t-1\tz\n100\tf\t1\t../etc/passwd\n[End]\n');
  const issues = parseFullFileTimeList(bad).issues;
  assert.deepEqual(
    issues.map((i) => i.split(':')[0]),
    ['line 6', 'line 7', 'line 8', 'line 9', 'line 10'],
  );
  assert.match(issues[1]!, /bad type "q"/);
  assert.match(parseFullFileTimeList(Buffer.from('[Version]\n2\n[Files]\n1\td\t1\ta\n')).issues[0]!, /no \[End\] marker/);
  assert.match(parseFullFileTimeList(Buffer.from('hello\n')).issues[0]!, /no \[Files\] section/);
});

test('fullfiletimelist directories without a full parse: the same d lines, names and times; unsound lists give null', () => {
  const list = formatFullFileTimeList([
    { name: 'releases', type: 'd', size: 4096, time: 100 },
    { name: 'releases/41', type: 'd', size: 4096, time: 101 },
    { name: 'releases/41/a\td\tb', type: 'f', size: 1, time: 5 }, // a name holding the type field
    { name: 'releases/41/Everything/x86_64/os/repodata/repomd.xml', type: 'f', size: 3000, time: 200 },
    { name: 'bad\#377dir', type: 'd', size: 1, time: 7 },
    { name: 'sp ace', type: 'd', size: 1, time: 8 },
    { name: 'releases/41/link', type: 'l', size: 4, time: 300 },
  ]);
  const fromParse = parseFullFileTimeList(list).entries.filter((e) => e.type === 'd').map((e) => ({ name: e.name, time: e.time }));
  assert.equal(fromParse.length, 4);
  assert.deepEqual(listedDirectories(list), fromParse);
  const crlf = Buffer.from('[Version]\r\n2\r\n[Files]\r\n5\td\t1\ta/b\r\n6\tf\t1\ta/b/c\r\n[Checksums SHA1]\r\n9\td\t1\tnot-a-dir\r\n[End]\r\n');
  assert.deepEqual(listedDirectories(crlf), [{ name: 'a/b', time: 5 }], 'CRLF lines; only the [Files] section');
  assert.equal(listedDirectories(Buffer.from('[Version]\n2\n[Files]\n1\td\t1\ta\n')), null, 'no [End]');
  assert.equal(listedDirectories(Buffer.from('hello\n')), null, 'no [Files]');
  assert.equal(listedDirectories(Buffer.from('[Files]\n1\td\t1\t../up\n[End]\n')), null, 'a name escaping the top');
  // The directory-state digest: order-free, and a mode or ctime change shows.
  const a = new Map([['', { mode: 0o755, ctime: 1 }], ['x', { mode: 0o755, ctime: 2 }]]);
  const b = new Map([['x', { mode: 0o755, ctime: 2 }], ['', { mode: 0o755, ctime: 1 }]]);
  assert.equal(dirStateDigest(a).digest, dirStateDigest(b).digest);
  assert.equal(dirStateDigest(a).newest, 2);
  assert.notEqual(dirStateDigest(new Map([...a, ['x', { mode: 0o750, ctime: 2 }]])).digest, dirStateDigest(a).digest);
  assert.notEqual(dirStateDigest(new Map([...a, ['x', { mode: 0o755, ctime: 3 }]])).digest, dirStateDigest(a).digest);
});

test('rows: a 0750 directory and everything below it is not readable; files reused when unchanged', () => {
  const scans = new Map<string, DirScan>([
    ['', { name: '', mode: 0o755, ctime: 1, files: [] }],
    ['releases', { name: 'releases', mode: 0o755, ctime: 1, files: [] }],
    ['releases/42', { name: 'releases/42', mode: 0o750, ctime: 1, files: [] }],
    ['releases/42/Everything', { name: 'releases/42/Everything', mode: 0o755, ctime: 1, files: [{ name: 'a', size: 1, mtime: 1 }] }],
    ['releases/41', { name: 'releases/41', mode: 0o755, ctime: 5, files: null }],
    ['private', { name: 'private', mode: 0o700, ctime: 1, files: [], unlisted: true }],
  ]);
  const previous = new Map<string, StoredDir>([
    ['releases/41', { id: 7, name: 'releases/41', readable: true, ctime: 5, files: [{ name: 'old', size: 2, mtime: 3 }] }],
    ['releases', { id: 8, name: 'releases', readable: true, ctime: 1, files: null }],
  ]);
  const rows = buildDirRows(scans, previous);
  const r = new Map(rows.map((x) => [x.name, x]));
  assert.equal(r.get('releases/42')!.readable, false);
  assert.equal(r.get('releases/42/Everything')!.readable, false, 'inherits the parent verdict');
  assert.equal(r.get('releases')!.readable, true);
  assert.equal(r.get('private')!.readable, false);
  assert.deepEqual(r.get('releases/41')!.files, [{ name: 'old', size: 2, mtime: 3 }]);
  assert.equal(rowChanged(r.get('releases/41')!, previous.get('releases/41')), false);
  assert.equal(rowChanged({ ...r.get('releases/41')!, readable: false }, previous.get('releases/41')), true);
  // A stored list that was not loaded: a reused directory keeps it (null), a listed one is compared only once loaded.
  const reused = buildDirRows(new Map([['releases', { name: 'releases', mode: 0o755, ctime: 1, files: null }]]), previous)[0]!;
  assert.equal(reused.files, null);
  assert.equal(rowChanged(reused, previous.get('releases')), false);
  assert.equal(rowChanged({ ...reused, ctime: 2 }, previous.get('releases')), true);
  assert.equal(rowChanged({ ...reused, files: [] }, previous.get('releases')), true, 'cannot compare with an unloaded list: written');
});

test('fullfiletimelist rescan: a directory with its stored ctime and no file changed since the last scan is reused', () => {
  const trustBefore = 1000;
  const scans = new Map<string, DirScan>([
    ['same', { name: 'same', mode: 0o755, ctime: 500, files: [{ name: 'a', size: 1, mtime: 400 }] }],
    ['moved', { name: 'moved', mode: 0o755, ctime: 600, files: [] }],
    ['rewritten', { name: 'rewritten', mode: 0o755, ctime: 500, files: [{ name: 'repomd.xml', size: 1, mtime: 1000 }] }],
    ['racy', { name: 'racy', mode: 0o755, ctime: 1000, files: [] }],
    ['new', { name: 'new', mode: 0o755, ctime: 10, files: [] }],
  ]);
  const stored = (name: string, ctime: number): [string, StoredDir] => [name, { id: 1, name, readable: true, ctime, files: null }];
  const previous = new Map([stored('same', 500), stored('moved', 500), stored('rewritten', 500), stored('racy', 1000)]);
  assert.equal(reuseUnchanged(scans, previous, trustBefore), 1);
  assert.deepEqual([...scans.values()].filter((s) => s.files === null).map((s) => s.name), ['same']);
});

test('fullfiletimelist: found at the category top unless configured by name or disabled', async () => {
  const top = async () => [
    { name: 'README', mtime: 5 },
    { name: 'fullfiletimelist-old', mtime: 1 },
    { name: 'fullfiletimelist-fedora', mtime: 9 },
    { name: 'fullfilelist', mtime: 9 },
  ];
  const cat = (fullfiletimelist?: unknown) => CategorySchema.parse({ name: 'c', topdir: 't', source: { type: 'local', path: '/x' }, ...(fullfiletimelist === undefined ? {} : { fullfiletimelist }) });
  assert.deepEqual(await pickFileTimeList(cat(), top), { use: 'fullfiletimelist-fedora', all: ['fullfiletimelist-fedora', 'fullfiletimelist-old'] }, 'the newest is used');
  assert.deepEqual(await pickFileTimeList(cat(), async () => [{ name: 'README', mtime: 1 }]), { use: null, all: [] });
  const never = async (): Promise<never> => assert.fail('a configured name needs no top listing');
  assert.deepEqual(await pickFileTimeList(cat('fullfiletimelist-x'), never), { use: 'fullfiletimelist-x', all: ['fullfiletimelist-x'] });
  assert.deepEqual(await pickFileTimeList(cat(false), never), { use: null, all: [] });
  assert.deepEqual(await pickFileTimeList(cat('none'), never), { use: null, all: [] });
  assert.throws(() => cat('../etc/passwd'), /fullfiletimelist/);
});

test('short file list: small dirs whole, big dirs the 3 newest plus repomd.xml and checksum files', () => {
  const many = Array.from({ length: 30 }, (_, i) => ({ name: `pkg-${String(i).padStart(2, '0')}.rpm`, size: i, mtime: 1000 + i }));
  many.push({ name: 'repomd.xml', size: 1, mtime: 1 }, { name: 'Fedora-41-x86_64-CHECKSUM', size: 1, mtime: 1 });
  assert.deepEqual(
    shortFileList(many).map((f) => f.name),
    ['Fedora-41-x86_64-CHECKSUM', 'pkg-27.rpm', 'pkg-28.rpm', 'pkg-29.rpm', 'repomd.xml'],
  );
  const few = [{ name: 'b', size: 1, mtime: 1 }, { name: 'a', size: 2, mtime: 2 }];
  assert.deepEqual(shortFileList(few).map((f) => f.name), ['a', 'b']);
});

test('listing → scans: symlinks not followed, excludes applied, repo and checksum dirs found', () => {
  const isExcluded = makeExcluder(['.snapshot', '*.~tmp~', 'development/old']);
  assert.equal(isExcluded('releases/.snapshot/x'), true);
  assert.equal(isExcluded('a/b.~tmp~'), true);
  assert.equal(isExcluded('development/old/x/y'), true);
  assert.equal(isExcluded('development/older'), false);
  const scans = scansFromEntries(
    [
      { name: 'releases/41/os/repodata', type: 'd', size: 0, time: 5 },
      { name: 'releases/41/os/repodata/repomd.xml', type: 'f', size: 9, time: 6 },
      { name: 'releases/41/iso/SHA256SUMS', type: 'f', size: 9, time: 6 },
      { name: 'releases/41/loop', type: 'l', size: 2, time: 6 },
      { name: '.snapshot/hourly', type: 'd', size: 0, time: 6 },
      { name: 'fullfiletimelist-fedora', type: 'f', size: 9, time: 6 },
    ],
    isExcluded,
    new Set(['fullfiletimelist-fedora']),
  );
  assert.deepEqual([...scans.keys()].sort(), ['', 'releases', 'releases/41', 'releases/41/iso', 'releases/41/os', 'releases/41/os/repodata']);
  assert.deepEqual(scans.get('')!.files, []);
  const rows = buildDirRows(scans, new Map());
  assert.deepEqual(findRepoDirs(rows), ['releases/41/os']);
  assert.deepEqual(findChecksumFiles(rows).map((c) => `${c.dir}/${c.file.name}`), ['releases/41/iso/SHA256SUMS']);
});

test('a shortening scan builder gives the rows a whole one does, and says when it would lose checksum sizes', () => {
  const noExcludes = makeExcluder([]);
  const files = (dir: string, n: number, t0: number) => Array.from({ length: n }, (_, i) => ({ name: `${dir}/p${String(i).padStart(2, '0')}.rpm`, type: 'f' as const, size: i, time: t0 + ((i * 7) % n) }));
  const sorted = [
    { name: 'a', type: 'd' as const, size: 0, time: 1 },
    ...files('a', 40, 100),
    { name: 'a/repodata', type: 'd' as const, size: 0, time: 1 },
    { name: 'a/repodata/repomd.xml', type: 'f' as const, size: 3, time: 50 },
    ...files('b', 40, 200),
    { name: 'b/Fedora-41-CHECKSUM', type: 'f' as const, size: 3, time: 1 },
    ...files('c', 4, 300),
  ];
  // Directory a listed in two runs (an unsorted listing): counts still decide the short list.
  const unsorted = [...sorted.slice(0, 37), ...sorted.slice(41), ...sorted.slice(37, 41), { name: 'c/late.rpm', type: 'f' as const, size: 1, time: 1 }];
  for (const entries of [sorted, unsorted]) {
    const whole = scanBuilder(noExcludes);
    const short = scanBuilder(noExcludes, new Set(), { shorten: true });
    for (const e of entries) {
      whole.add(e);
      short.add(e);
    }
    assert.equal(short.lossy, false);
    assert.deepEqual(buildDirRows(short.scans, new Map()), buildDirRows(whole.scans, new Map()));
    assert.equal(short.scans.get('a')!.fileCount, 40);
    assert.ok(short.scans.get('a')!.files!.length < 40, 'a big directory is cut short as the listing moves on');
    assert.equal(short.scans.get('b')!.files!.length, 41, 'a directory with a checksum file keeps every entry (their sizes)');
  }
  // A checksum file arriving after its directory was cut short: the builder says so.
  const late = scanBuilder(noExcludes, new Set(), { shorten: true });
  for (const e of [...files('d', 40, 0), ...files('e', 1, 0), { name: 'd/SHA256SUMS', type: 'f' as const, size: 1, time: 1 }]) late.add(e);
  assert.equal(late.lossy, true);
});

test('repomd.xml made by createrepo_c: newest timestamp, hashes of the bytes', () => {
  const bytes = fixture('repomd.xml');
  const info = parseRepomd(bytes);
  assert.deepEqual(info.types, ['filelists', 'other', 'primary']);
  assert.equal(info.revision, '1');
  assert.equal(info.timestamp, 1795460382);
  const d = repomdDetail(bytes);
  assert.equal(d.size, bytes.length);
  assert.equal(d.sha256, hashes(bytes).sha256);
  assert.match(d.sha512!, /^[0-9a-f]{128}$/);
  assert.match(d.md5!, /^[0-9a-f]{32}$/);
});

test('malformed and truncated repomd.xml throw one clear line', () => {
  const bytes = fixture('repomd.xml');
  assert.throws(() => parseRepomd(bytes.subarray(0, bytes.length / 2)), /malformed repomd\.xml/);
  assert.throws(() => parseRepomd('<repomd><revision>1</revision></repomd>'), /no <data> entries/);
  assert.throws(() => parseRepomd('<html><body>404</body></html>'), /no <repomd> root/);
  assert.throws(() => parseRepomd('<repomd><data type="primary"><timestamp>soon</timestamp></data></repomd>'), /no valid <timestamp>/);
});

test('checksum files: Fedora signed BSD style with sizes, GNU style, junk lines reported', () => {
  const fedora = parseChecksumFile(fixture('Fedora-Workstation-41-1.4-x86_64-CHECKSUM').toString('utf8'));
  assert.deepEqual(fedora.skipped, []);
  assert.equal(fedora.details.length, 1);
  assert.equal(fedora.details[0]!.filename, 'Fedora-Workstation-Live-x86_64-41-1.4.iso');
  assert.equal(fedora.details[0]!.size, 32768);
  assert.match(fedora.details[0]!.sha256!, /^[0-9a-f]{64}$/);
  const gnu = parseChecksumFile(`${'a'.repeat(64)}  disk one.iso\n${'b'.repeat(128)} *./disk one.iso\n${'c'.repeat(32)}  other.img\nwhat is this\n`);
  assert.deepEqual(
    gnu.details.map((d) => [d.filename, d.sha256?.[0], d.sha512?.[0], d.md5?.[0]]),
    [
      ['disk one.iso', 'a', 'b', undefined],
      ['other.img', undefined, undefined, 'c'],
    ],
  );
  assert.deepEqual(gnu.skipped, ['line 4: "what is this"']);
});

test('examples/fedora.yaml validates and its rules map sample directories of every category (old SRPMS layouts too)', () => {
  const config = loadConfig(path.join(import.meta.dirname, '..', '..', 'examples', 'fedora.yaml'), {});
  const table: Record<string, Array<[string, string | null]>> = {
    'Fedora Linux': [
      ['releases/42/Everything/x86_64/os', 'fedora-42/x86_64'],
      ['releases/42/Everything/source/tree', 'fedora-source-42/source'],
      ['releases/42/Everything/aarch64/debug/tree', 'fedora-debug-42/aarch64'],
      ['updates/42/Everything/ppc64le', 'updates-released-f42/ppc64le'],
      ['updates/testing/42/Everything/s390x/debug', 'updates-testing-debug-f42/s390x'],
      ['development/rawhide/Everything/x86_64/os', 'rawhide/x86_64'],
      ['development/43/Everything/source/tree', 'fedora-source-43/source'],
      ['releases/42/Everything/x86_64/os/Packages', null],
    ],
    'Fedora EPEL': [
      ['9/Everything/x86_64', 'epel-9/x86_64'],
      ['10.1/Everything/source/tree', 'epel-source-10.1/source'],
      ['testing/9/Everything/aarch64/debug', 'testing-debug-epel9/aarch64'],
      ['next/9/Everything/x86_64', 'epel-next-9/x86_64'],
      ['7/x86_64', 'epel-7/x86_64'],
      ['7/SRPMS', 'epel-source-7/source'],
      ['7/ppc64le/debug', 'epel-debug-7/ppc64le'],
      ['testing/7/SRPMS', 'testing-source-epel7/source'],
      ['testing/6/i386', 'testing-epel6/i386'],
      ['9/Everything', null],
    ],
    'Fedora Secondary': [
      ['releases/42/Everything/riscv64/os', 'fedora-42/riscv64'],
      ['releases/42/Everything/source/tree', 'fedora-secondary-source-42/source'],
      ['updates/testing/42/Everything/loongarch64', 'updates-testing-f42/loongarch64'],
    ],
    'Fedora Archive': [
      ['releases/30/Everything/x86_64/os', 'fedora-30/x86_64'],
      ['releases/30/Everything/source/tree', 'fedora-source-30/source'],
      ['releases/14/Fedora/i386/os', 'fedora-14/i386'],
      ['releases/14/Everything/source/SRPMS', 'fedora-source-14/source'],
      ['releases/14/Everything/x86_64/debug', 'fedora-debug-14/x86_64'],
      ['updates/30/Everything/source/tree', 'updates-released-source-f30/source'],
      ['updates/30/Everything/aarch64/debug', 'updates-released-debug-f30/aarch64'],
      ['updates/testing/30/Everything/x86_64', 'updates-testing-f30/x86_64'],
      ['updates/14/SRPMS', 'updates-released-source-f14/source'],
      ['updates/testing/14/SRPMS', 'updates-testing-source-f14/source'],
      ['updates/14/x86_64', 'updates-released-f14/x86_64'],
      ['updates/14/x86_64/debug', 'updates-released-debug-f14/x86_64'],
      ['updates/testing/14/i386', 'updates-testing-f14/i386'],
      ['updates/14/Everything', null],
    ],
  };
  assert.deepEqual(config.categories.map((c) => c.name), Object.keys(table));
  for (const c of config.categories) {
    const rules = compileRules(c.repoRules);
    const got = table[c.name]!.map(([dir]) => {
      const m = mapRepository(dir, rules);
      return [dir, m ? `${m.prefix}/${m.arch}` : null];
    });
    assert.deepEqual(got, table[c.name], c.name);
  }
});
