// The benchmark harness's shared pieces: what a benchmark module exports, figures
// with targets, measuring a task in a CHILD process (so peak RSS is that task's own),
// machine info, the table and the results file.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import pg from 'pg';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CHILD_ENTRY = path.join(REPO_ROOT, 'bench', 'child.ts');

export interface Target {
  op: '<=' | '>=' | '≈';
  value: number;
}

/** One measured (or not yet measurable) figure. */
export interface Figure {
  benchmark: string;
  name: string;
  value: number | null;
  unit: string;
  target?: Target;
  /** Where the target comes from (issue number) or what the ratio compares with. */
  source?: string;
  /** value / baseline when the figure is a comparison within this run (e.g. metalink vs static file). */
  ratio?: number;
  note?: string;
}

export interface FigureSpec {
  name: string;
  unit: string;
  target?: Target;
  source?: string;
}

export interface BenchContext {
  scale: number;
  seed: number;
  smoke: boolean;
  /** World directory (generated or cached) for this scale/seed. */
  worldDir: string;
  /** Scratch directory for this benchmark (databases, generations, nginx prefixes). */
  workDir: string;
  /** wrk duration per measurement, seconds. */
  wrkSeconds: number;
  /** postgres:// URL for the stages, or '' for the embedded PGlite. */
  databaseUrl: string;
  signal: AbortSignal;
  log(message: string): void;
  /** Results one benchmark leaves for a later one (the build's generation for nginx). */
  shared: Map<string, unknown>;
  /** Ensures the world for `scale` exists (generating it in a child when missing); returns its directory. */
  world(scale: number, opts?: { tree?: boolean }): Promise<string>;
}

export interface Benchmark {
  name: string;
  title: string;
  /** Every figure it reports, with targets: printed even while the benchmark is unavailable. */
  figures: FigureSpec[];
  /** Reads the master tree on disk (others need only world.json and the registry). */
  usesTree?: boolean;
  /** null when it can run; otherwise why not (e.g. "stage build not implemented yet"). */
  available(): Promise<string | null>;
  run(ctx: BenchContext): Promise<Figure[]>;
}

export interface ChildOutcome<T> {
  value: T;
  /** Peak resident set of the child, bytes (getrusage ru_maxrss). */
  maxRssBytes: number;
  wallMs: number;
  cpuMs: number;
}

/**
 * Runs `exportName(args)` from `modulePath` in a fresh Node process and returns its
 * result with the child's peak RSS. The child writes its result to a file, so
 * whatever the task prints cannot corrupt it.
 */
export async function runChild<T>(modulePath: string, exportName: string, args: unknown, opts: { timeoutMs?: number; signal?: AbortSignal; log?: (line: string) => void } = {}): Promise<ChildOutcome<T>> {
  const resultFile = path.join(os.tmpdir(), `mirrorsmith-bench-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD_ENTRY, modulePath, exportName, resultFile], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, MIRRORSMITH_BENCH_CHILD: '1' },
  });
  child.stdin.end(JSON.stringify(args ?? null));
  let tail = '';
  const onData = (d: Buffer) => {
    const s = d.toString('utf8');
    tail = (tail + s).slice(-4000);
    if (opts.log) for (const line of s.split('\n')) if (line.trim()) opts.log(line.trimEnd());
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const timeoutMs = opts.timeoutMs ?? 30 * 60_000;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const onAbort = () => child.kill('SIGTERM');
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c, sig) => resolve(c ?? (sig ? 128 : null))));
  clearTimeout(timer);
  opts.signal?.removeEventListener('abort', onAbort);
  const wallMs = Date.now() - started;
  let parsed: { ok: boolean; value?: T; error?: string; maxRssKb: number; cpuMs: number } | null = null;
  try {
    parsed = JSON.parse(fs.readFileSync(resultFile, 'utf8'));
  } catch {
    parsed = null;
  } finally {
    fs.rmSync(resultFile, { force: true });
  }
  if (!parsed) throw new Error(`${path.basename(modulePath)} ${exportName}: child exited with ${code} after ${wallMs} ms without a result${wallMs >= timeoutMs ? ' (timed out)' : ''}\n${tail.trim().split('\n').slice(-8).join('\n')}`);
  if (!parsed.ok) throw new Error(`${path.basename(modulePath)} ${exportName}: ${parsed.error}`);
  return { value: parsed.value as T, maxRssBytes: parsed.maxRssKb * 1024, wallMs, cpuMs: parsed.cpuMs };
}

/** Imports a module of another part of the project if it exists; the reason otherwise. */
export async function tryImport<T = Record<string, unknown>>(rel: string, needs: string[] = []): Promise<{ mod: T; missing: null } | { mod: null; missing: string }> {
  const file = path.join(REPO_ROOT, rel);
  if (!fs.existsSync(file)) return { mod: null, missing: `${rel} does not exist yet` };
  try {
    const mod = (await import(file)) as Record<string, unknown>;
    const absent = needs.filter((n) => mod[n] === undefined);
    if (absent.length) return { mod: null, missing: `${rel} does not export ${absent.join(', ')} yet` };
    return { mod: mod as T, missing: null };
  } catch (err) {
    return { mod: null, missing: `${rel} failed to load: ${(err as Error).message.split('\n')[0]}` };
  }
}

export interface MachineInfo {
  hostname: string;
  cores: number;
  cpuModel: string;
  memoryBytes: number;
  os: string;
  node: string;
  nginx: string | null;
  wrk: string | null;
  rsync: string | null;
  gitCommit: string | null;
}

export function machineInfo(): MachineInfo {
  const cmd = (file: string, args: string[], re?: RegExp): string | null => {
    // nginx -v and wrk -v print to stderr, and wrk exits 1 on -v: read both streams, ignore the status.
    const r = spawnSync(file, args, { encoding: 'utf8', timeout: 5000 });
    if (r.error) return null;
    const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
    if (!text) return null;
    return re ? (re.exec(text)?.[1] ?? text.split('\n')[0]!) : text.split('\n')[0]!;
  };
  const nginxBin = ['/usr/sbin/nginx', '/usr/local/sbin/nginx'].find((p) => fs.existsSync(p)) ?? 'nginx';
  return {
    hostname: os.hostname(),
    cores: os.availableParallelism?.() ?? os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    nginx: cmd(nginxBin, ['-v'], /nginx version: (\S+)/),
    wrk: cmd('wrk', ['-v'], /^(wrk \S+)/),
    rsync: cmd('rsync', ['--version'], /^(rsync\s+version \S+)/),
    gitCommit: cmd('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD']),
  };
}

export function formatValue(v: number | null, unit: string): string {
  if (v === null) return '—';
  const abs = Math.abs(v);
  const n = abs >= 100 ? Math.round(v).toLocaleString('en-US') : abs >= 10 ? v.toFixed(1) : abs >= 1 ? v.toFixed(2) : v.toFixed(3);
  return unit ? `${n} ${unit}` : n;
}

export function formatTarget(t: Target | undefined, unit: string): string {
  if (!t) return '';
  return `${t.op} ${formatValue(t.value, unit)}`;
}

/** value/target; for comparisons made in the run, the figure's own ratio. */
export function ratioOf(f: Figure): number | null {
  if (f.value === null) return null;
  if (f.ratio !== undefined) return f.ratio;
  if (f.target && f.target.value !== 0) return f.value / f.target.value;
  return null;
}

export function verdict(f: Figure): '' | 'ok' | 'MISS' {
  if (f.value === null || !f.target) return '';
  const { op, value } = f.target;
  if (op === '<=') return f.value <= value ? 'ok' : 'MISS';
  if (op === '>=') return f.value >= value ? 'ok' : 'MISS';
  // ≈: within ±25% of the intended size.
  return Math.abs(f.value - value) <= 0.25 * value ? 'ok' : 'MISS';
}

export function figureRows(figures: Figure[]): string[][] {
  return figures.map((f) => {
    const r = ratioOf(f);
    return [
      `${f.benchmark}: ${f.name}`,
      f.value === null ? `n/a` : formatValue(f.value, f.unit),
      formatTarget(f.target, f.unit),
      r === null ? '' : `${r.toFixed(2)}`,
      verdict(f),
      [f.source, f.note].filter(Boolean).join('; '),
    ];
  });
}

export function mb(bytes: number): number {
  return bytes / (1024 * 1024);
}

/** Bytes and files under a directory (apparent sizes, no symlink following). */
export function duTree(dir: string): { bytes: number; files: number; diskBytes: number } {
  let bytes = 0;
  let files = 0;
  let diskBytes = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) {
        const st = fs.statSync(p);
        bytes += st.size;
        diskBytes += st.blocks * 512;
        files++;
      }
    }
  }
  return { bytes, files, diskBytes };
}

/** Peak and current RSS of a running process from /proc (bytes), or null when gone. */
export function procMemory(pid: number): { rss: number; hwm: number } | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return null;
  }
}

/** Direct children of a process (nginx workers of a master), from /proc/<pid>/stat's ppid field. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      // Field 4 (ppid) follows the parenthesised command, which may contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      /* the process ended while we looked */
    }
  }
  return out.sort((a, b) => a - b);
}

/**
 * A fresh, migrated database for one measurement, without paying initdb inside it:
 * on PGlite a copy of a template data directory (made once per set of migrations)
 * placed at `dataDir`; on Postgres a new database, whose URL is returned.
 */
export async function freshDatabase(ctx: Pick<BenchContext, 'databaseUrl' | 'signal' | 'log'>, label: string, dataDir: string, varDir = path.join(REPO_ROOT, 'var', 'bench')): Promise<{ databaseUrl: string }> {
  if (ctx.databaseUrl) {
    const name = `msbench_${label.replace(/[^a-z0-9]+/gi, '_').toLowerCase()}`;
    const admin = new pg.Client({ connectionString: ctx.databaseUrl });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    const u = new URL(ctx.databaseUrl);
    u.pathname = `/${name}`;
    return { databaseUrl: u.toString() };
  }
  const sqlDir = path.join(REPO_ROOT, 'sql');
  const h = createHash('sha256');
  for (const f of fs.readdirSync(sqlDir).filter((n) => n.endsWith('.sql')).sort()) h.update(f).update(fs.readFileSync(path.join(sqlDir, f)));
  const template = path.join(varDir, 'pglite-template', h.digest('hex').slice(0, 16));
  if (!fs.existsSync(path.join(template, 'PG_VERSION'))) {
    ctx.log('creating the embedded database template (initdb + migrations, once) …');
    const tmp = `${template}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    await runChild(path.join(REPO_ROOT, 'bench', 'tasks.ts'), 'initDbTask', { dataDir: tmp }, { signal: ctx.signal });
    fs.rmSync(template, { recursive: true, force: true });
    fs.renameSync(tmp, template);
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dataDir), { recursive: true });
  fs.cpSync(template, dataDir, { recursive: true, filter: (src) => !/\.lock$|mirrorsmith\.lock/.test(path.basename(src)) });
  return { databaseUrl: '' };
}

export interface WrkResult {
  requestsPerSec: number;
  requests: number;
  /** Responses outside 2xx/3xx: a benchmark of error pages would be meaningless. */
  non2xx: number;
  socketErrors: number;
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
}

/**
 * wrk against loopback for `seconds`, cycling through `paths` (a Lua script rotates
 * them, so several client classes/repositories are exercised), each a path or a
 * path with request headers.
 */
export type WrkRequest = string | { path: string; headers: Record<string, string> };

export async function runWrk(baseUrl: string, paths: WrkRequest[], opts: { seconds: number; threads?: number; connections?: number; workDir: string; signal?: AbortSignal }): Promise<WrkResult> {
  if (!/^http:\/\/(127\.\d+\.\d+\.\d+|\[::1\]|localhost):\d+$/.test(baseUrl)) throw new Error(`wrk only runs against loopback, not ${baseUrl}`);
  const script = path.join(opts.workDir, `wrk-${Date.now()}.lua`);
  // JSON strings are valid Lua strings for the characters a path or header holds.
  const lua = (p: WrkRequest): string => {
    if (typeof p === 'string') return `{ ${JSON.stringify(p)}, nil }`;
    const headers = Object.entries(p.headers).map(([k, v]) => `[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
    return `{ ${JSON.stringify(p.path)}, { ${headers.join(', ')} } }`;
  };
  const list = paths.map(lua).join(',\n  ');
  fs.writeFileSync(script, `-- generated by bench/harness.ts: rotate over the requests\nlocal reqs = {\n  ${list}\n}\nlocal i = 0\nrequest = function()\n  i = i % #reqs + 1\n  return wrk.format("GET", reqs[i][1], reqs[i][2])\nend\n`);
  const args = [`-t${opts.threads ?? 1}`, `-c${opts.connections ?? 32}`, `-d${opts.seconds}s`, '--latency', '-s', script, baseUrl];
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), (opts.seconds + 30) * 1000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`wrk could not run (apt-get install wrk): ${e.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(text);
      else reject(new Error(`wrk exited ${code}: ${text.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
  fs.rmSync(script, { force: true });
  return parseWrk(out);
}

export function parseWrk(text: string): WrkResult {
  const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  const lat = (pct: string): number | null => {
    const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(text);
    if (!m) return null;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const rps = num(/Requests\/sec:\s+([\d.]+)/);
  if (!Number.isFinite(rps)) throw new Error(`cannot read wrk output: ${text.slice(0, 300)}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    requestsPerSec: rps,
    requests: num(/(\d+) requests in/),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0),
    socketErrors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    latencyP50Ms: lat('50'),
    latencyP99Ms: lat('99'),
  };
}
