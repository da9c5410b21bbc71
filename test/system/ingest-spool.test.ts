// The report spool on a real filesystem: listing order (a crashed claim first),
// strays, deposits in progress, bounded reads and pruning of filed reports.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { claim, depositReport, fileReport, listSpool, readBounded } from '../../pipelines/report/spool.ts';
import { reportToSpool } from '../../pipelines/report/local.ts';

function tmpdir(t: { after(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorsmith-spool-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

describe('report spool', () => {
  it('lists reports per site, an older claim before a newer upload, strays named', (t) => {
    const inc = tmpdir(t);
    fs.mkdirSync(path.join(inc, 'lab'));
    fs.writeFileSync(path.join(inc, 'lab', 'm1.example.org.json'), '{"new":1}');
    fs.writeFileSync(path.join(inc, 'lab', 'm1.example.org.json.ingesting'), '{"old":1}');
    fs.writeFileSync(path.join(inc, 'lab', 'notes.txt'), 'x');
    fs.mkdirSync(path.join(inc, 'Bad Site'));
    fs.writeFileSync(path.join(inc, '.deposit-1-x'), 'in progress');
    fs.writeFileSync(path.join(inc, 'top.json'), '{}');
    const entries = listSpool(inc);
    assert.deepEqual(
      entries.map((e) => (e.kind === 'report' ? `report ${e.site}/${e.host} ${path.basename(e.file)}` : `stray ${path.relative(inc, e.file)}`)),
      ['stray Bad Site', 'report lab/m1.example.org m1.example.org.json.ingesting', 'report lab/m1.example.org m1.example.org.json', 'stray lab/notes.txt', 'stray top.json'],
    );
    assert.equal(listSpool(inc, 2).length, 2, 'bounded');
  });

  it('claims by rename; deposits atomically; reads bounded by size', (t) => {
    const inc = tmpdir(t);
    const file = depositReport(inc, { site: 'lab', host: 'm1.example.org' }, '{"a":1}');
    assert.equal(file, path.join(inc, 'lab', 'm1.example.org.json'));
    assert.throws(() => depositReport(inc, { site: '../etc', host: 'x' }, '{}'), /unusable site\/host/);
    const claimed = claim(file);
    assert.ok(claimed.endsWith('.ingesting') && !fs.existsSync(file));
    assert.equal(claim(claimed), claimed, 'claiming a claim is a no-op');
    assert.deepEqual(readBounded(claimed, 100), { ok: true, text: '{"a":1}', bytes: 7 });
    const r = readBounded(claimed, 3);
    assert.ok(!r.ok && /7 bytes, more than ingest.maxReportBytes \(3\)/.test(r.reason));
  });

  it('a local private mirror deposits its report without nginx', async (t) => {
    const root = tmpdir(t);
    fs.mkdirSync(path.join(root, 'copy', 'releases', '41', 'os', 'repodata'), { recursive: true });
    fs.writeFileSync(path.join(root, 'copy', 'releases', '41', 'os', 'repodata', 'repomd.xml'), '<repomd/>');
    const file = await reportToSpool(path.join(root, 'incoming'), { site: 'lab', host: 'm1.example.org', baseDir: root, maxDirectories: 100, categories: [{ name: 'Fedora Linux', path: 'copy' }] });
    const report = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.equal(report.host, 'm1.example.org');
    assert.deepEqual(report.categories[0].directories, ['releases', 'releases/41', 'releases/41/os', 'releases/41/os/repodata']);
    assert.deepEqual(Object.keys(report.categories[0].repomd), ['releases/41/os']);
    assert.deepEqual(listSpool(path.join(root, 'incoming')).map((e) => e.kind), ['report']);
  });

  it('files under <dest>/<site>/<host>/ with a reason, keeping the newest N', (t) => {
    const root = tmpdir(t);
    const dest = path.join(root, 'rejected');
    for (let i = 0; i < 5; i++) {
      const f = path.join(root, `r${i}`);
      fs.writeFileSync(f, `{"i":${i}}`);
      fileReport(f, dest, ['lab', 'm1.example.org'], `20261123T19000${i}.000Z`, 3, `reason ${i}`);
    }
    const dir = path.join(dest, 'lab', 'm1.example.org');
    assert.deepEqual(fs.readdirSync(dir).sort(), [
      '20261123T190002.000Z.json',
      '20261123T190002.000Z.reason',
      '20261123T190003.000Z.json',
      '20261123T190003.000Z.reason',
      '20261123T190004.000Z.json',
      '20261123T190004.000Z.reason',
    ]);
    assert.equal(fs.readFileSync(path.join(dir, '20261123T190004.000Z.reason'), 'utf8'), 'reason 4\n');
    // Same stamp twice: no report is overwritten.
    fs.writeFileSync(path.join(root, 'again'), '{}');
    const second = fileReport(path.join(root, 'again'), dest, ['lab', 'm1.example.org'], '20261123T190004.000Z', 10);
    assert.equal(path.basename(second), '20261123T190004.000Z-1.json');
  });
});
