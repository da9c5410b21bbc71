// `mirrorsmith serve`: the system's stock nginx in the foreground on out/current,
// reloaded when `publish`/`rollback` switch generations, until SIGINT. Each load
// happens under the publish lock (so `current` cannot move while nginx reads it)
// and is recorded in out/.loaded/, so publish never prunes what this nginx serves.
import fs from 'node:fs';
import path from 'node:path';
import type { CliEnv } from '../cli.ts';
import { makeLogger, readConfig } from '../core/context.ts';
import { resolvePath } from '../core/config.ts';
import { LockHeldError, UsageError } from '../core/errors.ts';
import { acquirePublishLock, currentGeneration, recordGone, recordLoaded } from '../serve/generations.ts';
import { startNginx, type RunningNginx } from '../serve/nginx.ts';

export function registerServeCommands(env: CliEnv): void {
  env.program
    .command('serve')
    .description('run the stock nginx in the foreground on out/current (prefix under var/nginx) until Ctrl-C')
    .option('--port <port>', 'TCP port', '8080')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--prefix <dir>', 'nginx prefix (conf, logs, temp files)', 'var/nginx')
    .option('--workers <n>', 'worker processes (a number or auto)', '1')
    .action(
      env.action(async (opts: { port: string; host: string; prefix: string; workers: string }) => {
        const g = env.globals();
        const config = readConfig(g.config, g.configExplicit);
        const log = makeLogger(g);
        const port = Number(opts.port);
        if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port: ${JSON.stringify(opts.port)} is not a TCP port`);
        if (!/^([0-9.]+|[0-9a-fA-F:]+|localhost)$/.test(opts.host)) throw new UsageError(`--host: ${JSON.stringify(opts.host)} is not an IP address`);
        const workers = opts.workers === 'auto' ? 'auto' : Number(opts.workers);
        if (workers !== 'auto' && (!Number.isInteger(workers) || workers < 1 || workers > 256)) throw new UsageError(`--workers: must be a number 1-256 or auto`);
        const outDir = resolvePath(config, config.output.dir);
        const prefixDir = resolvePath(config, opts.prefix);
        fs.mkdirSync(prefixDir, { recursive: true });
        fs.mkdirSync(outDir, { recursive: true });
        const lockWaitMs = config.publish.nginxTestTimeoutMs + 30_000;
        let live: string | null = null;
        const nginx = await withPublishLock(outDir, lockWaitMs, env.signal, async () => {
          live = currentGeneration(outDir);
          const started = await startNginx({ outDir, port, host: opts.host === 'localhost' ? '127.0.0.1' : opts.host, prefixDir, workers });
          if (live) recordLoaded(outDir, { name: `serve-${started.pid}`, id: live, pid: started.pid });
          return started;
        });
        if (!nginx) return 130;
        if (!live) log.warn(`nothing published yet in ${outDir} (run \`mirrorsmith run\` or \`npm start\`); serving the site index only`);
        env.out(`serving ${path.join(outDir, 'current')} (generation ${live ?? 'none'}) at ${nginx.url}/`);
        env.out(`  try: curl '${nginx.url}/mirrorlist?repo=REPO&arch=ARCH&ip=192.0.2.1'`);
        env.out(`  logs: ${path.join(prefixDir, 'logs')}; stop with Ctrl-C`);
        try {
          // Watch the symlink: a publish in another terminal changes the http-level
          // fragments too, which only a reload loads.
          while (!env.signal.aborted) {
            const ended = await Promise.race([nginx.exited.then(() => true), abortable(1000, env.signal).then(() => false)]);
            if (ended) throw new Error(`nginx exited unexpectedly; see ${path.join(prefixDir, 'logs', 'error.log')}`);
            if (safeCurrent(outDir) !== live && !env.signal.aborted) {
              // A publish holding the lock is still deciding: look again next round.
              const reloaded = await withPublishLock(outDir, 0, env.signal, () => reloadOn(nginx, outDir, log));
              if (reloaded !== null) live = reloaded;
            }
          }
        } finally {
          await nginx.stop();
          recordGone(outDir, `serve-${nginx.pid}`);
        }
        return 0;
      }),
    );
}

/** Reloads nginx on what `current` is now; returns that id (also when the reload failed: no retry loop). */
async function reloadOn(nginx: RunningNginx, outDir: string, log: ReturnType<typeof makeLogger>): Promise<string | null> {
  const now = safeCurrent(outDir);
  try {
    await nginx.reload();
    if (now) recordLoaded(outDir, { name: `serve-${nginx.pid}`, id: now, pid: nginx.pid });
    log.info(`current switched to ${now ?? 'nothing'}: nginx reloaded`);
  } catch (err) {
    log.error(`current switched to ${now ?? 'nothing'} but the reload failed, nginx keeps its previous config: ${(err as Error).message}`);
  }
  return now;
}

/** Runs fn holding the publish lock; null when a publish still holds it after waitMs. */
async function withPublishLock<T>(outDir: string, waitMs: number, signal: AbortSignal, fn: () => Promise<T>): Promise<T | null> {
  let lock;
  try {
    lock = await acquirePublishLock(outDir, `serve (pid ${process.pid})`, waitMs, signal);
  } catch (err) {
    if (err instanceof LockHeldError && waitMs === 0) return null;
    throw err;
  }
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

function safeCurrent(outDir: string): string | null {
  try {
    return currentGeneration(outDir);
  } catch {
    return null;
  }
}

function abortable(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
