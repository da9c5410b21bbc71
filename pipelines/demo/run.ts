// `mirrorsmith demo` (what `npm start` runs): a small but realistic mirror network
// on this machine, no network needed. The first time it writes demo/ — a master
// tree with real repodata, a config, a registry of a dozen sites — and pushes a
// few updates through scan-master so the master has a hash history (stale mirrors
// are then "behind", not unknown). Every time it starts the simulated mirrors on
// 127.0.0.1, runs the whole pipeline over them, stops them and prints what happened.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import YAML from 'yaml';
import type { AppContext } from '../core/context.ts';
import type { Stage } from '../core/types.ts';
import { runPipeline, type RunOutcome } from '../orchestrator.ts';
import { STAGES } from '../stages/index.ts';
import { demoCategories, DEMO_ALIASES, generateDemoMasterTree, pushDemoUpdate } from './master-tree.ts';
import { DEMO_MIRROR_PORT, demoHosts, writeDemoRegistry } from './network.ts';
import { resolvePath } from '../core/config.ts';
import { reportToSpool } from '../report/local.ts';
import { startSimHttpServer, type SimHttpServer } from '../simnet/http-server.ts';
import { buildVariant, linkTree, type MasterTrees } from '../simnet/trees.ts';
import { startRsyncSim, type Managed } from '../simnet/daemons.ts';

export interface DemoPaths {
  dir: string;
  configFile: string;
  master: string;
  history: string;
  mirrors: string;
  /** Which port the simulated mirrors were written with (the registry's URLs name it). */
  networkFile: string;
}

export function demoPaths(dir: string): DemoPaths {
  const abs = path.resolve(dir);
  return {
    dir: abs,
    configFile: path.join(abs, 'mirrorsmith.yaml'),
    master: path.join(abs, 'master'),
    history: path.join(abs, 'history'),
    mirrors: path.join(abs, 'mirrors'),
    networkFile: path.join(abs, 'network.json'),
  };
}

/** The simulated mirrors' http port (rsync: the next one) this demo directory was written with. */
export function demoPort(p: DemoPaths): number {
  try {
    const { httpPort } = JSON.parse(fs.readFileSync(p.networkFile, 'utf8')) as { httpPort?: unknown };
    if (typeof httpPort === 'number' && Number.isInteger(httpPort) && httpPort > 0 && httpPort < 65535) return httpPort;
    throw new Error(`httpPort must be a port number, got ${JSON.stringify(httpPort)}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return DEMO_MIRROR_PORT; // written before ports were configurable
    throw new Error(`${p.networkFile}: ${(err as Error).message}`);
  }
}

/** Number of pushes of the demo's updates repository: stale-3 mirrors need three. */
const PUSHES = 3;

/** Writes demo/ once: master tree, config, registry. Returns false when it already existed. */
export async function writeDemoFiles(p: DemoPaths, outDir: string, httpPort = DEMO_MIRROR_PORT): Promise<boolean> {
  if (fs.existsSync(p.configFile)) return false;
  fs.mkdirSync(p.dir, { recursive: true });
  await generateDemoMasterTree(p.master);
  const categories = demoCategories('master');
  writeDemoRegistry(path.join(p.dir, 'registry'), categories, httpPort);
  fs.writeFileSync(p.networkFile, JSON.stringify({ httpPort, rsyncPort: httpPort + 1 }) + '\n');
  const config = demoConfig(p, outDir);
  const header = '# The demo network written by `mirrorsmith demo` (npm start). Edit freely; delete demo/ to start over.\n';
  fs.writeFileSync(p.configFile, header + YAML.stringify(config));
  return true;
}

/**
 * The demo's mirrorsmith.yaml as an object (paths relative to demo/): what
 * writeDemoFiles writes, and what tests build the demo generation from.
 */
export function demoConfig(p: DemoPaths, outDir: string) {
  const categories = demoCategories('master');
  const require = createRequire(import.meta.url);
  const geo = path.dirname(require.resolve('@ip-location-db/geolite2-country/package.json'));
  const asn = path.dirname(require.resolve('@ip-location-db/asn/package.json'));
  return {
    database: { dataDir: 'var/db' },
    registry: { dir: 'registry' },
    output: { dir: path.relative(p.dir, outDir) || '.', keepGenerations: 5 },
    categories,
    repositoryAliases: DEMO_ALIASES,
    countryContinentRedirects: { IL: 'EU' },
    // country=DE,GB (either order) gets its own lists; other lists their first country's.
    selection: { countrySets: [['DE', 'GB']] },
    geoip: {
      country: [path.join(geo, 'geolite2-country-ipv4.csv'), path.join(geo, 'geolite2-country-ipv6.csv')],
      asn: [path.join(asn, 'asn-ipv4.csv'), path.join(asn, 'asn-ipv6.csv')],
    },
    // Loopback mirrors answer at once; keep a dead one from holding the run up.
    crawl: { requestTimeoutMs: 3000, hostTimeoutMs: 30_000 },
    mirroring: {
      serverUrl: 'http://127.0.0.1:8080/',
      rsyncHost: 'dl.example.org',
      contact: 'mirror-admin@example.org',
      modules: [
        { name: 'fedora-linux', category: 'Fedora Linux', description: 'Fedora Linux releases, updates and rawhide' },
        { name: 'fedora-epel', category: 'Fedora EPEL', description: 'Extra Packages for Enterprise Linux' },
      ],
    },
  };
}

/** First run only: scan, then push updates with a scan after each, building the master's hash history. */
export async function pushHistory(app: AppContext, p: DemoPaths, signal: AbortSignal): Promise<void> {
  if (fs.existsSync(p.history)) return;
  const scan = pick(['registry', 'scan-master']);
  await mustSucceed(await runPipeline(app, { stages: scan, signal, holder: 'demo: initial scan' }), 'initial scan');
  for (let i = 0; i < PUSHES; i++) {
    await pushDemoUpdate(p.master);
    await mustSucceed(await runPipeline(app, { stages: pick(['scan-master']), signal, holder: `demo: push ${i + 1}` }), `scan after push ${i + 1}`);
  }
}

/**
 * The master as it was k pushes ago, for stale-k mirrors: the current tree with the
 * pushed repositories' repodata taken from demo/history/.
 */
export function masterTrees(p: DemoPaths): MasterTrees {
  const pushes = fs.existsSync(p.history) ? fs.readdirSync(p.history).filter((d) => /^\d+$/.test(d)).map(Number).sort((a, b) => b - a) : [];
  const previous = pushes.map((n, i) => {
    const dest = path.join(p.mirrors, '.previous', String(i + 1));
    fs.rmSync(dest, { recursive: true, force: true });
    fs.mkdirSync(dest, { recursive: true });
    linkTree(p.master, dest);
    // Push n kept the repodata as it was before push n: that is the tree (latest - n + 1) pushes back.
    const before = path.join(p.history, String(n));
    for (const repodata of findRepodata(before)) {
      fs.rmSync(path.join(dest, repodata), { recursive: true, force: true });
      fs.mkdirSync(path.join(dest, repodata), { recursive: true });
      linkTree(path.join(before, repodata), path.join(dest, repodata));
    }
    return dest;
  });
  return { current: p.master, previous };
}

function findRepodata(root: string): string[] {
  return fs
    .readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name === 'repodata')
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

export interface DemoNetwork {
  http: SimHttpServer;
  rsync: Managed | null;
  stop(): Promise<void>;
}

/** Starts the simulated mirrors: every demo host under http://127.0.0.1:<port>/<host>/, rsync when installed. */
export async function startDemoNetwork(p: DemoPaths, rsyncPath: string | null): Promise<DemoNetwork> {
  const port = demoPort(p);
  const trees = masterTrees(p);
  const byBehaviour = new Map<string, string>();
  for (const h of demoHosts()) {
    if (!byBehaviour.has(h.behaviour)) byBehaviour.set(h.behaviour, buildVariant(trees, h.behaviour, path.join(p.mirrors, h.behaviour)));
  }
  const hosts = demoHosts().map((h) => ({ name: h.name, root: h.behaviour === 'dead' ? null : byBehaviour.get(h.behaviour)! }));
  const http = await startSimHttpServer(hosts, { port }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EADDRINUSE') throw err;
    throw new Error(`port ${port} of the simulated mirrors is taken (another demo running?); stop it, or start over with another port: rm -rf ${p.dir} && mirrorsmith demo --mirror-port N`);
  });
  let rsync: Managed | null = null;
  const rsyncHosts = demoHosts().filter((h) => h.rsync && h.behaviour !== 'dead');
  if (rsyncPath && rsyncHosts.length) {
    try {
      rsync = await startRsyncSim(rsyncPath, path.join(p.mirrors, '.rsyncd'), '127.0.0.1', port + 1, rsyncHosts.map((h) => ({ name: h.name, path: byBehaviour.get(h.behaviour)! })));
    } catch {
      rsync = null; // the crawler records those rsync URLs as failed and uses http
    }
  }
  return {
    http,
    rsync,
    async stop() {
      await http.close();
      await rsync?.stop();
    },
  };
}

/** The private demo mirrors' tree, as their admins would find it on disk. */
function privateMirrorRoot(p: DemoPaths, host: string): string | null {
  const h = demoHosts().find((d) => d.name === host);
  return h && h.behaviour !== 'dead' ? path.join(p.mirrors, h.behaviour) : null;
}

/**
 * Each private demo mirror reports what it carries, as `mirrorsmith report` would
 * after its rsync: walks its copy and deposits the report where nginx's WebDAV PUT
 * would have put it, for this run's ingest. Returns "site/host" of each report.
 */
export async function reportPrivateMirrors(app: AppContext, p: DemoPaths, signal: AbortSignal): Promise<string[]> {
  const { rows } = await app.db.query<{ site: string; host: string }>(
    'SELECT s.name AS site, h.name AS host FROM host h JOIN site s ON s.id = h.site_id WHERE h.private ORDER BY h.name',
  );
  const spool = resolvePath(app.config, app.config.ingest.spoolDir);
  const done: string[] = [];
  for (const r of rows) {
    const root = privateMirrorRoot(p, r.host);
    if (!root || !fs.existsSync(root)) continue;
    const categories = app.config.categories.map((c) => ({ name: c.name, path: path.join(root, c.topdir), excludes: [...c.excludes] })).filter((c) => fs.existsSync(c.path));
    await reportToSpool(spool, { site: r.site, host: r.host, maxDirectories: 100_000, baseDir: p.dir, categories }, { signal });
    done.push(`${r.site}/${r.host}`);
  }
  return done;
}

function pick(names: string[]): Stage[] {
  return STAGES.filter((s) => names.includes(s.name));
}

async function mustSucceed(outcome: RunOutcome, what: string): Promise<void> {
  if (outcome.exitCode !== 0) throw new Error(`demo: ${what} failed (exit ${outcome.exitCode}): ${outcome.records.map((r) => `${r.stage}:${r.status}${r.error ? ` ${r.error}` : ''}`).join(', ')}`);
}
