// Running the system's stock nginx on a generation: for `mirrorsmith serve`,
// `publish`'s `nginx -t` check, and every test that needs a real server.
// The site config comes from nginx/mirrorsmith.conf.hbs (the same file a
// distribution nginx uses); here it is wrapped in a complete nginx.conf whose
// pid, logs and temp paths all live under one prefix directory.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Handlebars from 'handlebars';
import { listStoreDir } from '../core/generation.ts';

const SITE_TEMPLATE = fileURLToPathSafe(new URL('../../nginx/mirrorsmith.conf.hbs', import.meta.url));

const NGINX_CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx', '/sbin/nginx'];

/** Absolute path of the nginx binary (the usual sbin dirs, then PATH), or null. */
export function findNginx(): string | null {
  for (const p of NGINX_CANDIDATES) if (isExecutable(p)) return p;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, 'nginx'))) return path.join(dir, 'nginx');
  }
  return null;
}

export interface SiteOptions {
  /**
   * Where the fragments are included from, at (re)load time: `<out>/current` when
   * serving, a generation dir when checking one. Also the server root, unless
   * `generationsDir` is given.
   */
  root: string;
  /**
   * `<out>/generations`: serve `<generationsDir>/$ms_generation`, the generation
   * whose fragments were loaded (its 00-generation.conf names it), not whatever
   * `root` points at by the time a request comes.
   */
  generationsDir?: string;
  /** The `listen` parameter, e.g. `127.0.0.1:8080` or `[::1]:8080`. */
  listen: string;
  serverName?: string;
  /** Access log path (or `off`); the `mirrorsmith` log format includes the request time. */
  accessLog?: string;
  /** max-age in seconds for our lists. */
  maxAge?: number;
  /** Raw directives appended inside the server block (tests, local additions). */
  extraServer?: string;
  /**
   * The list store: answers nginx composed once, kept as files (writable by the
   * nginx workers). Default `<out>/list-store` beside `generationsDir` (or beside
   * `root`), which publish prunes with the generations.
   */
  storeDir?: string;
  /** Unix socket of the internal composer server. Default /run/mirrorsmith-compose.sock. */
  composeSocket?: string;
  /** New answers stored per second at most (nginx limit_req rate). Default 100. */
  storeRate?: number;
  /** An extra loopback `listen` for the composer (benchmarks measure composition alone). */
  composeListen?: string;
}

// nginx config has no quoting we could rely on for every directive: paths go in
// bare, so they must not contain whitespace or syntax characters.
const SAFE_PATH = /^\/[A-Za-z0-9._\/+@:=,-]*$/;

function checkPath(what: string, p: string): string {
  if (!SAFE_PATH.test(p)) throw new Error(`${what} ${JSON.stringify(p)} cannot be used in nginx config (absolute path of letters, digits and ._/+@:=,- only)`);
  return p;
}

function checkListen(listen: string): string {
  if (!/^(\[[0-9a-fA-F:.]+\]|[0-9.]+|[A-Za-z0-9.-]+)?:?\d{1,5}$/.test(listen)) throw new Error(`invalid listen address ${JSON.stringify(listen)}`);
  return listen;
}

/** out/list-store: beside generations/ (or beside `current` when serving it unpinned). */
function defaultStoreDir(root: string, generationsDir?: string): string {
  return listStoreDir(path.dirname((generationsDir ?? root).replace(/\/+$/, '')));
}

let siteTemplate: HandlebarsTemplateDelegate | null = null;

/** Renders the site config (http-level include + log_format + the server block). */
export function renderSite(opts: SiteOptions): string {
  siteTemplate ??= Handlebars.compile(fs.readFileSync(SITE_TEMPLATE, 'utf8'), { strict: true, noEscape: true });
  checkListen(opts.listen);
  const serverName = opts.serverName ?? '_';
  if (!/^[A-Za-z0-9._*-]+$/.test(serverName)) throw new Error(`invalid server_name ${JSON.stringify(serverName)}`);
  const root = checkPath('server root', opts.root.replace(/\/+$/, ''));
  const storeDir = opts.storeDir ?? defaultStoreDir(root, opts.generationsDir);
  const composeSocket = checkPath('compose socket', opts.composeSocket ?? '/run/mirrorsmith-compose.sock');
  // sockaddr_un.sun_path holds 108 bytes with the terminating NUL.
  if (Buffer.byteLength(composeSocket) > 107) throw new Error(`compose socket path ${JSON.stringify(composeSocket)} is longer than a unix socket path may be (107 bytes)`);
  const storeRate = opts.storeRate ?? 100;
  if (!Number.isInteger(storeRate) || storeRate < 1) throw new Error(`storeRate must be a positive integer (stores per second), got ${storeRate}`);
  return siteTemplate({
    root,
    servedRoot: opts.generationsDir ? `${checkPath('generations dir', opts.generationsDir.replace(/\/+$/, ''))}/$ms_generation` : root,
    pinned: Boolean(opts.generationsDir),
    listen: opts.listen,
    serverName,
    accessLog: opts.accessLog === undefined || opts.accessLog === 'off' ? 'off' : `${checkPath('access log', opts.accessLog)} mirrorsmith`,
    maxAge: Math.max(0, Math.floor(opts.maxAge ?? 60)),
    extraServer: opts.extraServer ?? '',
    storeDir: checkPath('list store', storeDir.replace(/\/+$/, '')),
    composeSocket,
    storeRate,
    composeListen: opts.composeListen ? checkListen(opts.composeListen) : '',
  });
}

export interface MainConfOptions {
  prefixDir: string;
  /** The rendered site (see renderSite), written beside nginx.conf and included at http level. */
  siteFile: string;
  workers?: number | 'auto';
  /** Raw directives at main level (e.g. load_module). */
  extraMain?: string;
  /** Raw directives at http level, before the site. */
  extraHttp?: string;
}

/** A complete nginx.conf: everything nginx writes lives under prefixDir. */
export function renderMainConf(o: MainConfOptions): string {
  const p = checkPath('prefix dir', path.resolve(o.prefixDir));
  const lines = [
    '# generated by mirrorsmith (pipelines/serve/nginx.ts); edits are overwritten',
    'daemon off;',
    'master_process on;',
    `worker_processes ${o.workers ?? 1};`,
    `pid ${p}/nginx.pid;`,
    `error_log ${p}/logs/error.log notice;`,
    // The lists' maps run a few regexes per request (query-string checks): compiled.
    'pcre_jit on;',
    // As root the workers would otherwise run as `nobody` and could not write the
    // temp dirs (or WebDAV uploads) under a prefix owned by root.
    ...(process.getuid?.() === 0 ? ['user root root;'] : []),
    o.extraMain ?? '',
    'events {',
    '    worker_connections 1024;',
    '}',
    'http {',
    `    client_body_temp_path ${p}/tmp/client_body;`,
    `    proxy_temp_path ${p}/tmp/proxy;`,
    `    fastcgi_temp_path ${p}/tmp/fastcgi;`,
    `    uwsgi_temp_path ${p}/tmp/uwsgi;`,
    `    scgi_temp_path ${p}/tmp/scgi;`,
    '    keepalive_timeout 30s;',
    o.extraHttp ? indent(o.extraHttp, '    ') : '',
    `    include ${checkPath('site file', o.siteFile)};`,
    '}',
    '',
  ];
  return lines.filter((l) => l !== '').join('\n') + '\n';
}

export interface NginxTestResult {
  ok: boolean;
  /** nginx's own words (stderr of `nginx -t`), trimmed. */
  output: string;
}

/** `nginx -t` on a config file; never throws for a bad config (ok=false, output says why). */
export async function nginxTest(confFile: string, opts: { prefixDir?: string; signal?: AbortSignal; timeoutMs?: number } = {}): Promise<NginxTestResult> {
  const bin = requireNginx();
  const prefix = opts.prefixDir ?? path.dirname(path.resolve(confFile));
  ensurePrefix(prefix);
  const args = ['-t', '-p', prefix + '/', '-e', path.join(prefix, 'logs', 'error.log'), '-c', path.resolve(confFile)];
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: opts.timeoutMs ?? 30_000, signal: opts.signal, encoding: 'utf8' }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`.trim();
      if (!err) return resolve({ ok: true, output });
      const e = err as NodeJS.ErrnoException & { code?: unknown; killed?: boolean };
      if (typeof e.code === 'number') return resolve({ ok: false, output });
      if (e.name === 'AbortError') return reject(err);
      reject(new Error(`nginx -t could not run: ${e.killed ? 'timed out' : e.message}`, { cause: err }));
    });
  });
}

/** Writes prefix/conf/{site,nginx}.conf for a root and runs `nginx -t` on it. */
export async function checkSite(
  root: string,
  opts: { prefixDir: string; generationsDir?: string; listen?: string; extraHttp?: string; extraServer?: string; signal?: AbortSignal; timeoutMs?: number },
): Promise<NginxTestResult & { confFile: string }> {
  const confFile = writeConf({ prefixDir: opts.prefixDir, root, generationsDir: opts.generationsDir, listen: opts.listen ?? '127.0.0.1:8080', extraHttp: opts.extraHttp, extraServer: opts.extraServer });
  return { ...(await nginxTest(confFile, { prefixDir: opts.prefixDir, signal: opts.signal, timeoutMs: opts.timeoutMs })), confFile };
}

export interface StartNginxOptions {
  /**
   * output.dir: serve the published generation (fragments from `<outDir>/current`,
   * files from the generation they name) unless `root` is given.
   */
  outDir: string;
  /** Serve this directory as it is instead (e.g. one generation, in tests). */
  root?: string;
  /** Default: a free port picked at random. */
  port?: number;
  host?: string;
  /** Where conf, pid, logs and temp files go. Default: a new temp dir (removed on stop). */
  prefixDir?: string;
  extraMain?: string;
  extraHttp?: string;
  extraServer?: string;
  workers?: number | 'auto';
  /** Access log path, default `<prefix>/logs/access.log`; `off` to disable. */
  accessLog?: string;
  /** Also listen on this loopback port with the composer (benchmarks). */
  composePort?: number;
  /** New answers stored per second at most (site default 100). */
  storeRate?: number;
  /** The list store (default: beside the generations, or `<prefix>/list-store` with `root`). */
  storeDir?: string;
  startTimeoutMs?: number;
}

export interface RunningNginx {
  url: string;
  port: number;
  host: string;
  prefixDir: string;
  confFile: string;
  pid: number;
  /** Resolves when the master process exits (after stop() or a crash). */
  exited: Promise<number | null>;
  /** `nginx -t` the config, then SIGHUP; resolves once the old workers are gone. */
  reload(): Promise<void>;
  /** SIGQUIT (graceful), then SIGKILL to the whole process group after a bound. */
  stop(): Promise<void>;
}

/** Starts nginx in the foreground (daemon off) and waits until its port answers. */
export async function startNginx(opts: StartNginxOptions): Promise<RunningNginx> {
  const bin = requireNginx();
  const host = opts.host ?? '127.0.0.1';
  const ownPrefix = !opts.prefixDir;
  const prefixDir = path.resolve(opts.prefixDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorsmith-nginx-')));
  const root = path.resolve(opts.root ?? path.join(opts.outDir, 'current'));
  const generationsDir = opts.root ? undefined : path.resolve(opts.outDir, 'generations');
  // A random port can be taken between our probe and nginx's bind: retry a few times.
  const attempts = opts.port ? 1 : 5;
  let lastError: Error | null = null;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = opts.port ?? (await freePort(host));
    const listen = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const confFile = writeConf({
      prefixDir,
      root,
      generationsDir,
      listen,
      extraMain: opts.extraMain,
      extraHttp: opts.extraHttp,
      extraServer: opts.extraServer,
      workers: opts.workers,
      accessLog: opts.accessLog ?? path.join(prefixDir, 'logs', 'access.log'),
      composeListen: opts.composePort ? `${host.includes(':') ? `[${host}]` : host}:${opts.composePort}` : undefined,
      storeRate: opts.storeRate,
      storeDir: opts.storeDir,
    });
    removeStaleSocket(prefixDir);
    const child = spawn(bin, ['-p', prefixDir + '/', '-e', path.join(prefixDir, 'logs', 'error.log'), '-c', confFile], {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true, // own process group: stop() can SIGKILL master and workers together
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      stderr = (stderr + d).slice(-8192);
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const killOnExit = () => killGroup(child, 'SIGKILL');
    process.once('exit', killOnExit);
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const up = await waitForPort(host, port, child, path.join(prefixDir, 'nginx.pid'), opts.startTimeoutMs ?? 10_000);
    if (!up) {
      killGroup(child, 'SIGKILL');
      await Promise.race([exited, sleep(2000)]);
      process.removeListener('exit', killOnExit);
      const log = readTail(path.join(prefixDir, 'logs', 'error.log'));
      const lines = (stderr + '\n' + log).split('\n').filter((l) => /\[(emerg|alert|crit|error)\]/.test(l));
      // The same complaint goes to stderr and the error log, with different prefixes.
      const uniq = [...new Map(lines.map((l) => [l.replace(/^.*?\[(emerg|alert|crit|error)\]( \d+#\d+:)?/, ''), l])).values()];
      const why = uniq.slice(-3).join('\n') || stderr.trim() || 'did not answer in time';
      lastError = new Error(`nginx failed to start on ${listen}: ${why}`);
      if (!opts.port && /Address already in use/.test(why)) continue;
      break;
    }
    // Do not keep the event loop (a test runner) alive because of nginx.
    child.unref();
    (child.stderr as unknown as net.Socket).unref?.();
    let stopping: Promise<void> | null = null;
    const running: RunningNginx = {
      url,
      port,
      host,
      prefixDir,
      confFile,
      pid: child.pid!,
      exited,
      async reload() {
        const checked = await nginxTest(confFile, { prefixDir, timeoutMs: 120_000 });
        if (!checked.ok) throw new Error(`nginx reload refused, the config does not pass nginx -t:\n${checked.output}`);
        const before = workerPids(child.pid!);
        child.kill('SIGHUP');
        // The master re-parses the whole config (seconds for a Fedora-scale geo block).
        const deadline = Date.now() + 60_000;
        while (Date.now() < deadline) {
          await sleep(25);
          const now = workerPids(child.pid!);
          if (now.length > 0 && !now.some((p) => before.includes(p))) return;
        }
        throw new Error(`nginx reload did not finish within 60 s (workers ${workerPids(child.pid!).join(',')}); see ${path.join(prefixDir, 'logs', 'error.log')}`);
      },
      stop() {
        stopping ??= (async () => {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGQUIT');
            const done = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
            if (!done) {
              killGroup(child, 'SIGKILL');
              await Promise.race([exited, sleep(2000)]);
            }
          }
          // Workers that outlived a killed master must go too.
          killGroup(child, 'SIGKILL');
          process.removeListener('exit', killOnExit);
          if (ownPrefix) fs.rmSync(prefixDir, { recursive: true, force: true });
        })();
        return stopping;
      },
    };
    return running;
  }
  if (ownPrefix) fs.rmSync(prefixDir, { recursive: true, force: true });
  throw lastError ?? new Error('nginx failed to start');
}

// ---- helpers ---------------------------------------------------------------

function writeConf(o: {
  prefixDir: string;
  root: string;
  generationsDir?: string;
  listen: string;
  extraMain?: string;
  extraHttp?: string;
  extraServer?: string;
  workers?: number | 'auto';
  accessLog?: string;
  composeListen?: string;
  storeRate?: number;
  storeDir?: string;
}): string {
  ensurePrefix(o.prefixDir);
  const siteFile = path.join(o.prefixDir, 'conf', 'site.conf');
  const confFile = path.join(o.prefixDir, 'conf', 'nginx.conf');
  // Serving one directory (a test tree, a generation being checked): its answers
  // are stored under the prefix, not beside the generation.
  const storeDir = o.storeDir ?? (o.generationsDir ? defaultStoreDir(o.root, o.generationsDir) : path.join(o.prefixDir, 'list-store'));
  // nginx stores nothing without the store directory.
  fs.mkdirSync(storeDir, { recursive: true });
  fs.writeFileSync(
    siteFile,
    renderSite({ root: o.root, generationsDir: o.generationsDir, listen: o.listen, accessLog: o.accessLog, extraServer: o.extraServer, storeDir, composeSocket: composeSocketPath(o.prefixDir), composeListen: o.composeListen, storeRate: o.storeRate }),
  );
  fs.writeFileSync(confFile, renderMainConf({ prefixDir: o.prefixDir, siteFile, workers: o.workers, extraMain: o.extraMain, extraHttp: o.extraHttp }));
  return confFile;
}

/** The composer's socket under a prefix: nginx leaves it behind when killed. */
function composeSocketPath(prefixDir: string): string {
  return path.join(prefixDir, 'compose.sock');
}

/**
 * A socket left by a killed nginx makes bind() fail. Remove it, unless the nginx
 * of this prefix is still running (its pid file names a live process).
 */
function removeStaleSocket(prefixDir: string): void {
  const pid = Number(readTail(path.join(prefixDir, 'nginx.pid')).trim());
  if (Number.isInteger(pid) && pid > 0) {
    try {
      process.kill(pid, 0);
      return;
    } catch {
      // gone: its socket is stale
    }
  }
  fs.rmSync(composeSocketPath(prefixDir), { force: true });
}

function ensurePrefix(prefix: string): void {
  for (const d of ['conf', 'logs', 'tmp']) fs.mkdirSync(path.join(prefix, d), { recursive: true });
}

function requireNginx(): string {
  const bin = findNginx();
  if (!bin) throw new Error('nginx is not installed (apt-get install nginx-light); it is needed to serve and to check generations');
  return bin;
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function fileURLToPathSafe(u: URL): string {
  return decodeURIComponent(u.pathname);
}

function indent(text: string, pad: string): string {
  return text
    .split('\n')
    .map((l) => (l ? pad + l : l))
    .join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A port that was free a moment ago on host. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function waitForPort(host: string, port: number, child: ChildProcess, pidFile: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    // nginx writes its pid file only after binding every listen socket: before
    // that, whatever answers on the port is somebody else.
    if (readTail(pidFile).trim() !== String(child.pid)) {
      await sleep(25);
      continue;
    }
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect({ host, port });
      const done = (v: boolean) => {
        sock.destroy();
        resolve(v);
      };
      sock.setTimeout(500, () => done(false));
      sock.once('connect', () => done(true));
      sock.once('error', () => done(false));
    });
    // The port answering is not enough: it must be our nginx, still alive.
    if (ok && child.exitCode === null) return true;
    await sleep(50);
  }
  return false;
}

function killGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (!child.pid) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    // already gone
  }
}

/** Worker processes of an nginx master (Linux /proc). */
function workerPids(master: number): number[] {
  try {
    return fs
      .readFileSync(`/proc/${master}/task/${master}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function readTail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').slice(-8192);
  } catch {
    return '';
  }
}
