// The benchmark harness must not rot: generate the synthetic world at scale 0.01 and
// check it is what the other stages read (registry schema, config schema, the
// fullfiletimelist and repomd.xml parsers, dnf reading the repodata), that it is
// deterministic, then run `npm run bench -- --smoke` end to end.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../pipelines/core/config.ts';
import { parseRepomd } from '../../pipelines/master/details.ts';
import { parseFullFileTimeList } from '../../pipelines/master/listing.ts';
import { loadRegistry } from '../../pipelines/registry/load.ts';
import { readWorld } from '../../pipelines/bench/generate.ts';
import { loadBenchmarks, parseOptions, runBenchmarks } from '../../bench/run.ts';
import { requireTool } from '../helpers/system.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const CLI = path.join(ROOT, 'pipelines', 'cli.ts');

function generate(out: string, extra: string[] = []): Record<string, number> {
  const stdout = execFileSync(process.execPath, ['--import', 'tsx', CLI, '-q', 'bench', 'generate', '--scale', '0.01', '--seed', '7', '--out', out, '--json', ...extra], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(stdout) as Record<string, number>;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

// One scratch directory: the world generated first is the one the harness then reuses
// (var/worlds/scale-0.01-seed-7), so the smoke run does not generate it again.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-bench-smoke-'));
const varDir = path.join(tmp, 'var');
after(() => {
  execFileSync('chmod', ['-R', 'u+rwX', tmp]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('bench generate (scale 0.01)', () => {
  const world = path.join(varDir, 'worlds', 'scale-0.01-seed-7');
  let summary: Record<string, number>;
  before(() => {
    summary = generate(world);
  });

  test('the world has every part, sized for its scale', () => {
    assert.equal(summary.categories, 4);
    assert.ok(summary.repositories >= 8 && summary.repositories <= 20, `repositories ${summary.repositories}`);
    assert.ok(summary.files > 1000, `files ${summary.files}`);
    assert.ok(summary.hosts >= 6 && summary.privateHosts >= 2, `hosts ${summary.hosts}`);
    for (const f of ['mirrorsmith.yaml', 'world.json', 'crawl-state.json', 'research-prefixes.txt', 'registry', 'master']) assert.ok(fs.existsSync(path.join(world, f)), f);
  });

  test('config and registry pass the project schemas; private hosts have netblocks', () => {
    const config = loadConfig(path.join(world, 'mirrorsmith.yaml'), {});
    assert.deepEqual(config.categories.map((c) => c.name), ['Fedora Linux', 'Fedora EPEL', 'Fedora Secondary', 'Fedora Archive']);
    const registry = loadRegistry(path.join(world, 'registry'), config.categories.map((c) => c.name));
    const hosts = registry.sites.flatMap((s) => s.hosts);
    assert.equal(hosts.length, summary.hosts);
    for (const h of hosts.filter((x) => x.private)) assert.ok(h.netblocks.length > 0, h.name);
    assert.equal(hosts.reduce((n, h) => n + h.netblocks.length, 0), summary.netblocks);
  });

  test('every repository directory matches exactly the repo/arch its config rule gives', () => {
    const config = loadConfig(path.join(world, 'mirrorsmith.yaml'), {});
    const w = readWorld(world)!;
    for (const r of w.repos) {
      const cat = config.categories.find((c) => c.name === r.category)!;
      const rule = cat.repoRules.find((x) => new RegExp(x.match).test(r.path));
      assert.ok(rule, `${r.category}/${r.path} matches no rule`);
      const m = new RegExp(rule.match).exec(r.path)!;
      const sub = (t: string) => t.replace(/\$(\d)/g, (_, i: string) => m[Number(i)] ?? '');
      assert.deepEqual([sub(rule.repo), sub(rule.arch)], [r.prefix, r.arch], `${r.category}/${r.path}`);
    }
  });

  test('fullfiletimelists parse cleanly and list every file of the tree', () => {
    const config = loadConfig(path.join(world, 'mirrorsmith.yaml'), {});
    for (const c of config.categories) {
      const top = path.join(world, 'master', c.topdir);
      const list = parseFullFileTimeList(fs.readFileSync(path.join(top, c.fullfiletimelist as string)));
      assert.deepEqual(list.issues, [], c.name);
      const listed = list.entries.filter((e) => e.type === 'f').map((e) => e.name).sort();
      assert.deepEqual(listed, filesUnder(top).filter((f) => f !== c.fullfiletimelist));
    }
  });

  test('repomd.xml files parse, and their hashes are the ones world.json records', () => {
    const w = readWorld(world)!;
    for (const r of w.repos.slice(0, 5)) {
      const top = w.categories.find((c) => c.name === r.category)!.topdir;
      const bytes = fs.readFileSync(path.join(world, 'master', top, r.path, 'repodata', 'repomd.xml'));
      assert.equal(parseRepomd(bytes).timestamp, r.repomd.timestamp);
      assert.equal(bytes.length, r.repomd.size);
    }
  });

  test('dnf reads the generated repodata', (t) => {
    const dnf = requireTool(t, 'dnf');
    if (!dnf) return;
    const w = readWorld(world)!;
    const r = w.repos.find((x) => x.arch === 'x86_64')!;
    const top = w.categories.find((c) => c.name === r.category)!.topdir;
    const root = path.join(tmp, 'dnfroot');
    const out = execFileSync(dnf, ['-q', '--installroot', root, '--setopt=reposdir=/dev/null', '--releasever', '44', `--repofrompath=bench,file://${path.join(world, 'master', top, r.path)}`, '--repo', 'bench', 'repoquery', '--available'], { encoding: 'utf8', timeout: 120_000 });
    assert.ok(out.trim().split('\n').length >= 10, `dnf listed: ${out.slice(0, 200)}`);
  });

  test('the same seed gives byte-identical registry, crawl state and file lists', () => {
    const again = path.join(tmp, 'again');
    generate(again);
    for (const rel of ['crawl-state.json', 'mirrorsmith.yaml', ...filesUnder(path.join(world, 'registry')).map((f) => `registry/${f}`), 'master/fedora/linux/fullfiletimelist-fedora']) {
      const a = fs.readFileSync(path.join(world, rel));
      const b = fs.readFileSync(path.join(again, rel));
      if (rel === 'mirrorsmith.yaml') assert.equal(a.toString().replaceAll(world, 'W'), b.toString().replaceAll(again, 'W'), rel);
      else assert.ok(a.equals(b), `${rel} differs between two runs with the same seed`);
    }
  });
});

describe('npm run bench -- --smoke', () => {
  test('runs every registered benchmark and writes a results file', { timeout: 600_000 }, async (t) => {
    if (!requireTool(t, 'nginx', 'nginx-light') || !requireTool(t, 'wrk')) return;
    const opts = parseOptions(['--smoke', '--quiet', '--seed', '7', '--results-dir', path.join(tmp, 'results'), '--var-dir', varDir]);
    let printed = '';
    const report = await runBenchmarks(opts, (s) => (printed += s + '\n'), new AbortController().signal);
    assert.deepEqual(report.errors, [], JSON.stringify(report.errors));
    const registered = (await loadBenchmarks()).filter((b) => b.name !== 'growth');
    for (const b of registered) {
      const got = report.figures.filter((f) => f.benchmark === b.name);
      assert.deepEqual(got.map((f) => f.name), b.figures.map((f) => f.name), `${b.name} reports the figures it declares`);
      const unavailable = report.unavailable.find((u) => u.benchmark === b.name);
      // A figure this machine cannot take (e.g. no permission to drop the page cache) says why.
      if (!unavailable) for (const f of got) assert.ok((f.value !== null && Number.isFinite(f.value)) || /^not measured: /.test(f.note ?? ''), `${b.name}: ${f.name} measured`);
    }
    assert.ok(report.figures.some((f) => f.benchmark === 'nginx' && f.name === 'metalink' && (f.value ?? 0) > 0) || report.unavailable.some((u) => u.benchmark === 'nginx'));
    const saved = JSON.parse(fs.readFileSync(report.resultsFile, 'utf8'));
    assert.equal(saved.machine.cores > 0, true);
    assert.match(saved.machine.nginx, /^nginx\//);
    assert.match(printed, /figure\s+value\s+target\s+ratio/);
  });
});
