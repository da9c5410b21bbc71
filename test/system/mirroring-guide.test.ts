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
import { freshDb } from '../helpers/db.ts';

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
