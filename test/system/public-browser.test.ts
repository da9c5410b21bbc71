// The public list and a status page served by a real nginx (the generation's own
// location fragment) and loaded in headless Chromium: expected mirrors visible, no
// private host, no injected script ran, readable on a phone-sized screen; plus the
// content types of the other public files.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';
import { startNginx } from '../../pipelines/serve/nginx.ts';
import { PUBLIC_EMITTERS } from '../../pipelines/public/index.ts';
import { rsyncAclEmitter } from '../../pipelines/public/rsync-acl.ts';
import { freshDb } from '../helpers/db.ts';
import { emitInto, stageContext } from '../helpers/public-build.ts';
import { loadFixture } from '../helpers/public-fixture.ts';
import { requireTool } from '../helpers/system.ts';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Where screenshots go: MIRRORSMITH_SCREENSHOTS or a temp dir (printed). */
function screenshotDir(): string {
  const dir = process.env.MIRRORSMITH_SCREENSHOTS || fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorsmith-shots-'));
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

it('public list and status pages in headless Chromium through nginx', { timeout: 180_000 }, async (t) => {
  if (!requireTool(t, 'nginx', 'nginx-light')) return;
  const chromiumPath = requireTool(t, 'chromium');
  if (!chromiumPath) return;

  const { db } = await freshDb(t, 'pglite');
  await loadFixture(db, { xss: true });
  const resolve = async (name: string) => {
    if (name === 'rsync.example.edu') return ['192.0.2.30', '2001:db8::30'];
    throw new Error(`getaddrinfo ENOTFOUND ${name}`);
  };
  const { dir } = await emitInto(t, stageContext(db), PUBLIC_EMITTERS.map((e) => (e.name === 'rsync-acl' ? rsyncAclEmitter(resolve) : e)));
  const nginx = await startNginx({ outDir: dir, root: dir });
  t.after(() => nginx.stop());

  // Plain HTTP first: the files and their content types.
  const get = async (p: string) => {
    const r = await fetch(nginx.url + p, { signal: AbortSignal.timeout(10_000) });
    return { status: r.status, type: r.headers.get('content-type') ?? '', cache: r.headers.get('cache-control') ?? '', body: await r.text() };
  };
  const acl = await get('/rsync_acl');
  assert.equal(acl.status, 200);
  assert.match(acl.type, /^text\/plain/);
  assert.equal(acl.body.split('\n')[0], '192.0.2.10');
  assert.match((await get('/rsync_acl.conf')).body, /^hosts allow = /m);
  const metrics = await get('/metrics/mirrorsmith.prom');
  assert.match(metrics.type, /^text\/plain; version=0\.0\.4/);
  assert.match(metrics.body, /^mirrorsmith_mirrors\{/m);
  assert.match((await get('/mirrors.json')).type, /^application\/json/);
  assert.match((await get('/map.svg')).type, /^image\/svg\+xml/);
  assert.match((await get('/status/status.json')).type, /^application\/json/);
  const list = await get('/publiclist/');
  assert.equal(list.status, 200);
  assert.match(list.type, /^text\/html/);
  assert.match(list.cache, /max-age=300/);
  assert.equal((await get('/')).status, 200);
  assert.equal((await get('/status/hosts/no-such-host.html')).status, 404);

  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorsmith-chromium-'));
  let browser: BrowserContext | undefined;
  t.after(async () => {
    await browser?.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  });
  browser = await chromium.launchPersistentContext(userDataDir, { executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1100, height: 900 } });
  const page = await browser.newPage();
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  const shots = screenshotDir();

  await page.goto(`${nginx.url}/publiclist/`, { waitUntil: 'load', timeout: 30_000 });
  for (const host of ['mirror.example.edu', 'ftp.nordic.example.net', 'fi.nordic.example.net', 'syd.pacific.example.org']) {
    assert.ok(await page.getByRole('link', { name: host, exact: true }).isVisible(), `${host} visible on the public list`);
  }
  const text = await page.locator('body').innerText();
  for (const hidden of ['mirror.acme.example.com', 'old.gone.example.org', 'admin-off.example.edu']) assert.ok(!text.includes(hidden), `${hidden} shown`);
  // The hostile comment is shown as text, and nothing it carried ran.
  assert.ok(text.includes('<script>window.__xss=1</script>'), 'escaped corpus visible as text');
  assert.equal(await page.evaluate('window.__xss'), undefined, 'an injected script ran');
  assert.equal(await page.locator('script, img[src="x"], svg[onload]').count(), 0);
  await page.screenshot({ path: path.join(shots, 'publiclist.png'), fullPage: true });

  // The map is linked and loads.
  await page.getByRole('link', { name: 'World map of mirrors' }).click();
  await page.waitForURL(/\/map\.svg$/, { timeout: 10_000 });
  assert.equal(await page.locator('path[data-country="US"]').count(), 1);

  // A host status page.
  await page.goto(`${nginx.url}/status/hosts/ftp.nordic.example.net.html`, { waitUntil: 'load', timeout: 30_000 });
  const status = await page.locator('body').innerText();
  assert.match(status, /2\/5 repositories up to date \(40%\)/);
  assert.match(status, /updates-released-f41\/x86_64/);
  assert.equal(await page.evaluate('window.__xss'), undefined);
  await page.screenshot({ path: path.join(shots, 'status-host.png'), fullPage: true });

  // The overview with its propagation plot, rendered by the browser.
  await page.goto(`${nginx.url}/status/`, { waitUntil: 'load', timeout: 30_000 });
  const loaded = await page.evaluate(`(() => { const img = document.querySelector('img[src="propagation/fedora-41.x86_64.svg"]'); return !!img && img.complete && img.naturalWidth > 0; })()`);
  assert.equal(loaded, true, 'propagation plot loaded');
  await page.screenshot({ path: path.join(shots, 'status.png'), fullPage: true });

  // Readable on a phone: nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  for (const p of ['/publiclist/', '/status/hosts/mirror.example.edu.html']) {
    await page.goto(nginx.url + p, { waitUntil: 'load', timeout: 30_000 });
    const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
    assert.ok(overflow <= 1, `${p} scrolls sideways on a phone by ${overflow}px`);
  }
  await page.screenshot({ path: path.join(shots, 'status-host-phone.png'), fullPage: true });
  assert.deepEqual(dialogs, []);
  t.diagnostic(`screenshots in ${shots}`);
});
