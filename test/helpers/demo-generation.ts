// The demo network's configuration, master tree and registry in a temp dir, run
// through the real pipeline (registry → scan-master → build → publish under the
// orchestrator) and served by the real nginx: for tests of what a published
// generation holds (mirroring guide, change feed).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import YAML from 'yaml';
import { parseConfig, type Config } from '../../pipelines/core/config.ts';
import { syncConfigTables, type AppContext } from '../../pipelines/core/context.ts';
import type { Db } from '../../pipelines/core/db.ts';
import { memoryLogger } from '../../pipelines/core/log.ts';
import { demoCategories, generateDemoMasterTree } from '../../pipelines/demo/master-tree.ts';
import { writeDemoRegistry } from '../../pipelines/demo/network.ts';
import { demoConfig, demoPaths, type DemoPaths } from '../../pipelines/demo/run.ts';
import { runPipeline, type RunOutcome } from '../../pipelines/orchestrator.ts';
import { startNginx, type RunningNginx } from '../../pipelines/serve/nginx.ts';
import { currentGeneration } from '../../pipelines/serve/generations.ts';
import { selectStages } from '../../pipelines/stages/index.ts';
import { freshDb } from './db.ts';
import { tempDir } from './nginx.ts';
import { requireTool } from './system.ts';

export interface DemoGeneration {
  paths: DemoPaths;
  config: Config;
  /** Raw demo config (as written to demo/mirrorsmith.yaml). */
  raw: ReturnType<typeof demoConfig>;
  db: Db;
  out: string;
  /** The live generation's directory (out/generations/<id>). */
  current(): string;
  /** registry → scan-master → build → publish, then reloads a serving nginx; asserts exit 0. `full`: scan-master --full. */
  publish(opts?: { full?: boolean }): Promise<RunOutcome>;
  /** nginx serving out/current (started on first call, stopped when the test ends). */
  serve(): Promise<RunningNginx>;
}

/** Writes the demo files (fast repodata writer) and publishes a first generation. Null when nginx is missing (skipped). */
export async function demoGeneration(t: TestContext): Promise<DemoGeneration | null> {
  if (!requireTool(t, 'nginx', 'nginx-light')) return null;
  const work = tempDir(t, 'mirrorsmith-demo-gen-');
  const paths = demoPaths(work);
  const out = path.join(work, 'out');
  await generateDemoMasterTree(paths.master, { repodata: 'writer' });
  writeDemoRegistry(path.join(work, 'registry'), demoCategories('master'));
  const raw = demoConfig(paths, out);
  fs.writeFileSync(paths.configFile, YAML.stringify(raw));
  const config = parseConfig(raw, paths.configFile, {});
  const { db } = await freshDb(t, 'pglite');
  await db.transaction((tx) => syncConfigTables(tx, config));
  const app: AppContext = { config, db, log: memoryLogger('warn'), interactive: false };
  let nginx: RunningNginx | null = null;
  const g: DemoGeneration = {
    paths,
    config,
    raw,
    db,
    out,
    current() {
      const id = currentGeneration(out);
      assert.ok(id, 'a generation is live');
      return path.join(out, 'generations', id);
    },
    async publish(opts = {}) {
      const outcome = await runPipeline(app, {
        stages: selectStages(['registry', 'scan-master', 'build', 'publish']),
        signal: AbortSignal.timeout(120_000),
        options: opts.full ? { full: true } : {},
        holder: 'test: demo generation',
      });
      assert.equal(outcome.exitCode, 0, JSON.stringify(outcome.records));
      // A running nginx serves the generation it loaded until reloaded (as a
      // deployment's publish.reloadCommand does).
      if (nginx) await nginx.reload();
      return outcome;
    },
    async serve() {
      if (!nginx) {
        const n = await startNginx({ outDir: out });
        t.after(() => n.stop());
        nginx = n;
      }
      return nginx;
    },
  };
  await g.publish();
  return g;
}
