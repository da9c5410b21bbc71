// The local caching mirror's own configuration (cache.yaml), written by
// `cache init` from a preset and read by `cache expire|seed|status`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { parseYaml, relPath, zodIssues } from '../core/config.ts';
import { UsageError, ValidationError } from '../core/errors.ts';

export const PRESETS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'cache-presets');

const upstreamUrl = z
  .string()
  .refine((u) => /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~%\/+-]*)?$/.test(u), 'must be an http:// or https:// URL (host, optional port and path; no credentials, query or special characters)')
  .transform((u) => (u.endsWith('/') ? u : u + '/'));

/** "never", or an interval such as "15m", "2h", "1d". */
const policy = z.string().regex(/^(never|\d+[smhd])$/, 'must be "never" or an interval like 30m, 6h, 1d');

export const CacheTreeSchema = z
  .object({
    /** Path below the cache root (and below each upstream URL), e.g. fedora/linux/updates. */
    path: relPath.refine((p) => p.length > 0, 'must not be empty'),
    policy,
  })
  .strict();

export const CacheConfigSchema = z
  .object({
    /** The local tree, laid out exactly like the upstream. */
    root: z.string().refine((p) => path.isAbsolute(p), 'must be an absolute path'),
    /** First is preferred; the next is used when one fails or lacks the file. */
    upstreams: z.array(upstreamUrl).min(1, 'at least one upstream is needed'),
    listen: z.string().regex(/^(\[[0-9a-fA-F:]+\]:|[0-9.]+:)?\d{1,5}$/, 'must be PORT, ADDR:PORT or [ADDR6]:PORT').default('80'),
    serverName: z.string().regex(/^[A-Za-z0-9.-]+$|^_$/, 'must be a host name or _').default('_'),
    /** Where the expiry job records its runs. */
    stateFile: z.string().refine((p) => path.isAbsolute(p), 'must be an absolute path').optional(),
    accessLog: z.string().refine((p) => path.isAbsolute(p), 'must be an absolute path').optional(),
    requestTimeoutMs: z.number().int().min(100).default(30_000),
    maxMetadataBytes: z.number().int().min(1024).default(512 * 1024 * 1024),
    trees: z.array(CacheTreeSchema).default([]),
  })
  .strict();

export type CacheConfig = z.infer<typeof CacheConfigSchema> & { stateFile: string; accessLog: string; file: string };
export type CacheTree = z.infer<typeof CacheTreeSchema>;

export const PresetSchema = z
  .object({
    description: z.string(),
    /** Path of the tree below the upstream's URL, prepended to every tree path. */
    trees: z.array(CacheTreeSchema).min(1),
  })
  .strict();
export type Preset = z.infer<typeof PresetSchema>;

export function parseCacheConfig(raw: unknown, file: string): CacheConfig {
  const parsed = CacheConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new ValidationError(`invalid cache configuration in ${file}`, zodIssues(parsed.error, `${path.basename(file)}: `));
  const c = parsed.data;
  return {
    ...c,
    stateFile: c.stateFile ?? path.join(c.root, '.mirrorsmith-cache', 'state.json'),
    accessLog: c.accessLog ?? path.join(c.root, '.mirrorsmith-cache', 'access.log'),
    file,
  };
}

export function loadCacheConfig(file: string): CacheConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read cache config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseCacheConfig(parseYaml(text, file), file);
}

export function listPresets(): string[] {
  return fs
    .readdirSync(PRESETS_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.replace(/\.yaml$/, ''))
    .sort();
}

export function loadPreset(name: string): Preset {
  if (!/^[a-z0-9-]+$/.test(name) || !listPresets().includes(name)) {
    throw new UsageError(`unknown preset "${name}" (known: ${listPresets().join(', ')})`);
  }
  const file = path.join(PRESETS_DIR, `${name}.yaml`);
  const parsed = PresetSchema.safeParse(parseYaml(fs.readFileSync(file, 'utf8'), file));
  if (!parsed.success) throw new ValidationError(`invalid preset ${file}`, zodIssues(parsed.error, `${name}.yaml: `));
  return parsed.data;
}

/** Milliseconds of an interval policy, or null for "never". */
export function policyIntervalMs(p: string): number | null {
  if (p === 'never') return null;
  const n = Number(p.slice(0, -1));
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[p.slice(-1) as 's' | 'm' | 'h' | 'd'];
  return n * unit;
}
