// The pure core of ingest: schema, identity, and the per-directory verdicts
// against a master snapshot (current / alternate / unknown repomd.xml hashes).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REPORT_FORMAT, type Report } from '../../pipelines/report/format.ts';
import { checkReportAge, parseReport, planReport, type HostFacts, type MasterCategory } from '../../pipelines/report/validate.ts';
import { reportAccounts, renderReportsFragment } from '../../pipelines/report/emitter.ts';
import { apr1 } from '../../pipelines/report/htpasswd.ts';

const H = (c: string) => c.repeat(64);
const OS = 'releases/41/Everything/x86_64/os';
const UPD = 'updates/41/Everything/x86_64';

const master: MasterCategory = {
  name: 'Fedora Linux',
  directories: new Map([
    ['', 1],
    ['releases', 2],
    ['releases/41', 3],
    [OS, 4],
    [`${OS}/repodata`, 5],
    ['updates', 6],
    [UPD, 7],
    [`${UPD}/repodata`, 8],
  ]),
  repomd: new Map([
    [OS, [H('a')]],
    [UPD, [H('c'), H('b')]], // current c, previous push b
  ]),
};
const snapshot = new Map([['Fedora Linux', master]]);
const privateHost: HostFacts = { id: 7, name: 'priv.example.org', site: 'lab', private: true, categories: new Map([['Fedora Linux', 70]]) };

function report(over: Partial<Report> = {}, dirs?: string[], repomd?: Record<string, string>): Report {
  return {
    format: REPORT_FORMAT,
    site: 'lab',
    host: 'priv.example.org',
    generatedAt: '2026-11-23T18:00:00.000Z',
    categories: [
      {
        name: 'Fedora Linux',
        directories: dirs ?? ['releases', 'releases/41', OS, `${OS}/repodata`, 'updates', UPD, `${UPD}/repodata`],
        repomd: repomd ?? { [OS]: H('a'), [UPD]: H('b') },
      },
    ],
    ...over,
  };
}

describe('parseReport', () => {
  const who = { site: 'lab', host: 'priv.example.org' };
  it('accepts a well-formed report', () => {
    const r = parseReport(JSON.stringify(report()), who);
    assert.ok(r.ok);
  });
  it('rejects bad JSON, schema problems (naming the field) and a mismatched identity', () => {
    const bad = parseReport('{"format":', who);
    assert.ok(!bad.ok && /not valid JSON/.test(bad.reason));
    const schema = parseReport(JSON.stringify({ ...report(), categories: [{ name: 'x', directories: ['../etc'], repomd: {} }] }), who);
    assert.ok(!schema.ok && /categories\.0\.directories\.0/.test(schema.reason), !schema.ok ? schema.reason : '');
    const hash = parseReport(JSON.stringify(report({}, undefined, { [OS]: 'ABC' })), who);
    assert.ok(!hash.ok && /sha256/.test(hash.reason));
    const extra = parseReport(JSON.stringify({ ...report(), admin: true }), who);
    assert.ok(!extra.ok && /unknown field/.test(extra.reason));
    const other = parseReport(JSON.stringify(report({ host: 'other.example.org' })), who);
    assert.ok(!other.ok && /uploaded as lab\/priv.example.org/.test(other.reason));
    const dup = parseReport(JSON.stringify({ ...report(), categories: [...report().categories, ...report().categories] }), who);
    assert.ok(!dup.ok && /appears twice/.test(dup.reason));
  });
});

describe('checkReportAge', () => {
  const now = new Date('2026-11-23T12:00:00Z');
  it('accepts a recent report and small clock skew', () => {
    assert.equal(checkReportAge('2026-11-23T11:00:00Z', now, 72), null);
    assert.equal(checkReportAge('2026-11-23T12:30:00Z', now, 72), null);
  });
  it('rejects a replayed old report and one from the future', () => {
    assert.match(checkReportAge('2026-11-19T12:00:00Z', now, 72) ?? '', /more than 72 hours ago/);
    assert.match(checkReportAge('2026-11-24T12:00:00+02:00', now, 72) ?? '', /in the future/);
  });
});

describe('planReport', () => {
  it('current hash → up to date, alternate → behind, missing directory → absent', () => {
    const plan = planReport(report({}, ['releases', OS, `${OS}/repodata`, UPD, `${UPD}/repodata`]), privateHost, snapshot);
    assert.ok(plan.ok);
    const byDir = new Map(plan.verdicts.map((v) => [v.directoryId, v]));
    assert.equal(byDir.get(4)!.up2date, true);
    assert.match(byDir.get(4)!.reason, /current/);
    assert.equal(byDir.get(7)!.up2date, false);
    assert.match(byDir.get(7)!.reason, /previous push \(-1\)/);
    assert.equal(byDir.get(3)!.up2date, false, 'releases/41 absent');
    assert.equal(byDir.get(1)!.up2date, true, 'the category top is present');
    assert.ok(plan.verdicts.every((v) => v.hostCategoryId === 70));
    assert.deepEqual(plan.counts, { upToDate: 5, behind: 1, absent: 2 });
  });

  it('a repository listed without its hash is not up to date', () => {
    const plan = planReport(report({}, undefined, { [UPD]: H('c') }), privateHost, snapshot);
    assert.ok(plan.ok);
    const os = plan.verdicts.find((v) => v.directoryId === 4)!;
    assert.equal(os.up2date, false);
    assert.match(os.reason, /without a repomd.xml hash/);
  });

  it('never accepts a public host', () => {
    const plan = planReport(report(), { ...privateHost, private: false }, snapshot);
    assert.ok(!plan.ok && /is public/.test(plan.reason));
  });

  it('rejects unknown hosts, foreign sites, unknown or uncarried categories', () => {
    assert.match((planReport(report(), null, snapshot) as { reason: string }).reason, /unknown host lab\/priv.example.org/);
    assert.match((planReport(report(), { ...privateHost, site: 'other' }, snapshot) as { reason: string }).reason, /belongs to site other/);
    assert.match((planReport(report(), { ...privateHost, categories: new Map() }, snapshot) as { reason: string }).reason, /does not carry category/);
    assert.match((planReport(report(), privateHost, new Map()) as { reason: string }).reason, /unknown category "Fedora Linux"/);
  });

  it('rejects directories the master does not have, naming them', () => {
    const plan = planReport(report({}, ['releases', 'releases/99', 'releases/98/x']), privateHost, snapshot);
    assert.ok(!plan.ok);
    assert.match(plan.reason, /2 directories are not in the master list: "releases\/98\/x", "releases\/99"/);
  });

  it('rejects a repomd.xml hash that was never published', () => {
    const plan = planReport(report({}, undefined, { [OS]: H('f') }), privateHost, snapshot);
    assert.ok(!plan.ok && /matches neither the current nor an alternate/.test(plan.reason));
  });
});

describe('reports nginx fragment', () => {
  it('puts the absolute spool path and the size limit in, and refuses unsafe paths', () => {
    const text = renderReportsFragment({ spoolDir: '/var/lib/mirrorsmith/reports/incoming/', statusDir: '/var/lib/mirrorsmith/reports/status', maxBodyBytes: 10485760 });
    assert.match(text, /alias \/var\/lib\/mirrorsmith\/reports\/incoming\/\$ms_report_site\/\$ms_report_host\.json;/);
    assert.match(text, /client_max_body_size 10485760;/);
    assert.match(text, /dav_methods PUT;/);
    assert.match(text, /auth_basic_user_file \$ms_reports_htpasswd;/);
    assert.match(text, /alias \/var\/lib\/mirrorsmith\/reports\/status\/\$ms_status_site\/\$ms_status_host\.json;/);
    assert.throws(() => renderReportsFragment({ spoolDir: '/srv/spool dir;evil', statusDir: '/srv/status', maxBodyBytes: 1 }), /ingest.spoolDir .* cannot be used in nginx config/);
    assert.throws(() => renderReportsFragment({ spoolDir: '/srv/spool', statusDir: 'relative/status', maxBodyBytes: 1 }), /ingest.statusDir .* cannot be used in nginx config/);
  });

  it('leaves out accounts with unusable names or hashes', () => {
    const good = apr1('password-one');
    const { entries, notes } = reportAccounts([
      { site: 'lab', host: 'priv.example.org', hash: good },
      { site: 'Bad Site', host: 'x.example.org', hash: good },
      { site: 'lab', host: 'plain.example.org', hash: 'hunter2' },
    ]);
    assert.deepEqual(entries, [{ user: 'lab/priv.example.org', hash: good }]);
    assert.equal(notes.length, 2);
    assert.match(notes.join('\n'), /"Bad Site\/x.example.org" left out/);
    assert.match(notes.join('\n'), /plain.example.org left out: report_password_hash is not/);
  });
});
