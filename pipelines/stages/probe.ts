// Stage `probe`: a cheap liveness check meant to run every few minutes. One check
// per active public host for a small file — a GET over http(s) when the host has
// such a URL, else an ftp login + listing of the file's directory, else one rsync
// listing of the file; N failures in a row take the host out of the lists
// (host.probe_down), M successes bring it back (hysteresis, so a flapping mirror
// is not served between crawls). The next build reads probe_down.
import path from 'node:path';
import { mapLimited } from '../core/concurrency.ts';
import type { Queryable } from '../core/db.ts';
import { PRIVATE_HOST_SQL } from '../core/private.ts';
import { errorMessage } from '../core/errors.ts';
import { emptyResult, type FailureKind, type Stage, type StageContext, type StageResult } from '../core/types.ts';
import { urlHostname, urlPort, withAddress, type Resolver } from '../net/dns.ts';
import { openFtp } from '../net/ftp.ts';
import { httpRequest, type PinnedAddress } from '../net/http.ts';
import { rsyncList } from '../net/rsync.ts';
import { NetError, classifyNetError } from '../net/errors.ts';

export const probeStage: Stage = {
  name: 'probe',
  description: 'cheap liveness check of every active public mirror (http(s), else ftp, else rsync); hysteresis takes dead ones out of the lists and brings them back',
  run,
};

export interface ProbeState {
  failStreak: number;
  okStreak: number;
  down: boolean;
}

export interface Hysteresis {
  failuresToDown: number;
  successesToUp: number;
}

export type ProbeMethod = 'https' | 'http' | 'ftp' | 'rsync';

export interface ProbeTarget extends ProbeState {
  hostId: number;
  host: string;
  autoDisabled: boolean;
  /** null: the host has no http(s), ftp or rsync URL to probe. */
  url: string | null;
  method: ProbeMethod | null;
}

type ProbeOutcome = { ok: true; ms: number } | { ok: false; kind: FailureKind; message: string };

/** Tests and the simulated network pin names to loopback addresses; otherwise the system resolver. */
function resolverOf(ctx: StageContext): Resolver | null {
  const r = ctx.options.resolver;
  return typeof r === 'object' && r !== null && typeof (r as Resolver).resolve === 'function' ? (r as Resolver) : null;
}

export async function run(ctx: StageContext): Promise<StageResult> {
  const cfg = ctx.config.probe;
  const onlyHost = typeof ctx.options.host === 'string' ? ctx.options.host : undefined;
  const targets = await listTargets(ctx.db, cfg.path, onlyHost);
  const probable = targets.filter((t) => t.url !== null);
  const resolver = resolverOf(ctx);
  const rsyncPath = typeof ctx.options.rsyncPath === 'string' ? ctx.options.rsyncPath : undefined;
  const bar = ctx.progress('probe', probable.length);
  const settled = await mapLimited(probable, { concurrency: cfg.concurrency, signal: ctx.signal }, async (t) => {
    const outcome = await probeOne(t.url!, ctx, resolver, rsyncPath);
    bar.tick();
    return outcome;
  });
  bar.done();
  const outcomes: ProbeOutcome[] = settled.map((s) => (s.ok ? s.value : { ok: false, kind: 'other', message: errorMessage(s.error) }));

  const result = emptyResult('probe');
  result.counts.skipped = targets.length - probable.length;
  const failed = outcomes.filter((o) => !o.ok).length;
  // When most mirrors fail at once, our own network is the likely culprit: count no failure.
  const outage = isOutage(probable.length, failed, ctx.config.crawl.outageShare, cfg.outageMinHosts);
  const updates: Array<{ target: ProbeTarget; next: ProbeState; reenable: boolean }> = [];
  let wentDown = 0;
  let cameBack = 0;
  for (const [i, t] of probable.entries()) {
    const o = outcomes[i]!;
    if (o.ok) result.counts.ok++;
    else {
      result.counts.failed++;
      result.failures.push({ subject: t.host, kind: o.kind, message: `${o.message} (${t.url})` });
    }
    if (!o.ok && outage) continue;
    const next = nextProbeState(t, o.ok, cfg);
    if (next.down && !t.down) wentDown++;
    if (!next.down && t.down) cameBack++;
    // A live host that crawl auto-disabled is enabled again; admin disables are never touched.
    updates.push({ target: t, next, reenable: o.ok && !next.down && t.autoDisabled });
  }
  // A host that lost its last URL cannot be probed: it must not stay out of the lists for it.
  const unprobable = targets.filter((t) => t.url === null && (t.down || t.failStreak > 0));
  for (const t of unprobable) updates.push({ target: t, next: { failStreak: 0, okStreak: 0, down: false }, reenable: false });
  if (!ctx.run.dryRun && !ctx.signal.aborted) await ctx.db.transaction((tx) => saveProbes(tx, updates));

  const down = updates.filter((u) => u.next.down).length + (outage ? probable.filter((t, i) => !outcomes[i]!.ok && t.down).length : 0);
  const byMethod = (m: ProbeMethod) => probable.filter((t) => t.method === m).length;
  result.stats = {
    hosts: targets.length,
    requests: probable.length,
    https: byMethod('https'),
    http: byMethod('http'),
    ftp: byMethod('ftp'),
    rsync: byMethod('rsync'),
    down,
    wentDown,
    cameBack,
    reenabled: updates.filter((u) => u.reenable).length,
  };
  if (outage) {
    result.degraded = true;
    result.notes = [`outage guard: ${failed}/${probable.length} probes failed (more than ${Math.round(ctx.config.crawl.outageShare * 100)}%); our network is suspect, no failure was counted against mirrors`];
  }
  for (const u of updates) {
    if (u.next.down && !u.target.down) ctx.log.warn(`${u.target.host}: out of the lists after ${u.next.failStreak} failed probes in a row`);
    if (u.target.url === null) ctx.log.info(`${u.target.host}: no http(s), ftp or rsync URL to probe any more, probe state cleared`);
    else if (!u.next.down && u.target.down) ctx.log.info(`${u.target.host}: back in the lists after ${u.next.okStreak} good probes in a row`);
    if (u.reenable) ctx.log.info(`${u.target.host}: auto-disabled host answers again, re-enabled`);
  }
  return result;
}

/** The hysteresis: N failures in a row → down; M successes in a row → up again. */
export function nextProbeState(prev: ProbeState, ok: boolean, h: Hysteresis): ProbeState {
  if (ok) {
    const okStreak = prev.okStreak + 1;
    return { failStreak: 0, okStreak, down: prev.down && okStreak < h.successesToUp };
  }
  const failStreak = prev.failStreak + 1;
  return { failStreak, okStreak: 0, down: prev.down || failStreak >= h.failuresToDown };
}

export function isOutage(probed: number, failed: number, share: number, minHosts: number): boolean {
  return probed >= minHosts && failed / probed > share;
}

/** The probe URL: the category URL joined with a path below it. */
export function probeUrl(base: string, rel: string): string {
  const u = new URL(base);
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  u.pathname += rel.split('/').map(encodeURIComponent).join('/');
  return u.href;
}

async function probeOne(url: string, ctx: StageContext, resolver: Resolver | null, rsyncPath?: string): Promise<ProbeOutcome> {
  const t0 = performance.now();
  try {
    const u = new URL(url);
    const pin = resolver ? await pinOf(u, resolver, ctx.signal) : null;
    const failure =
      u.protocol === 'ftp:' ? await probeFtp(u, pin, ctx) : u.protocol === 'rsync:' ? await probeRsync(u, pin, ctx, rsyncPath) : await probeHttp(u, pin, ctx);
    return failure ?? { ok: true, ms: Math.round(performance.now() - t0) };
  } catch (err) {
    if (err instanceof NetError) return { ok: false, kind: err.kind, message: err.message };
    ctx.log.debug(`probe ${url}: ${String((err as Error)?.stack ?? err)}`);
    return { ok: false, kind: 'other', message: errorMessage(err) };
  }
}

/** The first address of a pinned name (IPv4 preferred), for probes through a given resolver. */
async function pinOf(u: URL, resolver: Resolver, signal: AbortSignal): Promise<PinnedAddress> {
  const name = urlHostname(u);
  let addrs;
  try {
    addrs = await resolver.resolve(name, signal);
  } catch (err) {
    const e = classifyNetError(err);
    throw new NetError(e.kind === 'cancelled' ? 'cancelled' : 'dns', e.message);
  }
  if (addrs.v4[0]) return { address: addrs.v4[0], family: 4 };
  if (addrs.v6[0]) return { address: addrs.v6[0], family: 6 };
  throw new NetError('dns', `${name} has no A or AAAA record`);
}

type Failed = Extract<ProbeOutcome, { ok: false }>;

async function probeHttp(u: URL, pin: PinnedAddress | null, ctx: StageContext): Promise<Failed | null> {
  const cfg = ctx.config.probe;
  // A maintenance page or captive portal answers 200 too: a repomd.xml must look like one.
  const wantRepomd = u.pathname.endsWith('/repomd.xml');
  const res = await httpRequest(u.href, {
    method: 'GET',
    timeoutMs: cfg.timeoutMs,
    maxBytes: cfg.maxBytes,
    maxRedirects: ctx.config.crawl.maxRedirects,
    allowOffHostRedirects: ctx.config.crawl.allowOffHostRedirects,
    signal: ctx.signal,
    keepBody: wantRepomd,
    ...(pin ? { pin } : {}),
  });
  if (res.status < 200 || res.status >= 300) return { ok: false, kind: 'protocol', message: `HTTP ${res.status}` };
  if (wantRepomd && !looksLikeRepomd(res.body)) return { ok: false, kind: 'parse', message: `HTTP ${res.status} but the body is not a repomd.xml (error page or captive portal?)` };
  return null;
}

/** The directory to list and the file that must be in it ('' when the probe path is a directory). */
function splitTarget(u: URL): { dir: string; file: string } {
  const p = decodeURIComponent(u.pathname);
  if (p.endsWith('/')) return { dir: p, file: '' };
  return { dir: path.posix.dirname(p), file: path.posix.basename(p) };
}

/** Anonymous login and one LIST of the probed file's directory; the file must be listed. */
async function probeFtp(u: URL, pin: PinnedAddress | null, ctx: StageContext): Promise<Failed | null> {
  const cfg = ctx.config.probe;
  const { dir, file } = splitTarget(u);
  const session = await openFtp({
    host: pin?.address ?? urlHostname(u),
    port: urlPort(u),
    requestTimeoutMs: cfg.timeoutMs,
    sessionTimeoutMs: cfg.timeoutMs,
    maxListingBytes: cfg.maxBytes,
    signal: ctx.signal,
  });
  try {
    const entries = await session.list(dir);
    if (file && !entries.some((e) => e.name === file && !e.isDir)) return { ok: false, kind: 'protocol', message: `ftp LIST ${dir}: ${file} is not there` };
    return null;
  } finally {
    session.close();
  }
}

/** One non-recursive `rsync --list-only` of the probed file, bounded by probe.timeoutMs. */
async function probeRsync(u: URL, pin: PinnedAddress | null, ctx: StageContext, rsyncPath?: string): Promise<Failed | null> {
  const cfg = ctx.config.probe;
  const { file } = splitTarget(u);
  // rsync takes the path literally: no percent-encoding past the host.
  const at = pin ? new URL(withAddress(u, pin.address)) : u;
  const res = await rsyncList({
    url: `rsync://${at.host}${decodeURIComponent(at.pathname)}`,
    timeoutMs: cfg.timeoutMs,
    ioTimeoutMs: cfg.timeoutMs,
    recursive: false,
    family: pin?.family,
    signal: ctx.signal,
    maxLines: 10_000,
    rsyncPath,
  });
  if (file ? !res.entries.some((e) => e.path === file && e.type === 'file') : res.entries.length === 0) {
    return { ok: false, kind: 'protocol', message: `rsync listing has no ${file || 'entries'}${res.partial ? `: ${res.partial}` : ''}` };
  }
  return null;
}

export function looksLikeRepomd(body: Buffer | undefined): boolean {
  return body !== undefined && /<repomd[\s>]/.test(body.subarray(0, 4096).toString('utf8'));
}

/**
 * Active public hosts with the URL to probe: their first category URL by scheme
 * (https, http, then ftp, then rsync), joined with probe.path or, by default, that
 * category's first repository's repodata/repomd.xml.
 */
export async function listTargets(db: Queryable, path: string | undefined, onlyHost?: string): Promise<ProbeTarget[]> {
  const { rows } = await db.query<{
    id: number;
    name: string;
    probe_fail_streak: number;
    probe_ok_streak: number;
    probe_down: boolean;
    auto_disabled: boolean;
    url: string | null;
    repo_dir: string | null;
  }>(
    `SELECT h.id, h.name, h.probe_fail_streak, h.probe_ok_streak, h.probe_down, h.auto_disabled, u.url, r.repo_dir
       FROM host h
       JOIN site s ON s.id = h.site_id
       LEFT JOIN LATERAL (
         SELECT hcu.url, hc.category_id
           FROM host_category hc JOIN host_category_url hcu ON hcu.host_category_id = hc.id
          WHERE hc.host_id = h.id AND NOT hcu.private AND hcu.url ~* '^(https?|ftp|rsync)://'
          ORDER BY CASE WHEN hcu.url ~* '^https://' THEN 0 WHEN hcu.url ~* '^http://' THEN 1 WHEN hcu.url ~* '^ftp://' THEN 2 ELSE 3 END,
                   hc.category_id, hcu.id
          LIMIT 1) u ON true
       LEFT JOIN LATERAL (
         SELECT d.name AS repo_dir
           FROM repository rp JOIN directory d ON d.id = rp.directory_id
          WHERE rp.category_id = u.category_id AND NOT rp.disabled AND d.readable
          ORDER BY rp.prefix, rp.arch
          LIMIT 1) r ON true
      WHERE s.admin_active AND s.user_active AND h.admin_active AND h.user_active
        AND NOT ${PRIVATE_HOST_SQL}
        AND ($1::text IS NULL OR h.name = $1)
      ORDER BY h.name`,
    [onlyHost ?? null],
  );
  return rows.map((r) => {
    const rel = path ?? (r.repo_dir ? `${r.repo_dir}/repodata/repomd.xml` : '');
    return {
      hostId: r.id,
      host: r.name,
      failStreak: r.probe_fail_streak,
      okStreak: r.probe_ok_streak,
      down: r.probe_down,
      autoDisabled: r.auto_disabled,
      url: r.url ? probeUrl(r.url, rel) : null,
      method: r.url ? (new URL(r.url).protocol.slice(0, -1) as ProbeMethod) : null,
    };
  });
}

async function saveProbes(tx: Queryable, updates: ReadonlyArray<{ target: ProbeTarget; next: ProbeState; reenable: boolean }>): Promise<void> {
  if (updates.length === 0) return;
  await tx.query(
    `UPDATE host h
        SET probe_fail_streak = t.fail, probe_ok_streak = t.ok, probe_down = t.down, last_probed = now(),
            auto_disabled = CASE WHEN t.reenable THEN false ELSE h.auto_disabled END,
            crawl_failures = CASE WHEN t.reenable THEN 0 ELSE h.crawl_failures END,
            disable_reason = CASE WHEN t.reenable THEN NULL ELSE h.disable_reason END
       FROM unnest($1::int[], $2::int[], $3::int[], $4::boolean[], $5::boolean[]) AS t(id, fail, ok, down, reenable)
      WHERE h.id = t.id`,
    [
      updates.map((u) => u.target.hostId),
      updates.map((u) => u.next.failStreak),
      updates.map((u) => u.next.okStreak),
      updates.map((u) => u.next.down),
      updates.map((u) => u.reenable),
    ],
  );
}
