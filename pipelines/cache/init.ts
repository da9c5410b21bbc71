// `cache init`: renders the nginx site, the expiry job's cache.yaml and systemd
// units for a local caching mirror from a preset and the given upstreams.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import YAML from 'yaml';
import { UsageError } from '../core/errors.ts';
import { loadPreset, parseCacheConfig, policyIntervalMs, type CacheConfig } from './config.ts';

/** The mirrorsmith checkout this code runs from (holds bin/mirrorsmith.js after `npm ci`). */
export const INSTALL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TEMPLATES = path.join(INSTALL_DIR, 'templates', 'cache');
const handlebars = Handlebars.create();
const compile = (name: string) => handlebars.compile(fs.readFileSync(path.join(TEMPLATES, name), 'utf8'), { strict: true, noEscape: true });
// One upstream's live proxy (never stored): the @liveN chain and directory listings.
handlebars.registerPartial('liveProxy', fs.readFileSync(path.join(TEMPLATES, 'live-proxy.partial.hbs'), 'utf8'));
const templates = {
  site: compile('nginx-site.conf.hbs'),
  service: compile('expire.service.hbs'),
  timer: compile('expire.timer.hbs'),
};

export interface CacheInitOptions {
  preset: string;
  upstreams: string[];
  root: string;
  /** Where the files are written. */
  outDir: string;
  listen?: string;
  serverName?: string;
  user?: string;
  /** The mirrorsmith checkout the expiry unit runs (default: the one running init). */
  installDir?: string;
  /** Absolute path of the node binary the expiry unit runs (default: the one running init). */
  node?: string;
  /** Overwrite existing files. */
  force?: boolean;
}

export interface CacheInitResult {
  files: string[];
  config: CacheConfig;
}

// Tokens that reach nginx config are re-checked here, whatever validated them before.
const SAFE_PATH = /^\/[A-Za-z0-9._\/-]*$/;
const SAFE_HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$/;
// systemd splits ExecStart= on whitespace and expands %, $ and quotes; unit paths
// are kept to characters that mean nothing to it.
const SAFE_UNIT_PATH = /^\/[A-Za-z0-9._\/+@:,-]*$/;
const SAFE_USER = /^[a-z_][a-z0-9_-]*\$?$/;

/** The command line of the expiry unit: node runs the checkout's launcher, no npx or PATH lookup. */
function expireCommand(opts: CacheInitOptions, configFile: string): { node: string; installDir: string; argv: string[] } {
  const installDir = path.resolve(opts.installDir ?? INSTALL_DIR);
  const node = opts.node ?? process.execPath;
  if (!SAFE_UNIT_PATH.test(installDir)) throw new UsageError(`--install-dir ${JSON.stringify(installDir)}: only letters, digits and ._/+@:,- can go in a systemd unit`);
  const launcher = path.join(installDir, 'bin', 'mirrorsmith.js');
  if (!fs.existsSync(launcher) || !fs.existsSync(path.join(installDir, 'node_modules', 'tsx'))) {
    throw new UsageError(`--install-dir ${installDir}: no mirrorsmith install there (need bin/mirrorsmith.js and node_modules from \`npm ci\`)`);
  }
  if (!path.isAbsolute(node) || !SAFE_UNIT_PATH.test(node)) throw new UsageError(`--node ${JSON.stringify(node)}: must be an absolute path of letters, digits and ._/+@:,-`);
  try {
    fs.accessSync(node, fs.constants.X_OK);
  } catch {
    throw new UsageError(`--node ${node}: not an executable file`);
  }
  if (!SAFE_UNIT_PATH.test(configFile)) throw new UsageError(`--out: the cache config path ${JSON.stringify(configFile)} has characters a systemd unit cannot take`);
  return { node, installDir, argv: [node, launcher, 'cache', 'expire', '--cache-config', configFile] };
}

export function renderCacheFiles(opts: CacheInitOptions): { files: Record<string, string>; config: CacheConfig } {
  const preset = loadPreset(opts.preset);
  const configFile = path.resolve(opts.outDir, 'cache.yaml');
  const raw = {
    root: path.resolve(opts.root),
    upstreams: opts.upstreams,
    listen: opts.listen ?? '80',
    serverName: opts.serverName ?? '_',
    trees: preset.trees,
  };
  const config = parseCacheConfig(raw, configFile);
  if (!SAFE_PATH.test(config.root)) throw new UsageError(`--root ${JSON.stringify(config.root)}: only letters, digits and ._/- are allowed in the cache root`);
  if (!SAFE_PATH.test(config.accessLog)) throw new UsageError(`access log path ${JSON.stringify(config.accessLog)} has characters nginx config cannot take`);
  const upstreams = config.upstreams.map((u, index) => {
    const url = new URL(u);
    const hostPort = url.port ? `${url.hostname}:${url.port}` : `${url.hostname}:${url.protocol === 'https:' ? 443 : 80}`;
    const p = url.pathname.replace(/\/$/, '');
    if (!SAFE_HOST.test(hostPort) || !SAFE_PATH.test(p || '/')) throw new UsageError(`--upstream ${u}: not usable in nginx config`);
    return {
      index,
      next: index + 1 < config.upstreams.length ? index + 1 : undefined,
      scheme: url.protocol.slice(0, -1),
      https: url.protocol === 'https:',
      host: url.hostname,
      hostPort,
      path: p,
    };
  });
  const user = opts.user ?? 'www-data';
  if (!SAFE_USER.test(user)) throw new UsageError(`--user ${JSON.stringify(user)}: not a user name`);
  const command = expireCommand(opts, configFile);
  const intervals = config.trees.map((t) => policyIntervalMs(t.policy)).filter((n): n is number => n !== null);
  const shortestMs = intervals.length ? Math.max(5 * 60_000, Math.min(...intervals)) : 24 * 3_600_000;
  const timer = `${Math.round(shortestMs / 60_000)}min`;
  const yamlText =
    `# Local caching mirror (${opts.preset} preset: ${preset.description}).\n` +
    `# Used by \`mirrorsmith cache expire|seed|status --cache-config ${configFile}\`.\n` +
    YAML.stringify({ ...raw, stateFile: config.stateFile, accessLog: config.accessLog });
  const files: Record<string, string> = {
    'cache.yaml': yamlText,
    'nginx/mirrorsmith-cache.conf': templates.site({
      preset: opts.preset,
      root: config.root,
      listen: config.listen,
      serverName: config.serverName,
      accessLog: config.accessLog,
      upstreams,
      first: upstreams[0],
    }),
    'systemd/mirrorsmith-cache-expire.service': templates.service({ root: config.root, user, installDir: command.installDir, execStart: command.argv.join(' ') }),
    'systemd/mirrorsmith-cache-expire.timer': templates.timer({ shortest: intervals.length ? `${Math.round(Math.min(...intervals) / 60_000)} min` : 'never', timer }),
  };
  return { files, config };
}

export function initCache(opts: CacheInitOptions): CacheInitResult {
  const { files, config } = renderCacheFiles(opts);
  const written: string[] = [];
  for (const rel of Object.keys(files)) {
    const target = path.join(opts.outDir, rel);
    if (fs.existsSync(target) && !opts.force) throw new UsageError(`${target} exists; use --force to overwrite`);
  }
  for (const [rel, text] of Object.entries(files)) {
    const target = path.join(opts.outDir, rel);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, text);
    written.push(target);
  }
  // The temp area must be on the same filesystem as the tree for atomic renames.
  fs.mkdirSync(path.join(config.root, '.mirrorsmith-cache', 'tmp'), { recursive: true });
  return { files: written, config };
}
