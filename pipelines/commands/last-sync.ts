// `mirrorsmith last-sync`: "has anything changed on the master in the last DELTA
// seconds?" for a mirror's cron script — exit 0 changed, 1 nothing changed,
// 2 cannot tell. Reads status/changes.json from a server or the local generation.
import fs from 'node:fs';
import path from 'node:path';
import type { CliEnv } from '../cli.ts';
import { decideLastSync, type ChangeFeed } from '../admin/changes.ts';
import { readConfig } from '../core/context.ts';
import { resolvePath } from '../core/config.ts';
import { httpRequest } from '../net/http.ts';

export function registerLastSyncCommand(env: CliEnv): void {
  env.program
    .command('last-sync')
    .description('exit 0 if the master changed within --delta seconds, 1 if not, 2 if that cannot be told (use -q in cron scripts)')
    .option('--server <url>', 'mirror manager base URL serving /status/changes.json (default: the local out/current)')
    .option('--category <name>', 'only this category (name or top directory, e.g. "Fedora EPEL" or epel)')
    .option('--all', 'any category (the default)')
    .option('--tree <path>', 'only this tree below the category top, e.g. updates or development/rawhide')
    .option('--delta <seconds>', 'the time window to ask about', '86400')
    .addHelpText('after', '\nGlobal -q/--quiet prints nothing; only the exit code answers.')
    .action(
      env.action(async (o: { server?: string; category?: string; tree?: string; delta: string }) => {
        const quiet = env.globals().quiet;
        const say = (m: string) => quiet || env.out(m);
        const deltaSeconds = Number(o.delta);
        if (!Number.isFinite(deltaSeconds) || deltaSeconds < 0) {
          say(`--delta ${o.delta}: a number of seconds ≥ 0`);
          return 2;
        }
        let feed: ChangeFeed;
        try {
          feed = o.server ? await fetchFeed(o.server, env.signal) : readLocalFeed(env);
        } catch (err) {
          say(`cannot tell: ${(err as Error).message}`);
          return 2;
        }
        const answer = decideLastSync(feed, { category: o.category, tree: o.tree, deltaSeconds, now: new Date() });
        say(answer.message);
        return answer.code;
      }),
    );
}

async function fetchFeed(server: string, signal: AbortSignal): Promise<ChangeFeed> {
  const url = new URL('status/changes.json', server.endsWith('/') ? server : server + '/').toString();
  const res = await httpRequest(url, { timeoutMs: 20_000, maxBytes: 5 * 1024 * 1024, maxRedirects: 3, keepBody: true, signal });
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
  return parseFeed(res.body!.toString('utf8'), url);
}

function readLocalFeed(env: CliEnv): ChangeFeed {
  const g = env.globals();
  const config = readConfig(g.config, g.configExplicit);
  const file = path.join(resolvePath(config, config.output.dir), 'current', 'status', 'changes.json');
  if (!fs.existsSync(file)) throw new Error(`${file} does not exist (no published generation; or pass --server URL)`);
  return parseFeed(fs.readFileSync(file, 'utf8'), file);
}

function parseFeed(text: string, where: string): ChangeFeed {
  try {
    const feed = JSON.parse(text) as ChangeFeed;
    if (!Array.isArray(feed.categories)) throw new Error('no "categories" array');
    return feed;
  } catch (err) {
    throw new Error(`${where} is not a change feed: ${(err as Error).message}`);
  }
}
