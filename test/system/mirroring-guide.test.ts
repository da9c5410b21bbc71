import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { guideEmitter, guideModules } from '../../pipelines/admin/guide.ts';
import { parseConfig } from '../../pipelines/core/config.ts';
import { createGenerationWriter } from '../../pipelines/core/generation.ts';
import { memoryLogger } from '../../pipelines/core/log.ts';
import type { StageContext } from '../../pipelines/core/types.ts';
import { makeProgressFactory } from '../../pipelines/core/progress.ts';
import { parseClientConfig } from '../../pipelines/report/client.ts';
import { validateSites } from '../../pipelines/registry/schema.ts';
import YAML from 'yaml';
import { freshDb } from '../helpers/db.ts';
import { demoGeneration } from '../helpers/demo-generation.ts';
import { get } from '../helpers/nginx.ts';

const config = parseConfig(
  {
    categories: [
      { name: 'Fedora Linux', topdir: 'linux', source: { type: 'local', path: '/srv/pub/fedora/linux' } },
      { name: 'Fedora EPEL', topdir: 'epel', source: { type: 'local', path: '/srv/pub/epel' } },
    ],
    mirroring: {
      serverUrl: 'https://mirrors.example.org/',
      rsyncHost: 'dl.example.org',
      contact: 'mirror-admin@example.org',
      modules: [
        { name: 'fedora-enchilada', path: '', description: 'everything <script>alert(1)</script>' },
        { name: 'fedora-linux', category: 'Fedora Linux', description: 'Fedora Linux' },
        { name: 'fedora-epel', category: 'Fedora EPEL', description: 'EPEL' },
      ],
    },
  },
  'mirrorsmith.yaml',
);

test('the mirror-admin guide lists every configured rsync module with a safe rsync command', async (t) => {
  const { db } = await freshDb(t, 'pglite');
  await db.exec(`INSERT INTO site (name) VALUES ('a'), ('b'); INSERT INTO host (site_id, name, private) VALUES (1, 'm1.example.org', false), (1, 'm2.example.org', false), (2, 'p.example.org', true)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-guide-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const gen = createGenerationWriter(dir, 'g1');
  const ctx: StageContext = {
    db,
    config,
    log: memoryLogger(),
    signal: new AbortController().signal,
    run: { id: null, startedAt: new Date(), generationId: 'g1', force: false, dryRun: false },
    options: {},
    progress: makeProgressFactory(false),
  };
  const r = await guideEmitter.emit(ctx, gen);
  assert.equal(r.counts.guideModules, 3);
  const html = fs.readFileSync(path.join(dir, 'mirroring', 'index.html'), 'utf8');
  // What a reader sees: Handlebars escapes = and ` as entities too.
  const text = html.replace(/&#x3D;/g, '=').replace(/&#x60;/g, '`').replace(/&#x27;/g, "'").replace(/&quot;/g, '"');
  for (const m of ['rsync://dl.example.org/fedora-enchilada/', 'rsync://dl.example.org/fedora-linux/', 'rsync://dl.example.org/fedora-epel/']) assert.ok(text.includes(m), m);
  assert.match(text, /rsync -aH --numeric-ids --delete --delete-delay --delay-updates --exclude=\.~tmp~\/ --exclude=\.snapshot\/ rsync:\/\/dl\.example\.org\/fedora-linux\/ \/srv\/mirror\/linux\//);
  assert.match(html, /There are 2 public and 1 private mirrors/);
  assert.match(html, /everything &lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.ok(!html.includes('<script>'));
  assert.match(html, /must-revalidate/);
  assert.match(html, /https:\/\/mirrors\.example\.org\/rsync_acl/);
  assert.match(text, /sleep \$\(shuf -i 0-1800 -n 1\)/);
});

test('a module naming an unknown category is a configuration error naming the field', () => {
  const bad = parseConfig({ mirroring: { modules: [{ name: 'x', category: 'Nope' }] } }, 'mirrorsmith.yaml');
  assert.throws(() => guideModules(bad), /mirroring\.modules\.0\.category: no category named "Nope"/);
});

/** What a reader sees of escaped HTML text. */
function decode(html: string): string {
  const named: Record<string, string> = { lt: '<', gt: '>', quot: '"', amp: '&', apos: "'" };
  return html.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) =>
    e[0] === '#' ? String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1))) : (named[e] ?? m),
  );
}

/** The text of the first <pre> after the heading that starts with `heading`. */
function preAfter(html: string, heading: string): string {
  const at = html.indexOf(`<h2>${heading}`);
  assert.ok(at >= 0, `no heading "${heading}"`);
  const m = /<pre>([\s\S]*?)<\/pre>/.exec(html.slice(at));
  assert.ok(m, `no <pre> after "${heading}"`);
  return decode(m[1]!);
}

test('a published demo generation has the guide at /mirroring/: every rsync module, examples the tools accept, linked and served with the page headers', { timeout: 240_000 }, async (t) => {
  const g = await demoGeneration(t);
  if (!g) return;
  const gen = g.current();
  const manifest = JSON.parse(fs.readFileSync(path.join(gen, 'manifest.json'), 'utf8')) as { emitters: Record<string, { counts: Record<string, number> }> };
  assert.equal(manifest.emitters['mirroring-guide']?.counts.guideModules, g.raw.mirroring.modules.length, 'the build ran the guide emitter');
  const html = fs.readFileSync(path.join(gen, 'mirroring', 'index.html'), 'utf8');
  const text = decode(html);

  // Every configured module with its URL, path (the category's top) and description.
  assert.ok(g.raw.mirroring.modules.length >= 2);
  for (const m of g.raw.mirroring.modules) {
    const topdir = g.config.categories.find((c) => c.name === m.category)!.topdir;
    const url = `rsync://${g.raw.mirroring.rsyncHost}/${m.name}/`;
    assert.ok(text.includes(`<tr><td><code>${url}</code></td><td><code>${topdir}</code></td><td>${m.description}</td></tr>`), `module row ${m.name}`);
    assert.ok(text.includes(`rsync -aH --numeric-ids --delete --delete-delay --delay-updates --exclude=.~tmp~/ --exclude=.snapshot/ ${url} /srv/mirror/${topdir}/`), `command for ${m.name}`);
  }
  for (const c of g.config.categories) assert.ok(text.includes(`<strong>${c.name}</strong> — top directory <code>${c.topdir}/</code>`), c.name);
  // The counts come from the registry the pipeline applied.
  const { rows } = await g.db.query<{ private: boolean; n: number }>('SELECT (h.private OR s.private) AS private, count(*)::int AS n FROM host h JOIN site s ON s.id = h.site_id WHERE h.admin_active AND h.user_active AND s.admin_active AND s.user_active GROUP BY 1');
  const count = (priv: boolean) => rows.find((r) => r.private === priv)?.n ?? 0;
  assert.ok(count(false) > 0);
  assert.ok(text.includes(`There are ${count(false)} public and ${count(true)} private mirrors`));

  // The examples are accepted by the tools they are for.
  const report = parseClientConfig(YAML.parse(preAfter(html, 'Private mirrors')), '/etc/mirrorsmith/report.yaml');
  assert.equal(report.server, g.raw.mirroring.serverUrl);
  assert.deepEqual(report.categories.map((c) => c.name), g.config.categories.slice(0, 2).map((c) => c.name));
  assert.equal(report.passwordFile, '/etc/mirrorsmith/report.password');
  const registry = validateSites([{ file: 'example-university.yaml', data: YAML.parse(preAfter(html, 'Becoming a mirror')) }], g.config.categories.map((c) => c.name));
  assert.deepEqual(registry.errors, []);
  assert.equal(registry.sites[0]?.hosts[0]?.name, 'mirror.example.edu');

  // Linked from the public list and the site index; served with the same headers as the other pages.
  const nginx = await g.serve();
  const list = await get(`${nginx.url}/publiclist/index.html`);
  assert.equal(list.status, 200);
  const href = /<a href="([^"]*mirroring\/index\.html)">/.exec(list.body)?.[1];
  assert.ok(href, 'the public list links to the guide');
  const index = await get(`${nginx.url}/index.html`);
  assert.match(index.body, /<a href="mirroring\/index\.html">Mirroring guide<\/a>/);
  for (const url of [new URL(href, `${nginx.url}/publiclist/index.html`).toString(), `${nginx.url}/mirroring/`]) {
    const page = await get(url);
    assert.equal(page.status, 200, url);
    assert.equal(page.body, html, url);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    for (const h of ['cache-control', 'content-security-policy', 'x-content-type-options']) {
      assert.ok(page.headers.get(h), `${url}: ${h}`);
      assert.equal(page.headers.get(h), list.headers.get(h), `${url}: ${h} as on the public list`);
    }
  }
  assert.equal((await get(`${nginx.url}/mirroring/`)).headers.get('x-content-type-options'), 'nosniff');
});
