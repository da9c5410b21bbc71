// `mirrorsmith report`: runs on a private mirror after each rsync. Walks the local
// copy of each configured category, builds the report (directories present, and
// the sha256 of every repodata/repomd.xml) and PUTs it with basic auth to
// <server>/reports/<site>/<host>.json, where stock nginx WebDAV stores it.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { z } from 'zod';
import { parseYaml, zodIssues } from '../core/config.ts';
import { UsageError, ValidationError } from '../core/errors.ts';
import { REPORT_FORMAT, type Report, type ReportCategory } from './format.ts';
import { HOST_NAME_RE, SITE_NAME_RE, checkPassword, reportUser } from './htpasswd.ts';
import type { IngestStatus } from './spool.ts';

export const ReportClientConfigSchema = z
  .object({
    /** The mirrorsmith server's base URL, e.g. https://mirrors.example.org */
    server: z.string().regex(/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/, 'must be an http:// or https:// URL without query'),
    site: z.string().regex(SITE_NAME_RE, 'must be the site name as registered (a-z 0-9 . -)'),
    host: z.string().regex(HOST_NAME_RE, 'must be the host name as registered'),
    password: z.string().min(1).optional(),
    /** A file holding the password (first line); relative to this config file. */
    passwordFile: z.string().min(1).optional(),
    /** Whole upload, connection to last byte. */
    timeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
    /** The walk of the local copy, all categories together. */
    walkTimeoutMs: z.number().int().min(1000).max(86_400_000).default(1_800_000),
    /** The walk stops with an error beyond this many directories (a wrong path, a loop). */
    maxDirectories: z.number().int().min(1).default(2_000_000),
    categories: z
      .array(
        z
          .object({
            /** Category name as the server knows it, e.g. "Fedora Linux". */
            name: z.string().min(1),
            /** Local copy of the category top, e.g. /srv/mirror/fedora/linux; relative to this file. */
            path: z.string().min(1),
            /** Globs of directories left out (relative to the top; `*` does not cross `/`). */
            excludes: z.array(z.string().min(1)).default([]),
          })
          .strict(),
      )
      .min(1),
  })
  .strict()
  .refine((c) => (c.password === undefined) !== (c.passwordFile === undefined), { message: 'give exactly one of password and passwordFile', path: ['password'] });

export type ReportClientConfig = z.infer<typeof ReportClientConfigSchema> & { baseDir: string };

export function parseClientConfig(raw: unknown, file: string): ReportClientConfig {
  const parsed = ReportClientConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new ValidationError(`invalid report configuration in ${file}`, zodIssues(parsed.error, `${path.basename(file)}: `));
  return { ...parsed.data, baseDir: path.dirname(path.resolve(file)) };
}

export function loadClientConfig(file: string): ReportClientConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read report config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseClientConfig(parseYaml(text, file), file);
}

export function readPassword(cfg: ReportClientConfig): string {
  let pw = cfg.password;
  if (pw === undefined) {
    const f = path.resolve(cfg.baseDir, cfg.passwordFile!);
    try {
      pw = (fs.readFileSync(f, 'utf8').split(/\r?\n/)[0] ?? '').trimEnd();
    } catch (err) {
      throw new UsageError(`cannot read passwordFile ${f}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const bad = checkPassword(pw);
  if (bad) throw new UsageError(`report password: ${bad}`);
  return pw;
}

// ---- the walk ----------------------------------------------------------------

export interface WalkOptions {
  excludes?: readonly string[];
  maxDirectories: number;
  signal?: AbortSignal;
}

/**
 * Every directory below `top` (relative names, sorted) and the sha256 of each
 * `<dir>/repodata/repomd.xml`. Symlinks are not followed; dot-directories (rsync's
 * partial-transfer dirs among them) are skipped.
 */
export async function walkCategory(name: string, top: string, opts: WalkOptions): Promise<ReportCategory> {
  const isExcluded = excluder(opts.excludes ?? []);
  const directories: string[] = [];
  const repomd: Record<string, string> = {};
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(top);
  } catch (err) {
    throw new UsageError(`category "${name}": cannot read ${top}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!st.isDirectory()) throw new UsageError(`category "${name}": ${top} is not a directory`);
  const queue: string[] = [''];
  for (let next = 0; next < queue.length; next++) {
    if (opts.signal?.aborted) throw opts.signal.reason instanceof Error ? opts.signal.reason : new Error('cancelled');
    const rel = queue[next]!;
    const abs = rel ? path.join(top, rel) : top;
    let dir: fs.Dir;
    try {
      dir = await fs.promises.opendir(abs);
    } catch (err) {
      // An unreadable directory is reported as present; its content cannot be proved.
      if ((err as NodeJS.ErrnoException).code === 'EACCES') continue;
      throw err;
    }
    const children: string[] = [];
    for await (const ent of dir) {
      // Names with control characters cannot be reported (nor are they served content).
      if (!ent.isDirectory() || ent.name.startsWith('.') || /[\u0000-\u001f\u007f]/.test(ent.name)) continue;
      const child = rel ? `${rel}/${ent.name}` : ent.name;
      if (isExcluded(child)) continue;
      children.push(child);
    }
    children.sort();
    for (const child of children) {
      directories.push(child);
      if (directories.length > opts.maxDirectories) {
        throw new UsageError(`category "${name}": more than ${opts.maxDirectories} directories below ${top} (maxDirectories); wrong path?`);
      }
      queue.push(child);
      if (child.endsWith('/repodata') || child === 'repodata') {
        const sha = await sha256File(path.join(top, child, 'repomd.xml'));
        if (sha) repomd[rel] = sha;
      }
    }
  }
  // The top's own repodata (a category that is one repository) has no relative name to key on.
  delete repomd[''];
  directories.sort();
  return { name, directories, repomd: Object.fromEntries(Object.entries(repomd).sort(([a], [b]) => (a < b ? -1 : 1))) };
}

export type ReportSource = Pick<ReportClientConfig, 'site' | 'host' | 'maxDirectories' | 'baseDir'> & {
  walkTimeoutMs?: number;
  categories: ReadonlyArray<{ name: string; path: string; excludes?: string[] }>;
};

export async function buildReport(cfg: ReportSource, opts: { signal?: AbortSignal; now?: Date } = {}): Promise<Report> {
  const categories: ReportCategory[] = [];
  const limit = new AbortController();
  const ms = cfg.walkTimeoutMs ?? 1_800_000;
  const timer = setTimeout(() => limit.abort(new UsageError(`the walk of the local copy took longer than walkTimeoutMs (${ms} ms); nothing was uploaded`)), ms);
  const onAbort = () => limit.abort(opts.signal?.reason ?? new Error('cancelled'));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (const c of cfg.categories) {
      categories.push(await walkCategory(c.name, path.resolve(cfg.baseDir, c.path), { excludes: c.excludes, maxDirectories: cfg.maxDirectories, signal: limit.signal }));
    }
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
  return { format: REPORT_FORMAT, site: cfg.site, host: cfg.host, generatedAt: (opts.now ?? new Date()).toISOString(), client: 'mirrorsmith report', categories };
}

// ---- the upload ----------------------------------------------------------------

export type UploadOutcome = { ok: true; status: number; url: string; bytes: number } | { ok: false; status?: number; url: string; message: string };

export function reportUrl(server: string, site: string, host: string): string {
  const u = new URL(server);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/reports/${encodeURIComponent(site)}/${encodeURIComponent(host)}.json`;
  return u.href;
}

/**
 * PUTs the body with basic auth. Never throws for a network or HTTP problem: the
 * outcome says what happened in words a mirror admin can act on.
 */
export async function uploadReport(
  body: Buffer,
  target: { server: string; site: string; host: string; password: string },
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<UploadOutcome> {
  const url = reportUrl(target.server, target.site, target.host);
  const user = reportUser(target.site, target.host);
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise<UploadOutcome>((resolve) => {
    let settled = false;
    const done = (o: UploadOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => done({ ok: false, url, message: `no answer from ${u.host} within ${opts.timeoutMs} ms (network failure or server overloaded); the report was not stored` }), opts.timeoutMs);
    const req = mod.request(
      u,
      {
        method: 'PUT',
        signal: opts.signal,
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': String(body.length),
          Authorization: `Basic ${Buffer.from(`${user}:${target.password}`).toString('base64')}`,
          'User-Agent': 'mirrorsmith-report/0.1',
          // A server that refuses (401/403/413) says so before the body is sent.
          Expect: '100-continue',
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < 4096) chunks.push(c);
          size += c.length;
        });
        res.on('end', () => done(explain(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), url, user, body.length)));
        res.on('error', (err) => done({ ok: false, url, message: `connection to ${u.host} broke while reading the answer: ${err.message}` }));
      },
    );
    // Servers that ignore Expect get the body after a short wait, as curl does.
    let sent = false;
    const send = () => {
      if (!sent && !settled) req.end(body);
      sent = true;
    };
    const expectWait = setTimeout(send, 1000);
    req.on('continue', () => {
      clearTimeout(expectWait);
      send();
    });
    req.on('close', () => clearTimeout(expectWait));
    req.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, url, message: networkMessage(err, u.host) }));
    req.flushHeaders();
  });
}

export type StatusOutcome = { ok: true; status: IngestStatus | null; url: string } | { ok: false; httpStatus?: number; url: string; message: string };

/**
 * GETs the outcome of this host's last report at ingest (served back by nginx to
 * that host only). `status: null` means no report was ingested yet.
 */
export async function fetchStatus(target: { server: string; site: string; host: string; password: string }, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<StatusOutcome> {
  const url = reportUrl(target.server, target.site, target.host).replace(/\.json$/, '.status');
  const user = reportUser(target.site, target.host);
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise<StatusOutcome>((resolve) => {
    let settled = false;
    const done = (o: StatusOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => done({ ok: false, url, message: `no answer from ${u.host} within ${opts.timeoutMs} ms` }), opts.timeoutMs);
    const req = mod.get(u, { signal: opts.signal, headers: { Authorization: `Basic ${Buffer.from(`${user}:${target.password}`).toString('base64')}`, 'User-Agent': 'mirrorsmith-report/0.1' } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 64 * 1024) return done({ ok: false, url, message: 'the status answer is larger than 64 KiB; not a mirrorsmith server?' });
        chunks.push(c);
      });
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        if (code === 404) return done({ ok: true, status: null, url });
        if (code !== 200) {
          const e = explain(code, Buffer.concat(chunks).toString('utf8'), url, user, 0);
          return done({ ok: false, httpStatus: code, url, message: e.ok ? `HTTP ${code}` : e.message });
        }
        try {
          const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as IngestStatus;
          if (parsed?.format !== 'mirrorsmith-report-status/1') throw new Error('unknown format');
          done({ ok: true, status: parsed, url });
        } catch (err) {
          done({ ok: false, url, message: `the status answer is not a mirrorsmith report status: ${(err as Error).message}` });
        }
      });
      res.on('error', (err) => done({ ok: false, url, message: `connection to ${u.host} broke while reading the answer: ${err.message}` }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, url, message: networkMessage(err, u.host) }));
  });
}

/** One line for a mirror admin. */
export function describeStatus(s: IngestStatus | null): string {
  if (!s) return 'no report of this host has been ingested yet';
  const of = s.generatedAt ? ` (report of ${s.generatedAt})` : '';
  if (s.outcome === 'processed') {
    const c = s.counts;
    return `last report processed at ${s.at}${of}${c ? `: ${c.upToDate} directories up to date, ${c.behind} behind, ${c.absent} absent` : ''}`;
  }
  return `last report REJECTED at ${s.at}${of}: ${s.reason ?? 'no reason recorded'}`;
}

function explain(status: number, text: string, url: string, user: string, bytes: number): UploadOutcome {
  if (status === 200 || status === 201 || status === 204) return { ok: true, status, url, bytes };
  const detail = text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 200);
  const msg =
    status === 401
      ? `authentication failed for user "${user}" (HTTP 401): check the password, or ask the mirror network admins to set one with \`mirrorsmith host set-report-password\``
      : status === 403
        ? `the server refused user "${user}" writing ${new URL(url).pathname} (HTTP 403): a host may upload only its own report; check site and host in the config`
        : status === 413
          ? `the report (${bytes} bytes) is larger than the server accepts (HTTP 413)`
          : status === 404 || status === 405 || status === 409
            ? `the server does not accept reports at ${url} (HTTP ${status}): wrong server URL, or report upload not configured there`
            : `the server rejected the report (HTTP ${status}${detail ? `: ${detail}` : ''})`;
  return { ok: false, status, url, message: msg };
}

function networkMessage(err: NodeJS.ErrnoException, host: string): string {
  const code = err.code ?? err.name;
  if (code === 'ECONNREFUSED') return `cannot reach ${host}: connection refused (network failure or server down); the report was not stored`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot reach ${host}: the name does not resolve (${code}); the report was not stored`;
  if (code === 'ABORT_ERR' || err.name === 'AbortError') return 'cancelled; the report was not stored';
  if (code === 'ECONNRESET' || code === 'EPIPE') return `connection to ${host} was reset (${code}); the report was not stored`;
  return `network failure talking to ${host}: ${err.message}; the report was not stored`;
}

async function sha256File(file: string): Promise<string | null> {
  try {
    const h = createHash('sha256');
    for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
    return h.digest('hex');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EISDIR') return null;
    throw err;
  }
}

/** The master scan's exclude semantics: a glob with `/` is anchored at the top, one without matches any path component. */
export function excluder(patterns: readonly string[]): (name: string) => boolean {
  const anchored: RegExp[] = [];
  const component: RegExp[] = [];
  for (const p of patterns) {
    const g = p.replace(/^\/+|\/+$/g, '');
    const re = new RegExp(`^${g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}(/.*)?$`);
    (g.includes('/') ? anchored : component).push(re);
  }
  return (name) => anchored.some((re) => re.test(name)) || (component.length > 0 && name.split('/').some((part) => component.some((re) => re.test(part))));
}
