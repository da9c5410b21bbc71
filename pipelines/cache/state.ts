// The expiry job's memory between runs: per tree the last check and last upstream
// change, and repodata files waiting out their grace period.
import fs from 'node:fs';
import path from 'node:path';

export interface CacheState {
  lastRun?: string;
  trees: Record<string, { lastChecked?: string; lastUpstreamChange?: string; lastErrors?: number }>;
  graveyard: Array<{ file: string; since: string }>;
}

export function readState(file: string): CacheState {
  try {
    const s = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<CacheState>;
    return { lastRun: s.lastRun, trees: s.trees ?? {}, graveyard: s.graveyard ?? [] };
  } catch {
    return { trees: {}, graveyard: [] };
  }
}

export function writeState(file: string, state: CacheState): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n');
  fs.renameSync(tmp, file);
}
