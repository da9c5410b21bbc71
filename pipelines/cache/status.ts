// `cache status`: what the cache holds and how it is doing.
import fs from 'node:fs';
import path from 'node:path';
import type { CacheConfig } from './config.ts';
import { readState } from './state.ts';

export interface TreeStatus {
  path: string;
  policy: string;
  files: number;
  bytes: number;
  lastChecked: string | null;
  lastUpstreamChange: string | null;
  lastErrors: number;
}

export interface CacheStatus {
  root: string;
  lastRun: string | null;
  trees: TreeStatus[];
  /** From the access log: requests served from disk vs fetched upstream. */
  requests: { hits: number; misses: number; errors: number } | null;
}

export function cacheStatus(config: CacheConfig): CacheStatus {
  const state = readState(config.stateFile);
  const trees = config.trees.map((t) => {
    const { files, bytes } = du(path.join(config.root, t.path));
    const s = state.trees[t.path] ?? {};
    return { path: t.path, policy: t.policy, files, bytes, lastChecked: s.lastChecked ?? null, lastUpstreamChange: s.lastUpstreamChange ?? null, lastErrors: s.lastErrors ?? 0 };
  });
  return { root: config.root, lastRun: state.lastRun ?? null, trees, requests: countRequests(config.accessLog) };
}

function du(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  if (!fs.existsSync(dir)) return { files, bytes };
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    files++;
    bytes += fs.statSync(path.join(e.parentPath, e.name)).blocks * 512;
  }
  return { files, bytes };
}

/** Lines of the ms_cache log format end in `upstream=-` when served from disk. */
export function countRequests(logFile: string): CacheStatus['requests'] {
  let text: string;
  try {
    text = fs.readFileSync(logFile, 'utf8');
  } catch {
    return null;
  }
  const counts = { hits: 0, misses: 0, errors: 0 };
  for (const line of text.split('\n')) {
    const m = / (\d{3}) \d+ [\d.]+ upstream=(\S+)$/.exec(line);
    if (!m) continue;
    if (Number(m[1]) >= 400) counts.errors++;
    else if (m[2] === '-') counts.hits++;
    else counts.misses++;
  }
  return counts;
}
