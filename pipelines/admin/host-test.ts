// `mirrorsmith host test NAME` (or `--url URL`): MirrorBrain-style functional tests of one mirror,
// the way the project itself sees it: per URL and address family, reachability,
// TLS, current repomd.xml, Range, large-file size, rsync, keep-alive, and the
// headers that clients depend on. Every check reports pass/warn/fail with evidence.
import http from 'node:http';
import https from 'node:https';
import type { Queryable } from '../core/db.ts';
import { UsageError } from '../core/errors.ts';
import { listRepositories, type RepoRow } from '../master/queries.ts';
import { systemResolver, type Resolver } from '../net/dns.ts';
import { NetError } from '../net/errors.ts';
import { httpRequest, type HttpResponse, type PinnedAddress } from '../net/http.ts';
import { rsyncList } from '../net/rsync.ts';

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface CheckResult {
  url: string;
  /** Address family the check ran over; null for checks not tied to one (rsync). */
  family: 4 | 6 | null;
  check: 'reachable' | 'tls' | 'repomd' | 'range' | 'large-file' | 'rsync' | 'keep-alive' | 'cache-control' | 'content-type' | 'address';
  status: CheckStatus;
  evidence: string;
}

export interface HostTestOptions {
  timeoutMs?: number;
  resolver?: Resolver;
  /** Extra trusted CA certificates (PEM) for https checks, e.g. a test CA. */
  ca?: string | Buffer;
  signal?: AbortSignal;
}

export interface HostUrl {
  category: string;
  url: string;
}

interface MasterFile {
  path: string;
  size: number;
}

const LARGE = 2 * 1024 ** 3;

export async function loadHostUrls(db: Queryable, hostName: string): Promise<HostUrl[] | null> {
  const host = await db.query<{ id: number }>('SELECT id FROM host WHERE name = $1', [hostName]);
  if (!host.rows[0]) return null;
  const { rows } = await db.query<HostUrl>(
    `SELECT c.name AS category, u.url FROM host_category hc
       JOIN category c ON c.id = hc.category_id JOIN host_category_url u ON u.host_category_id = hc.id
      WHERE hc.host_id = $1 ORDER BY c.name, u.url`,
    [host.rows[0].id],
  );
  return rows;
}

/** The largest file the master lists in a category (a > 2 GiB one when there is one). */
async function largestMasterFile(db: Queryable, category: string): Promise<MasterFile | null> {
  const { rows } = await db.query<MasterFile>(
    `SELECT CASE WHEN d.name = '' THEN f->>'name' ELSE d.name || '/' || (f->>'name') END AS path, (f->>'size')::bigint AS size
       FROM directory d JOIN category c ON c.id = d.category_id, jsonb_array_elements(d.files) f
      WHERE c.name = $1 AND d.readable
      ORDER BY (f->>'size')::bigint DESC, 1 LIMIT 1`,
    [category],
  );
  return rows[0] ?? null;
}

/** A package or image the master lists, for the content-type check. */
async function samplePackage(db: Queryable, category: string): Promise<string | null> {
  const { rows } = await db.query<{ path: string }>(
    `SELECT CASE WHEN d.name = '' THEN f->>'name' ELSE d.name || '/' || (f->>'name') END AS path
       FROM directory d JOIN category c ON c.id = d.category_id, jsonb_array_elements(d.files) f
      WHERE c.name = $1 AND d.readable AND (f->>'name' ~ '\\.(rpm|iso)$')
      ORDER BY 1 LIMIT 1`,
    [category],
  );
  return rows[0]?.path ?? null;
}

export async function testHost(db: Queryable, hostName: string, opts: HostTestOptions = {}): Promise<CheckResult[] | null> {
  const urls = await loadHostUrls(db, hostName);
  if (!urls) return null;
  return testUrls(db, urls, opts);
}

/**
 * Ad-hoc URLs (a mirror not registered yet), each tested as a category of the
 * scanned master: `category` (name or top directory) when given, else the
 * category whose top directory is the URL's last path component (an rsync
 * module URL such as rsync://host/fedora-linux/ takes the category its sibling
 * URLs name), else the only category there is. Throws a UsageError naming the
 * URL it cannot place.
 */
export async function adHocUrls(db: Queryable, urls: readonly string[], category?: string): Promise<HostUrl[]> {
  const { rows: cats } = await db.query<{ name: string; topdir: string }>('SELECT name, topdir FROM category ORDER BY name');
  const known = cats.map((c) => `"${c.name}" (${c.topdir})`).join(', ') || 'none: run scan-master first';
  let fixed: string | undefined;
  if (category !== undefined) {
    fixed = cats.find((c) => c.name === category || c.topdir === category)?.name;
    if (!fixed) throw new UsageError(`--category ${JSON.stringify(category)}: no such category (known: ${known})`);
  }
  const placed = urls.map((url) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`--url ${JSON.stringify(url)}: not a URL`);
    }
    if (!['http:', 'https:', 'rsync:'].includes(parsed.protocol)) throw new UsageError(`--url ${url}: only http, https and rsync URLs can be tested`);
    if (fixed) return { url, category: fixed };
    const last = parsed.pathname.split('/').filter(Boolean).at(-1);
    return { url, category: cats.find((c) => c.topdir === last)?.name ?? (cats.length === 1 ? cats[0]!.name : undefined) };
  });
  const named = [...new Set(placed.map((p) => p.category).filter((c) => c !== undefined))];
  return placed.map(({ url, category: c }) => {
    if (c !== undefined) return { category: c, url };
    if (named.length === 1) return { category: named[0]!, url };
    throw new UsageError(`--url ${url}: which category is it? Its path does not end in a category's top directory; pass --category (known: ${known})`);
  });
}

/** Runs every check for each URL against what the master holds for its category. */
export async function testUrls(db: Queryable, urls: readonly HostUrl[], opts: HostTestOptions = {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const byCategory = new Map<string, { repo: RepoRow | null; large: MasterFile | null; pkg: string | null }>();
  for (const { category, url } of urls) {
    if (!byCategory.has(category)) {
      const repos = (await listRepositories(db, { category })).filter((r) => r.readable && !r.disabled && r.versions.length > 0);
      byCategory.set(category, { repo: repos[0] ?? null, large: await largestMasterFile(db, category), pkg: await samplePackage(db, category) });
    }
    const facts = byCategory.get(category)!;
    if (url.startsWith('rsync://')) results.push(await checkRsync(url, opts));
    else if (url.startsWith('http://') || url.startsWith('https://')) results.push(...(await checkHttpUrl(url, facts, opts)));
  }
  return results;
}

async function checkRsync(url: string, opts: HostTestOptions): Promise<CheckResult> {
  const t0 = performance.now();
  try {
    const r = await rsyncList({ url: url.endsWith('/') ? url : url + '/', timeoutMs: opts.timeoutMs ?? 20_000, signal: opts.signal, recursive: false, maxLines: 10_000 });
    return { url, family: null, check: 'rsync', status: 'pass', evidence: `module listable: ${r.entries.length} entries in ${Math.round(performance.now() - t0)} ms` };
  } catch (err) {
    return { url, family: null, check: 'rsync', status: 'fail', evidence: (err as Error).message };
  }
}

async function checkHttpUrl(url: string, facts: { repo: RepoRow | null; large: MasterFile | null; pkg: string | null }, opts: HostTestOptions): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const base = url.endsWith('/') ? url : url + '/';
  const hostname = new URL(base).hostname.replace(/^\[|\]$/g, '');
  let addresses;
  try {
    addresses = await (opts.resolver ?? systemResolver).resolve(hostname, opts.signal);
  } catch (err) {
    return [{ url, family: null, check: 'address', status: 'fail', evidence: (err as Error).message }];
  }
  for (const family of [4, 6] as const) {
    const list = family === 4 ? addresses.v4 : addresses.v6;
    if (list.length === 0) {
      out.push({ url, family, check: 'address', status: 'warn', evidence: `${hostname} has no ${family === 4 ? 'A' : 'AAAA'} record` });
      continue;
    }
    out.push(...(await checkFamily(base, { address: list[0]!, family }, facts, opts)));
  }
  return out;
}

async function checkFamily(base: string, pin: PinnedAddress, facts: { repo: RepoRow | null; large: MasterFile | null; pkg: string | null }, opts: HostTestOptions): Promise<CheckResult[]> {
  const https_ = base.startsWith('https:');
  // A keep-alive agent: without one the request itself asks for Connection: close.
  const agent = https_ ? new https.Agent({ keepAlive: true, ca: opts.ca }) : new http.Agent({ keepAlive: true });
  try {
    return await runFamilyChecks(base, pin, facts, opts, agent);
  } finally {
    agent.destroy();
  }
}

async function runFamilyChecks(base: string, pin: PinnedAddress, facts: { repo: RepoRow | null; large: MasterFile | null; pkg: string | null }, opts: HostTestOptions, agent: http.Agent): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const family = pin.family;
  const https_ = base.startsWith('https:');
  const request = (rel: string, extra: { method?: 'GET' | 'HEAD'; headers?: Record<string, string>; keepBody?: boolean; maxBytes?: number } = {}): Promise<HttpResponse> =>
    httpRequest(new URL(rel, base).toString(), {
      method: extra.method ?? 'GET',
      timeoutMs: opts.timeoutMs ?? 20_000,
      maxBytes: extra.maxBytes ?? 16 * 1024 * 1024,
      maxRedirects: 3,
      pin,
      agent,
      keepBody: extra.keepBody,
      headers: extra.headers,
      signal: opts.signal,
    });
  const add = (check: CheckResult['check'], status: CheckStatus, evidence: string) => out.push({ url: base, family, check, status, evidence });
  try {
    // 1. Reachability and latency (and TLS: the request verifies the certificate chain and name).
    const top = await request('', { method: 'HEAD' });
    add('reachable', top.status < 400 ? 'pass' : 'fail', `HEAD ${base} over IPv${family} (${pin.address}): HTTP ${top.status} in ${top.durationMs} ms`);
    if (https_) add('tls', 'pass', `certificate valid for ${new URL(base).hostname}`);
    add('keep-alive', String(top.headers.connection ?? '').toLowerCase() === 'close' ? 'warn' : 'pass', `Connection: ${top.headers.connection ?? '(absent: HTTP/1.1 keep-alive)'}${top.headers['keep-alive'] ? `; Keep-Alive: ${top.headers['keep-alive']}` : ''}`);
  } catch (err) {
    const e = err as NetError;
    const tlsProblem = https_ && /certificate|self[- ]signed|altname|CERT_|SSL|TLS/i.test(`${e.message} ${(e.cause as NodeJS.ErrnoException)?.code ?? ''}`);
    if (tlsProblem) add('tls', 'fail', `${(e.cause as NodeJS.ErrnoException)?.code ?? ''} ${e.message}`.trim());
    else add('reachable', 'fail', `over IPv${family} (${pin.address}): ${e.message}`);
    return out;
  }
  // 2. The current repomd.xml, Range, and its Cache-Control.
  if (facts.repo) {
    const rel = `${facts.repo.dir ? facts.repo.dir + '/' : ''}repodata/repomd.xml`;
    try {
      const full = await request(rel, { keepBody: true });
      const [current, ...older] = facts.repo.versions;
      if (full.status !== 200) add('repomd', 'fail', `${rel}: HTTP ${full.status}`);
      else if (full.sha256 === current!.sha256) add('repomd', 'pass', `${rel} is the master's current version (sha256 ${full.sha256!.slice(0, 16)}…)`);
      else {
        const behind = older.findIndex((v) => v.sha256 === full.sha256);
        add('repomd', behind >= 0 ? 'warn' : 'fail', behind >= 0 ? `${rel} is ${behind + 1} push(es) behind the master` : `${rel} sha256 ${full.sha256?.slice(0, 16)}… matches no master version`);
      }
      const cc = String(full.headers['cache-control'] ?? '');
      add('cache-control', /must-revalidate/i.test(cc) ? 'pass' : 'warn', cc ? `Cache-Control: ${cc}${/must-revalidate/i.test(cc) ? '' : ' (must-revalidate recommended for repository metadata)'}` : 'no Cache-Control on repomd.xml (must-revalidate recommended)');
      if (full.status === 200 && full.body && full.body.length > 10) {
        const end = Math.min(99, full.body.length - 1);
        const part = await request(rel, { keepBody: true, headers: { range: `bytes=0-${end}` } });
        if (part.status === 206 && part.body?.equals(full.body.subarray(0, end + 1))) add('range', 'pass', `Range bytes=0-${end}: 206 with the right ${end + 1} bytes`);
        else add('range', 'fail', part.status === 206 ? `206 but the bytes differ from the file's first ${end + 1}` : `Range bytes=0-${end} answered ${part.status} (${part.bytes} bytes): Range not honoured`);
      }
    } catch (err) {
      add('repomd', 'fail', `${rel}: ${(err as Error).message}`);
    }
  } else {
    add('repomd', 'warn', 'the master lists no repository for this category yet');
  }
  // 3. The largest file's size as the master knows it.
  if (facts.large) {
    try {
      const head = await request(facts.large.path, { method: 'HEAD' });
      const len = Number(head.headers['content-length']);
      const what = `${facts.large.path} (${facts.large.size} bytes${facts.large.size > LARGE ? ', > 2 GiB' : ''})`;
      if (head.status !== 200) add('large-file', 'fail', `${what}: HTTP ${head.status}`);
      else add('large-file', len === facts.large.size ? 'pass' : 'fail', `${what}: Content-Length ${head.headers['content-length'] ?? '(absent)'}`);
    } catch (err) {
      add('large-file', 'fail', `${facts.large.path}: ${(err as Error).message}`);
    }
  }
  // 4. Packages and images must be served as opaque bytes.
  if (facts.pkg) {
    try {
      const head = await request(facts.pkg, { method: 'HEAD' });
      const ct = String(head.headers['content-type'] ?? '');
      add('content-type', head.status === 200 && ct.startsWith('application/octet-stream') ? 'pass' : 'warn', `${facts.pkg}: HTTP ${head.status}, Content-Type ${ct || '(absent)'} (application/octet-stream expected)`);
    } catch (err) {
      add('content-type', 'warn', `${facts.pkg}: ${(err as Error).message}`);
    }
  }
  return out;
}
