// metrics/mirrorsmith.prom for node_exporter's textfile collector: the state of the
// mirror network and of the pipeline, named and typed per Prometheus conventions
// (base units, `_seconds`/`_bytes`, `_total` only on counters), through a prom-client
// Registry of our own (no process metrics: this file describes the network, not us).
// Every value comes from the database snapshot or the generation written so far.
import { Counter, Gauge, Registry } from 'prom-client';
import { bucketOf } from './propagation.ts';
import { cmp, isListed, registryActive, servable, type Facts } from './model.ts';
import { notServingReason, repoKey } from './publiclist.ts';
import { plottedRepos } from './status.ts';

export interface GenerationFigures {
  files: number;
  bytes: number;
}

export async function metricsText(f: Facts, gen: GenerationFigures, keyRepos: string[]): Promise<string> {
  const reg = new Registry();
  const g = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers: [reg] });

  const mirrors = g('mirrorsmith_mirrors', 'Mirrors carrying the category that the registry keeps active.', ['category', 'visibility']);
  const active = g('mirrorsmith_mirrors_active', 'Of those, mirrors handed out to clients now (not disabled by the crawler or the probe).', ['category', 'visibility']);
  const fresh = g('mirrorsmith_mirrors_fresh', 'Mirrors the metalinks list for every repository of the category.', ['category', 'visibility']);
  const repos = g('mirrorsmith_repositories', 'Repositories clients can ask for, per category.', ['category']);
  for (const c of [...f.data.categories].sort((a, b) => cmp(a.name, b.name))) {
    const list = (f.reposByCategory.get(c.id) ?? []).filter(servable);
    repos.set({ category: c.name }, list.length);
    for (const visibility of ['public', 'private'] as const) {
      let total = 0;
      let up = 0;
      let ok = 0;
      for (const h of f.data.hosts) {
        const site = f.siteOf.get(h.siteId);
        if (!site || !registryActive(h, site) || !h.categories.some((hc) => hc.categoryId === c.id)) continue;
        if ((h.private || site.private ? 'private' : 'public') !== visibility) continue;
        total++;
        if (!notServingReason(h)) up++;
        if (list.length > 0 && list.every((r) => isListed(f, h.id, r.id))) ok++;
      }
      mirrors.set({ category: c.name, visibility }, total);
      active.set({ category: c.name, visibility }, up);
      fresh.set({ category: c.name, visibility }, ok);
    }
  }

  const prop = g('mirrorsmith_propagation_mirrors', 'Mirrors per repomd.xml version served at their latest sample, per key repository.', ['repository', 'versions_behind']);
  const labelOf = { current: '0', behind1: '1', behind2: '2', older: '3+', unreachable: 'unreachable' } as const;
  for (const r of plottedRepos(f, keyRepos)) {
    const latest = new Map<number, number | null>();
    for (const s of f.samplesByRepo.get(r.id) ?? []) latest.set(s.hostId, s.versionsBehind);
    const counts = { current: 0, behind1: 0, behind2: 0, older: 0, unreachable: 0 };
    for (const v of latest.values()) counts[bucketOf(v)]++;
    for (const [b, n] of Object.entries(counts)) prop.set({ repository: repoKey(r), versions_behind: labelOf[b as keyof typeof labelOf] }, n);
  }

  const crawlDuration = g('mirrorsmith_host_last_crawl_duration_seconds', 'Wall time of the last crawl of each mirror.', ['host']);
  const crawledAt = g('mirrorsmith_host_last_crawl_timestamp_seconds', 'When each mirror was last crawled (Unix time).', ['host']);
  const failures = g('mirrorsmith_host_crawl_failures', 'Consecutive failed crawls of each mirror.', ['host']);
  const checkedIn = g('mirrorsmith_host_last_report_timestamp_seconds', 'When each private mirror last reported its content (Unix time).', ['host']);
  for (const h of f.data.hosts) {
    const site = f.siteOf.get(h.siteId);
    if (!site || !registryActive(h, site)) continue;
    if (h.lastCrawlDurationMs !== null) crawlDuration.set({ host: h.name }, h.lastCrawlDurationMs / 1000);
    if (h.lastCrawled) crawledAt.set({ host: h.name }, unix(h.lastCrawled));
    failures.set({ host: h.name }, h.crawlFailures);
    if (h.lastCheckedIn) checkedIn.set({ host: h.name }, unix(h.lastCheckedIn));
  }

  const runs = f.data.runs;
  const lastRun = runs[0];
  const lastOk = runs.find((r) => r.status === 'ok' && r.finishedAt);
  const lastPublish = runs.find((r) => r.finishedAt && r.stages.some((s) => s.stage === 'publish' && s.status === 'ok'));
  const lastBuild = runs.flatMap((r) => r.stages.filter((s) => s.stage === 'build' && s.status === 'ok').map((s) => s.durationMs))[0];
  if (lastRun?.finishedAt) g('mirrorsmith_last_run_timestamp_seconds', 'When the last finished pipeline run ended (Unix time).').set(unix(lastRun.finishedAt));
  if (lastRun) g('mirrorsmith_last_run_success', '1 if the last finished run succeeded, else 0.').set(lastRun.status === 'ok' ? 1 : 0);
  if (lastOk?.finishedAt) g('mirrorsmith_last_successful_run_timestamp_seconds', 'When the last successful pipeline run ended (Unix time).').set(unix(lastOk.finishedAt));
  if (lastPublish?.finishedAt) g('mirrorsmith_last_publish_timestamp_seconds', 'When a generation was last published (end of that run, Unix time).').set(unix(lastPublish.finishedAt));
  if (lastBuild !== undefined) g('mirrorsmith_build_duration_seconds', 'Duration of the last successful build stage.').set(lastBuild / 1000);
  if (lastRun) {
    const stageDuration = g('mirrorsmith_stage_duration_seconds', 'Duration of each stage of the last finished run (crawl, build, …).', ['stage']);
    for (const s of lastRun.stages) stageDuration.set({ stage: s.stage }, s.durationMs / 1000);
    const stageItems = g('mirrorsmith_stage_items', 'Items each stage of the last finished run handled, by result.', ['stage', 'result']);
    for (const s of lastRun.stages) {
      if (!s.counts) continue;
      for (const result of ['ok', 'failed', 'skipped'] as const) stageItems.set({ stage: s.stage, result }, Number(s.counts[result] ?? 0));
    }
  }

  const ingested = new Counter({ name: 'mirrorsmith_reports_ingested_total', help: 'Private-mirror reports the ingest stage accepted or rejected, over all recorded runs.', labelNames: ['result'], registers: [reg] });
  ingested.inc({ result: 'accepted' }, f.data.ingestTotals.ok);
  ingested.inc({ result: 'rejected' }, f.data.ingestTotals.failed);

  // The build runs this emitter last; only this file and what the build writes after
  // every emitter (the generation's id fragment, report.json, manifest.json) are left out.
  const covers = 'every file except metrics/mirrorsmith.prom, nginx/http.d/00-generation.conf, report.json and manifest.json, which are written after it';
  g('mirrorsmith_generation_files', `Files in the generation this file belongs to: ${covers}.`).set(gen.files);
  g('mirrorsmith_generation_size_bytes', `Bytes in the generation this file belongs to: ${covers}.`).set(gen.bytes);

  return reg.metrics();
}

function unix(d: Date): number {
  return Math.floor(d.getTime() / 1000);
}
