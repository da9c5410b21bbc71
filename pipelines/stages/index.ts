// The pipeline's stages in the order `mirrorsmith run` executes them.
import type { Stage } from '../core/types.ts';
import { publishStage } from './publish.ts';
import { registryStage } from './registry.ts';
import { scanMasterStage } from './scan-master.ts';
import { crawlStage } from './crawl.ts';
import { probeStage } from './probe.ts';
import { ingestStage } from './ingest.ts';
import { buildStage } from './build.ts';

export const STAGES: Stage[] = [registryStage, scanMasterStage, crawlStage, probeStage, ingestStage, buildStage, publishStage];

export function stageNames(): string[] {
  return STAGES.map((s) => s.name);
}

/** Picks stages by name, keeping pipeline order; unknown names are an error. */
export function selectStages(names?: string[]): Stage[] {
  if (!names || names.length === 0) return STAGES;
  const unknown = names.filter((n) => !STAGES.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown stage(s): ${unknown.join(', ')} (known: ${stageNames().join(', ')})`);
  return STAGES.filter((s) => names.includes(s.name));
}
