// Test helpers for the crawler: a StageContext around a database and a config,
// and reading back what the crawl stored.
import { parseConfig, type Config } from '../../pipelines/core/config.ts';
import type { Db } from '../../pipelines/core/db.ts';
import { memoryLogger } from '../../pipelines/core/log.ts';
import type { StageContext } from '../../pipelines/core/types.ts';

export const SIM_CATEGORY = { name: 'Fedora Linux', topdir: 'pub/fedora/linux' };

export function crawlConfig(crawl: Record<string, unknown> = {}, keyRepos: string[] = ['fedora-40']): Config {
  return parseConfig(
    {
      categories: [{ name: SIM_CATEGORY.name, topdir: SIM_CATEGORY.topdir, source: { type: 'local', path: '/nonexistent' }, keyRepos }],
      crawl: { requestTimeoutMs: 3000, hostTimeoutMs: 15_000, maxResponseBytes: 1024 * 1024, ...crawl },
    },
    '',
  );
}

export function stageCtx(db: Db, config: Config, options: Record<string, unknown> = {}, signal = new AbortController().signal): StageContext & { log: ReturnType<typeof memoryLogger> } {
  return {
    db,
    config,
    log: memoryLogger('debug'),
    signal,
    run: { id: null, startedAt: new Date(), generationId: 'test', force: false, dryRun: false },
    options,
    progress: () => ({ tick() {}, done() {} }),
  };
}

export interface DirVerdict {
  host: string;
  dir: string;
  up2date: boolean;
  reason: string;
}

/** Every stored verdict, keyed `host dir`. */
export async function verdicts(db: Db): Promise<Map<string, DirVerdict>> {
  const { rows } = await db.query<DirVerdict>(
    `SELECT h.name AS host, d.name AS dir, hcd.up2date, hcd.reason
       FROM host_category_dir hcd JOIN host_category hc ON hc.id = hcd.host_category_id
       JOIN host h ON h.id = hc.host_id JOIN directory d ON d.id = hcd.directory_id`,
  );
  return new Map(rows.map((r) => [`${r.host} ${r.dir}`, r]));
}

export async function hostRow(db: Db, name: string) {
  const { rows } = await db.query<{
    crawl_failures: number;
    auto_disabled: boolean;
    disable_reason: string | null;
    last_crawl_method: string | null;
    last_crawled: Date | null;
    reachable_ipv4: boolean | null;
    reachable_ipv6: boolean | null;
  }>('SELECT crawl_failures, auto_disabled, disable_reason, last_crawl_method, last_crawled, reachable_ipv4, reachable_ipv6 FROM host WHERE name = $1', [name]);
  return rows[0]!;
}

export async function lastLog(db: Db, name: string) {
  const { rows } = await db.query<{ ok: boolean; counted: boolean; summary: string; error_kind: string | null; requests: number; budget: number; lines: string[] }>(
    `SELECT l.ok, l.counted, l.summary, l.error_kind, l.requests, l.budget, l.lines FROM crawl_log l JOIN host h ON h.id = l.host_id
      WHERE h.name = $1 ORDER BY l.started_at DESC, l.id DESC LIMIT 1`,
    [name],
  );
  return rows[0];
}
