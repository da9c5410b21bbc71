// Serving (issue 6): `nginx -t` time and worker RSS with the build's generation
// loaded, then wrk on loopback against /metalink and /mirrorlist (several client
// classes and repositories in rotation) and, in the same run, against a plain static
// file of the same size — the physical limit of this design.
import fs from 'node:fs';
import path from 'node:path';
import { parse as yamlParse } from 'yaml';
import { childPids, mb, procMemory, REPO_ROOT, runWrk, tryImport, type BenchContext, type Benchmark, type Figure } from '../harness.ts';
import { buildStageAvailable, measureBuild, previousGeneration } from './build.ts';
import type { RegistrySite } from '../../pipelines/bench/network-plan.ts';
import type { WorldFile } from '../../pipelines/bench/generate.ts';

const SOURCE = 'issue 6';

type NginxModule = typeof import('../../pipelines/serve/nginx.ts');

export const benchmark: Benchmark = {
  name: 'nginx',
  title: 'serving with stock nginx',
  figures: [
    { name: 'nginx -t with the generation', unit: 's' },
    { name: 'worker RSS with the generation loaded', unit: 'MB', target: { op: '<=', value: 250 }, source: SOURCE },
    { name: 'static file (metalink size)', unit: 'req/s' },
    { name: 'metalink', unit: 'req/s', target: { op: '>=', value: 0.6 }, source: `${SOURCE}: ≥ 60% of the static file` },
    { name: 'static file (mirrorlist size)', unit: 'req/s' },
    { name: 'mirrorlist', unit: 'req/s', target: { op: '>=', value: 0.6 }, source: `${SOURCE}: ≥ 60% of the static file` },
    { name: 'metalink composed (a store miss)', unit: 'req/s' },
    { name: 'mirrorlist composed (a store miss)', unit: 'req/s' },
  ],
  async available() {
    const serve = await tryImport('pipelines/serve/nginx.ts', ['startNginx', 'checkSite', 'findNginx']);
    if (!serve.mod) return serve.missing;
    if (!(serve.mod as unknown as NginxModule).findNginx()) return 'nginx is not installed (apt-get install nginx-light)';
    const { whichTool } = await import('../../test/helpers/system.ts');
    if (!whichTool('wrk')) return 'wrk is not installed (apt-get install wrk)';
    return buildStageAvailable();
  },
  async run(ctx) {
    const serve = (await import('../../pipelines/serve/nginx.ts')) as NginxModule;
    let genDir = (ctx.shared.get('generationDir') as string | undefined) ?? previousGeneration(path.join(path.dirname(ctx.workDir), 'build'), ctx.worldDir) ?? undefined;
    if (genDir) ctx.log(`serving ${path.relative(REPO_ROOT, genDir)}`);
    else {
      ctx.log('no generation from the build benchmark in this run: building one');
      genDir = (await measureBuild(ctx, ctx.worldDir, path.join(ctx.workDir, 'build'), 'build for nginx')).generationDir;
    }
    const prefix = path.join(ctx.workDir, 'nginx');
    const t0 = performance.now();
    const checked = await serve.checkSite(genDir, { prefixDir: path.join(ctx.workDir, 'nginx-t') });
    const testMs = performance.now() - t0;
    if (!checked.ok) throw new Error(`nginx -t refused the generation: ${checked.output}`);

    const staticDir = path.join(ctx.workDir, 'static');
    fs.mkdirSync(staticDir, { recursive: true });
    const composePort = await serve.freePort();
    const nginx = await serve.startNginx({ outDir: path.dirname(genDir), root: genDir, prefixDir: prefix, workers: 1, accessLog: 'off', composePort, extraServer: `location ^~ /__bench_static/ {\n    alias ${staticDir}/;\n}` });
    try {
      // The port answers once the master listens; its workers may still be forking.
      let workers = childPids(nginx.pid);
      for (let i = 0; workers.length === 0 && i < 100; i++) {
        await new Promise((r) => setTimeout(r, 50));
        workers = childPids(nginx.pid);
      }
      if (workers.length === 0) throw new Error(`nginx master ${nginx.pid} has no worker processes`);
      const world = JSON.parse(fs.readFileSync(path.join(ctx.worldDir, 'world.json'), 'utf8')) as WorldFile;
      const queries = sampleQueries(ctx, world);
      // Every URL must answer 200 with a body, or the rate would measure error pages.
      const sizes: Record<'metalink' | 'mirrorlist', number[]> = { metalink: [], mirrorlist: [] };
      for (const kind of ['metalink', 'mirrorlist'] as const) {
        for (const q of queries) {
          const res = await fetch(`${nginx.url}/${kind}?${q}`, { signal: AbortSignal.timeout(10_000) });
          const body = await res.arrayBuffer();
          if (res.status !== 200) throw new Error(`/${kind}?${q} answered ${res.status}: ${Buffer.from(body).toString('utf8').slice(0, 200)}`);
          sizes[kind].push(body.byteLength);
        }
      }
      const afterLoad = workers.map((p) => procMemory(p)?.rss ?? 0).reduce((a, b) => Math.max(a, b), 0);
      const figures: Figure[] = [
        { benchmark: 'nginx', name: 'nginx -t with the generation', value: testMs / 1000, unit: 's', note: 'parse and load every fragment (geo, maps, split_clients)' },
      ];
      for (const kind of ['metalink', 'mirrorlist'] as const) {
        const avg = Math.round(sizes[kind].reduce((a, b) => a + b, 0) / sizes[kind].length);
        fs.writeFileSync(path.join(staticDir, `${kind}.body`), Buffer.alloc(avg, 'x'));
        ctx.log(`wrk: static file of ${avg} bytes, ${ctx.wrkSeconds} s …`);
        const stat = await runWrk(nginx.url, [`/__bench_static/${kind}.body`], { seconds: ctx.wrkSeconds, workDir: ctx.workDir, signal: ctx.signal });
        ctx.log(`wrk: /${kind} over ${queries.length} client/repo combinations, ${ctx.wrkSeconds} s …`);
        const dyn = await runWrk(nginx.url, queries.map((q) => `/${kind}?${q}`), { seconds: ctx.wrkSeconds, workDir: ctx.workDir, signal: ctx.signal });
        if (dyn.non2xx > 0 || stat.non2xx > 0) throw new Error(`wrk saw non-2xx answers (${kind} ${dyn.non2xx}, static ${stat.non2xx})`);
        const lat = (w: typeof dyn) => (w.latencyP50Ms === null ? '' : `p50 ${w.latencyP50Ms.toFixed(2)} ms, p99 ${w.latencyP99Ms?.toFixed(2)} ms`);
        figures.push(
          { benchmark: 'nginx', name: `static file (${kind} size)`, value: stat.requestsPerSec, unit: 'req/s', note: `${avg} bytes; ${lat(stat)}` },
          { benchmark: 'nginx', name: kind, value: dyn.requestsPerSec, unit: 'req/s', ratio: dyn.requestsPerSec / stat.requestsPerSec, target: { op: '>=', value: 0.6 * stat.requestsPerSec }, source: `${SOURCE}: ≥ 60% of the static file; ratio = ${kind}/static`, note: `${queries.length} URLs rotated; ${lat(dyn)}` },
        );
      }
      // What a store miss costs: the composer alone (sub_filter over the blob), asked
      // with the keys the front stored during the runs above.
      const storeRoot = path.join(prefix, 'list-store', path.basename(genDir));
      for (const [kind, uri] of [['mt', '/metalink'], ['ml', '/mirrorlist']] as const) {
        const keys = storedKeys(path.join(storeRoot, kind)).map((k) => `${path.basename(genDir)}/${kind}/${k}`);
        if (keys.length === 0) throw new Error(`the front stored no ${uri} answer under ${storeRoot}`);
        const res = await fetch(`http://127.0.0.1:${composePort}${uri}`, { headers: { 'x-ms-key': keys[0]! }, signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`the composer answered ${res.status} for ${keys[0]}`);
        ctx.log(`wrk: the composer alone, ${keys.length} stored keys of ${uri}, ${ctx.wrkSeconds} s …`);
        const comp = await runWrk(`http://127.0.0.1:${composePort}`, keys.map((k) => ({ path: uri, headers: { 'X-Ms-Key': k } })), { seconds: ctx.wrkSeconds, workDir: ctx.workDir, signal: ctx.signal });
        if (comp.non2xx > 0) throw new Error(`wrk saw non-2xx answers from the composer (${comp.non2xx})`);
        const name = uri === '/metalink' ? 'metalink' : 'mirrorlist';
        const served = figures.find((f) => f.name === name)!;
        figures.push({ benchmark: 'nginx', name: `${name} composed (a store miss)`, value: comp.requestsPerSec, unit: 'req/s', ratio: served.value ? comp.requestsPerSec / served.value : undefined, note: `the composer alone over ${keys.length} keys (ratio = composed / served); a real miss also pays the proxy hop and the store write` });
      }
      const hwm = [...workers, ...childPids(nginx.pid)].map((p) => procMemory(p)?.hwm ?? 0).reduce((a, b) => Math.max(a, b), 0);
      figures.splice(1, 0, { benchmark: 'nginx', name: 'worker RSS with the generation loaded', value: mb(Math.max(afterLoad, hwm)), unit: 'MB', target: { op: '<=', value: 250 }, source: SOURCE, note: `1 worker; peak over the wrk runs; master ${mb(procMemory(nginx.pid)?.rss ?? 0).toFixed(0)} MB` });
      return figures;
    } finally {
      await nginx.stop();
    }
  },
};

/**
 * Query strings covering the selection paths: clients inside a private host's
 * netblock, inside public hosts' netblocks in several countries, an IPv6 client,
 * and country= overrides; over a few popular repositories.
 */
function sampleQueries(ctx: BenchContext, world: WorldFile): string[] {
  const sites = fs
    .readdirSync(path.join(ctx.worldDir, 'registry'))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .slice(0, 400)
    .map((f) => fs.readFileSync(path.join(ctx.worldDir, 'registry', f), 'utf8'));
  const hosts = sites.map((t) => yamlParse(t) as RegistrySite).flatMap((s) => s.hosts);
  // Clients inside hosts' netblocks: ten IPv4, two IPv6.
  const v4: string[] = [];
  const v6: string[] = [];
  for (const h of hosts) {
    for (const nb of h.netblocks) {
      const ip = firstAddress(nb);
      if (!ip) continue;
      const list = ip.includes(':') ? v6 : v4;
      if (list.length < (ip.includes(':') ? 2 : 10) && !list.includes(ip)) list.push(ip);
    }
  }
  const ips = [...v4, ...v6];
  const popular = ['x86_64', 'aarch64'];
  const repos = world.repos.filter((r) => popular.includes(r.arch) && /^(fedora-\d+|updates-released-f\d+|epel-\d+(\.\d+)?|rawhide)$/.test(r.prefix)).slice(0, 8);
  if (repos.length === 0) repos.push(...world.repos.filter((r) => r.arch !== 'source').slice(0, 4));
  const queries: string[] = [];
  repos.forEach((r, i) => {
    const ip = ips[i % Math.max(1, ips.length)];
    queries.push(`repo=${encodeURIComponent(r.prefix)}&arch=${r.arch}${ip ? `&ip=${encodeURIComponent(ip)}` : ''}`);
    queries.push(`repo=${encodeURIComponent(r.prefix)}&arch=${r.arch}&country=${['US', 'DE', 'JP', 'BR'][i % 4]}`);
  });
  return queries;
}

/** `<list>/v<variant>/<protocol word>/<repo>` of every answer stored under one format's directory. */
function storedKeys(dir: string, depth = 4, prefix = ''): string[] {
  if (depth === 0) return [prefix];
  const here = path.join(dir, prefix);
  if (!fs.existsSync(here)) return [];
  return fs
    .readdirSync(here)
    .flatMap((name) => storedKeys(dir, depth - 1, prefix ? `${prefix}/${name}` : name))
    .sort();
}

function firstAddress(cidr: string): string | null {
  const [addr] = cidr.split('/');
  if (!addr) return null;
  if (addr.includes(':')) return addr.endsWith('::') ? `${addr}1` : addr;
  const parts = addr.split('.').map(Number);
  if (parts.length !== 4) return null;
  parts[3] = Math.min(254, parts[3]! + 1);
  return parts.join('.');
}
