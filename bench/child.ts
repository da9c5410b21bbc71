// Entry of a benchmark child process: `node --import tsx bench/child.ts MODULE EXPORT RESULT_FILE`,
// arguments as JSON on stdin. Runs the task and writes {ok, value|error, maxRssKb, cpuMs}
// to RESULT_FILE, so each measurement's peak RSS belongs to that task alone.
import fs from 'node:fs';

const [modulePath, exportName, resultFile] = process.argv.slice(2);

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  if (!modulePath || !exportName || !resultFile) throw new Error('usage: bench/child.ts MODULE EXPORT RESULT_FILE');
  const args = JSON.parse((await readStdin()) || 'null') as unknown;
  let out: Record<string, unknown>;
  try {
    const mod = (await import(modulePath)) as Record<string, unknown>;
    const fn = mod[exportName];
    if (typeof fn !== 'function') throw new Error(`${modulePath} has no exported function ${exportName}`);
    const value = await (fn as (a: unknown) => Promise<unknown>)(args);
    out = { ok: true, value };
  } catch (err) {
    out = { ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
  const ru = process.resourceUsage();
  out.maxRssKb = ru.maxRSS;
  out.cpuMs = Math.round((ru.userCPUTime + ru.systemCPUTime) / 1000);
  fs.writeFileSync(resultFile, JSON.stringify(out));
}

await main();
// PGlite and nginx handles may keep the loop alive; the result is written, so end here.
process.exitCode = 0;
setTimeout(() => process.kill(process.pid, 'SIGKILL'), 2000).unref();
