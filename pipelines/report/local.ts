// A private mirror on the same machine as the pipeline (the demo, a test bed):
// its report goes straight into the spool, the same bytes nginx would store.
import { buildReport, type ReportSource } from './client.ts';
import { depositReport } from './spool.ts';

/** Walks the local copy like `mirrorsmith report` and deposits the report for the next ingest; returns the spool file. */
export async function reportToSpool(spoolDir: string, source: ReportSource, opts: { signal?: AbortSignal; now?: Date } = {}): Promise<string> {
  const report = await buildReport(source, opts);
  return depositReport(spoolDir, report, JSON.stringify(report));
}
