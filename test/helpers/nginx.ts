// Test helpers around the real nginx: hand-made generations (manifest + fragments)
// and a started nginx that stops when the test ends.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { parseConfig, type Config } from '../../pipelines/core/config.ts';
import { memoryLogger } from '../../pipelines/core/log.ts';
import type { StageContext } from '../../pipelines/core/types.ts';
import { GENERATION_FRAGMENT, generationFragment } from '../../pipelines/serve/generations.ts';
import { startNginx, type RunningNginx, type StartNginxOptions } from '../../pipelines/serve/nginx.ts';
import { requireTool } from './system.ts';

export interface FakeGeneration {
  counts?: Record<string, number>;
  createdAt?: string;
  /** nginx/http.d/*.conf, name → text */
  http?: Record<string, string>;
  /** nginx/server.d/*.conf, name → text */
  server?: Record<string, string>;
  /** any other files, relative path → text */
  files?: Record<string, string>;
}

/** Writes out/generations/<id>/ the way build leaves it. */
export function makeGeneration(outDir: string, id: string, g: FakeGeneration = {}): string {
  const dir = path.join(outDir, 'generations', id);
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  };
  // As build does: the fragment naming the generation the site serves files from.
  if (!(g.http && '00-generation.conf' in g.http)) write(GENERATION_FRAGMENT, generationFragment(id.replace(/\.tmp-\d+$/, '')));
  for (const [n, t] of Object.entries(g.http ?? {})) write(`nginx/http.d/${n}`, t);
  for (const [n, t] of Object.entries(g.server ?? {})) write(`nginx/server.d/${n}`, t);
  for (const [n, t] of Object.entries(g.files ?? {})) write(n, t);
  write('manifest.json', JSON.stringify({ id, createdAt: g.createdAt ?? new Date().toISOString(), counts: g.counts ?? { hosts: 10, repositories: 4 } }, null, 2) + '\n');
  return dir;
}

/**
 * A generation whose /which answers its id from an http-level map, /id.txt from a
 * file, and /which-file from a file named by the map (like the lists' content-hashed
 * ids: a map of one generation with the files of another is a 404).
 */
export function markedGeneration(outDir: string, id: string, createdAt: string, extra: FakeGeneration = {}): string {
  return makeGeneration(outDir, id, {
    createdAt,
    ...extra,
    http: { 'which.conf': `map $uri $ms_which { default "${id}"; }\n`, ...extra.http },
    server: {
      'which.conf': 'location = /which { default_type text/plain; return 200 "$ms_which\\n"; }\nlocation = /which-file { default_type text/plain; try_files /marks/$ms_which.txt =404; }\n',
      ...extra.server,
    },
    files: { 'id.txt': `${id}\n`, [`marks/${id}.txt`]: `${id}\n`, ...extra.files },
  });
}

/** What nginx answers for a markedGeneration: one id when consistent, else the mixture. */
export async function servedGeneration(url: string): Promise<string> {
  // A reload closes idle keep-alive connections: a request racing that is retried,
  // a few times with a short pause (workers restart slowly on a loaded machine).
  const fetchOnce = async (u: string) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await get(u);
      } catch (err) {
        if (attempt >= 5) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  };
  const which = await fetchOnce(`${url}/which`);
  const file = await fetchOnce(`${url}/id.txt`);
  const marked = await fetchOnce(`${url}/which-file`);
  const seen = [which.body.trim(), file.status === 200 ? file.body.trim() : `id.txt ${file.status}`, marked.status === 200 ? marked.body.trim() : `which-file ${marked.status}`];
  return new Set(seen).size === 1 ? seen[0]! : `inconsistent: map ${seen[0]}, file ${seen[1]}, mapped file ${seen[2]}`;
}

export function tempDir(t: TestContext, prefix = 'mirrorsmith-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function testConfig(outDir: string, raw: Record<string, unknown> = {}): Config {
  return parseConfig({ output: { dir: outDir, keepGenerations: 5 }, ...raw }, '', {});
}

/** A StageContext for stages that use no database (publish). */
export function stageContext(config: Config, opts: { generationId?: string; force?: boolean; dryRun?: boolean; options?: Record<string, unknown> } = {}) {
  const log = memoryLogger('debug');
  const ctx: StageContext = {
    db: undefined as never,
    config,
    log,
    signal: new AbortController().signal,
    run: { id: null, startedAt: new Date(), generationId: opts.generationId ?? 'not-built-in-this-run', force: opts.force ?? false, dryRun: opts.dryRun ?? false },
    options: opts.options ?? {},
    progress: () => ({ tick() {}, done() {} }),
  };
  return { ctx, log };
}

/** Starts the real nginx (skips/fails per requireTool) and stops it when the test ends. */
export async function withNginx(t: TestContext, opts: StartNginxOptions): Promise<RunningNginx | null> {
  if (!requireTool(t, 'nginx', 'nginx-light')) return null;
  const n = await startNginx(opts);
  t.after(() => n.stop());
  return n;
}

/** GET with a bounded time; returns status and body. */
export async function get(url: string, init: RequestInit = {}, timeoutMs = 5000): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text(), headers: res.headers };
}
