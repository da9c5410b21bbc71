// The public outputs of a generation: the public mirror list, mirrors.json, the site
// root page and the nginx locations serving them (the status pages, the rsync ACL,
// the map and the metrics have their own modules). Each emitter reads one shared,
// lazily loaded snapshot of the database per build.
import type { Emitter, GenerationWriter } from '../core/generation.ts';
import type { Config } from '../core/config.ts';
import type { StageContext } from '../core/types.ts';
import { snapshotFor } from '../build/snapshot.ts';
import { loadPublicData } from './data.ts';
import { buildFacts, type Facts } from './model.ts';
import { mirrorsJson, mirrorsJsonSchemaDocument } from './mirrors-json.ts';
import { publicListPages } from './publiclist.ts';
import { worldMapSvg } from './map.ts';
import { metricsText } from './metrics.ts';
import { propagationSvg } from './propagation.ts';
import { render } from './render.ts';
import { hostPagePath, hostStatusView, keyReposOf, plotPath, seriesFor, statusContext, statusHosts, statusIndexView, statusJson } from './status.ts';
import { repoKey } from './publiclist.ts';

/** No scripts, no remote anything: the pages are plain HTML and inline SVG styles. */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'";

export type PublicOptions = Config['public'];

export function publicOptions(ctx: Pick<StageContext, 'config'>): PublicOptions {
  return ctx.config.public;
}

// One load per build: every public emitter of a run shares it.
const factsCache = new WeakMap<object, Promise<Facts>>();

export function factsFor(ctx: StageContext): Promise<Facts> {
  let p = factsCache.get(ctx.run);
  if (!p) {
    p = (async () => {
      // The build's snapshot (shared with the lists emitter) decides eligibility.
      const snapshot = await snapshotFor(ctx);
      // One transaction: the pages describe one consistent state of the registry.
      const data = await ctx.db.transaction((tx) => loadPublicData(tx));
      return buildFacts(data, snapshot);
    })();
    factsCache.set(ctx.run, p);
    // A failed load must not be cached for a retry in the same process.
    p.catch(() => factsCache.delete(ctx.run));
  }
  return p;
}

export const publicListEmitter: Emitter = {
  name: 'publiclist',
  async emit(ctx, gen) {
    const f = await factsFor(ctx);
    const pages = publicListPages(f);
    for (const p of pages) gen.write(p.path, render('publiclist', p.view));
    return { counts: { publiclistPages: pages.length, publicHosts: f.publicHosts.length } };
  },
};

export const mirrorsJsonEmitter: Emitter = {
  name: 'mirrors-json',
  async emit(ctx, gen) {
    const f = await factsFor(ctx);
    const doc = mirrorsJson(f);
    gen.write('mirrors.json', JSON.stringify(doc, null, 1) + '\n');
    gen.write('mirrors.schema.json', JSON.stringify(mirrorsJsonSchemaDocument(), null, 2) + '\n');
    return { counts: { mirrorsJsonHosts: doc.hosts.length } };
  },
};

export const statusEmitter: Emitter = {
  name: 'status',
  async emit(ctx, gen) {
    const f = await factsFor(ctx);
    const p = publicOptions(ctx);
    const opts = statusContext(f, { propagationDays: p.propagationDays, statusPrivateHosts: p.statusPrivateHosts, keyRepos: keyReposOf(ctx.config.categories) });
    gen.write('status/index.html', render('status-index', statusIndexView(f, opts)));
    const hosts = statusHosts(f, opts);
    for (const h of hosts) gen.write(hostPagePath(h.name), render('status-host', hostStatusView(f, h, opts)));
    const plots = opts.plotted;
    for (const r of plots) gen.write(plotPath(r), propagationSvg(`Propagation of ${repoKey(r)}`, seriesFor(f, r, opts.propagationDays)));
    gen.write('status/status.json', JSON.stringify(statusJson(f, opts), null, 1) + '\n');
    return { counts: { statusHostPages: hosts.length, propagationPlots: plots.length } };
  },
};

export const mapEmitter: Emitter = {
  name: 'map',
  async emit(ctx, gen) {
    const f = await factsFor(ctx);
    const counts = new Map<string, number>();
    for (const h of f.publicHosts) if (h.country) counts.set(h.country, (counts.get(h.country) ?? 0) + 1);
    gen.write('map.svg', worldMapSvg(counts));
    return { counts: { mapCountries: counts.size } };
  },
};

export const siteIndexEmitter: Emitter = {
  name: 'site-index',
  async emit(ctx, gen) {
    const f = await factsFor(ctx);
    const opts = publicOptions(ctx);
    gen.write(
      'index.html',
      render('site-index', {
        title: opts.title,
        base: '',
        hosts: f.publicHosts.length,
        countries: new Set(f.publicHosts.map((h) => h.country ?? 'XX')).size,
      }),
    );
    return { counts: {} };
  },
};

export const publicNginxEmitter: Emitter = {
  name: 'public-nginx',
  async emit(_ctx, gen: GenerationWriter) {
    gen.write('nginx/server.d/20-public.conf', render('nginx-public', { maxAge: 300, csp: PAGE_CSP }));
    return { counts: {} };
  },
};

/** Runs last: the generation's size is what the emitters before it wrote. */
export const metricsEmitter: Emitter = {
  name: 'metrics',
  async emit(ctx, gen) {
    const f = await factsFor(ctx);
    const text = await metricsText(f, { files: gen.stats.files, bytes: gen.stats.bytes }, keyReposOf(ctx.config.categories));
    gen.write('metrics/mirrorsmith.prom', text);
    return { counts: { metricLines: text.split('\n').filter((l) => l && !l.startsWith('#')).length } };
  },
};
