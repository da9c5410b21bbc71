// The one configuration file (default mirrorsmith.yaml), validated once at startup.
// Every problem is reported with its key path; nothing else reads process.env.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { COUNTRIES } from './countries.ts';
import { UsageError, ValidationError } from './errors.ts';

/** A path inside a tree: relative, no `..`, no NUL/newline. */
export const relPath = z
  .string()
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..') && !/[\0\n\r]/.test(p), 'must be a relative path without ".." or control characters');

const regexString = z.string().refine((s) => {
  try {
    new RegExp(s);
    return true;
  } catch {
    return false;
  }
}, 'is not a valid regular expression');

export const RepoRuleSchema = z
  .object({
    /** Regex over the directory path relative to the category top, with capture groups. */
    match: regexString,
    /** Repository prefix, `$1`… substituted, e.g. `fedora-$1`. */
    repo: z.string().min(1),
    /** Arch, `$2`… substituted, e.g. `$2` or `source`. */
    arch: z.string().min(1),
    disabled: z.boolean().default(false),
  })
  .strict();

export const CategorySourceSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('local'), path: z.string().min(1) }).strict(),
  z.object({ type: z.literal('rsync'), url: z.string().regex(/^rsync:\/\/[^\s'"`;{}$]+$/, 'must be an rsync:// URL') }).strict(),
]);

export const CategorySchema = z
  .object({
    name: z.string().min(1).regex(/^[A-Za-z0-9][A-Za-z0-9 ._+-]*$/, 'letters, digits, space and ._+- only'),
    /** Path of the category top below a mirror's root, e.g. `linux` for Fedora Linux. */
    topdir: relPath,
    source: CategorySourceSchema,
    /**
     * A quick-fedora-mirror listing at the category top, used first when present.
     * Unset: a `fullfiletimelist-*` file there is found by itself; a name picks
     * that file; `false` (or `none`) never uses one.
     */
    fullfiletimelist: z
      .union([z.literal(false), z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be a file name at the category top, or false/none')])
      .optional()
      .transform((v) => (v === 'none' ? false : v)),
    excludes: z.array(z.string()).default([]),
    repoRules: z.array(RepoRuleSchema).default([]),
    /** Repositories whose propagation is sampled at every crawl. */
    keyRepos: z.array(z.string()).default([]),
  })
  .strict();

const ContinentSchema = z.enum(['AF', 'AN', 'AS', 'EU', 'NA', 'OC', 'SA']);
const CountrySchema = z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code in capitals');

export const ConfigSchema = z
  .object({
    database: z
      .object({
        /** PGlite data directory, used when DATABASE_URL is not set. */
        dataDir: z.string().default('var/db'),
      })
      .strict()
      .default({ dataDir: 'var/db' }),
    registry: z.object({ dir: z.string().default('registry') }).strict().default({ dir: 'registry' }),
    output: z
      .object({
        dir: z.string().default('out'),
        keepGenerations: z.number().int().min(1).default(5),
      })
      .strict()
      .default({ dir: 'out', keepGenerations: 5 }),
    categories: z.array(CategorySchema).default([]),
    repositoryAliases: z.array(z.object({ from: z.string().min(1), to: z.string().min(1) }).strict()).default([]),
    countryContinentRedirects: z.record(CountrySchema, ContinentSchema).default({}),
    geoip: z
      .object({
        /**
         * Country files, format by content: ip-location-db CSV `start,end,CC`, MaxMind
         * GeoLite2-Country-Blocks-IPv4/IPv6.csv (with countryLocations), or an .mmdb.
         */
        country: z.array(z.string()).default([]),
        /** GeoLite2-Country-Locations-en.csv for MaxMind blocks CSVs; default: beside the blocks file. */
        countryLocations: z.string().min(1).optional(),
        /** ASN files: ip-location-db CSV `start,end,asn,org`, MaxMind GeoLite2-ASN-Blocks-IPv4/IPv6.csv, or an ASN .mmdb. */
        asn: z.array(z.string()).default([]),
        /** Research & education (Internet2) prefixes, one CIDR per line. */
        researchPrefixes: z.string().optional(),
      })
      .strict()
      .default({ country: [], asn: [] }),
    selection: z
      .object({
        minimum: z.number().int().min(1).default(5),
        /** Pre-shuffled variants per class that nginx split_clients picks from. */
        variants: z.number().int().min(1).max(256).default(16),
        /**
         * protocol= sets with lists of their own: `common` (none, https, http, ftp, rsync,
         * http+https; other sets answered by their https/http part) or `all` 15 subsets
         * (exact; about 2.5× the generation at Fedora scale).
         */
        protocolSets: z.enum(['common', 'all']).default('common'),
        /**
         * country= lists answered exactly (in every order and spelling), e.g. [[DE, AT],
         * [US, CA]]: each list costs as many classes as its orders (2 or 6). Any other
         * list is answered as its first country alone.
         */
        countrySets: z
          .array(
            z
              .array(
                z
                  .string()
                  .transform((c) => c.toUpperCase())
                  .refine((c) => COUNTRIES.has(c), { message: 'must be an ISO 3166-1 alpha-2 country code' }),
              )
              .min(2)
              .max(3)
              .refine((set) => new Set(set).size === set.length, { message: 'must not name a country twice' }),
          )
          .max(100)
          .default([]),
      })
      .strict()
      .default({ minimum: 5, variants: 16, protocolSets: 'common', countrySets: [] }),
    build: z
      .object({
        /** Proxies (CIDRs or addresses) whose X-Forwarded-For nginx believes (realip). */
        trustedProxies: z.array(z.string().regex(/^[0-9A-Fa-f.:]+(\/\d{1,3})?$/, 'must be an IP address or CIDR')).default([]),
      })
      .strict()
      .default({ trustedProxies: [] }),
    crawl: z
      .object({
        concurrency: z.number().int().min(1).default(32),
        perHost: z.number().int().min(1).default(2),
        requestTimeoutMs: z.number().int().min(100).default(20_000),
        hostTimeoutMs: z.number().int().min(1000).default(300_000),
        maxResponseBytes: z.number().int().min(1024).default(8 * 1024 * 1024),
        maxRedirects: z.number().int().min(0).default(3),
        allowOffHostRedirects: z.boolean().default(false),
        failuresBeforeDisable: z.number().int().min(1).default(4),
        outageShare: z.number().min(0).max(1).default(0.7),
        /** The outage guard applies from this many crawled hosts on (one dead host of two is no outage). */
        outageMinHosts: z.number().int().min(1).default(5),
        /** Days of propagation samples kept for the status page's plot. */
        propagationDays: z.number().int().min(1).default(14),
      })
      .strict()
      .default({
        concurrency: 32,
        perHost: 2,
        requestTimeoutMs: 20_000,
        hostTimeoutMs: 300_000,
        maxResponseBytes: 8 * 1024 * 1024,
        maxRedirects: 3,
        allowOffHostRedirects: false,
        failuresBeforeDisable: 4,
        outageShare: 0.7,
        outageMinHosts: 5,
        propagationDays: 14,
      }),
    fileDetailRetentionDays: z.number().min(0).default(3),
    /** What the generated mirror-admin guide (/mirroring/) tells mirror admins. */
    mirroring: z
      .object({
        /** Public URL of this project's nginx (metalinks, /rsync_acl, report uploads). */
        serverUrl: z.string().regex(/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~\/-]*)?$/, 'must be an http(s) URL without credentials or query').default('https://mirrors.example.org/'),
        /** Host offering the master rsync modules to mirrors. */
        rsyncHost: z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'must be a host name (and optional port)').default('dl.example.org'),
        modules: z
          .array(
            z
              .object({
                name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits and ._- only'),
                /** The category the module carries (its path is the category's topdir). */
                category: z.string().optional(),
                path: relPath.optional(),
                description: z.string().default(''),
              })
              .strict(),
          )
          .default([]),
        excludes: z.array(z.string()).default(['.~tmp~/', '.snapshot/']),
        contact: z.string().default(''),
      })
      .strict()
      .prefault({}),
    probe: z
      .object({
        /** Consecutive failed probes before a host is taken out of the lists. */
        failuresToDown: z.number().int().min(1).default(3),
        /** Consecutive successful probes before a probed-down host is listed again. */
        successesToUp: z.number().int().min(1).default(2),
        timeoutMs: z.number().int().min(100).default(10_000),
        concurrency: z.number().int().min(1).default(64),
        /** File probed below each host's category URL; default: the category's first repository's repodata/repomd.xml. */
        path: relPath.optional(),
        /** Bytes read from a probe response at most. */
        maxBytes: z.number().int().min(1).default(1024 * 1024),
        /** The outage guard (crawl.outageShare) applies from this many probed hosts on. */
        outageMinHosts: z.number().int().min(1).default(4),
      })
      .strict()
      .default({ failuresToDown: 3, successesToUp: 2, timeoutMs: 10_000, concurrency: 64, maxBytes: 1024 * 1024, outageMinHosts: 4 }),
    ingest: z
      .object({
        /** Where nginx's WebDAV PUT puts private mirrors' reports (<site>/<host>.json); outside the generation. */
        spoolDir: z.string().min(1).default('var/reports/incoming'),
        processedDir: z.string().min(1).default('var/reports/processed'),
        rejectedDir: z.string().min(1).default('var/reports/rejected'),
        /** The last ingest outcome per host, which the host may GET back (`mirrorsmith report --status`). */
        statusDir: z.string().min(1).default('var/reports/status'),
        /** Largest report accepted, by nginx (client_max_body_size) and by ingest. */
        maxReportBytes: z.number().int().min(1024).max(1024 * 1024 * 1024).default(10 * 1024 * 1024),
        /** Filed reports kept per host in processed/ and rejected/. */
        keepPerHost: z.number().int().min(1).default(10),
        /** A private host silent this long loses its up-to-date verdicts; older reports are rejected. */
        staleAfterHours: z.number().min(1).default(72),
      })
      .strict()
      .default({
        spoolDir: 'var/reports/incoming',
        processedDir: 'var/reports/processed',
        rejectedDir: 'var/reports/rejected',
        statusDir: 'var/reports/status',
        maxReportBytes: 10 * 1024 * 1024,
        keepPerHost: 10,
        staleAfterHours: 72,
      }),
    publish: z
      .object({
        /** Refuse to publish without `nginx -t` passing; false only where nginx is not installed. */
        requireNginxTest: z.boolean().default(true),
        /** Shrink guard: refuse (without --force) a generation listing fewer than this share of the live one's listed hosts (in at least one list) or served repositories (with at least one mirror). */
        minShare: z.number().min(0).max(1).default(0.5),
        /** Run after the swap, e.g. [nginx, -s, reload] or [systemctl, reload, nginx]; argv, no shell. */
        reloadCommand: z.array(z.string().min(1)).min(1).optional(),
        reloadTimeoutMs: z.number().int().min(100).default(30_000),
        /** `nginx -t` parses every geo range of the generation: seconds at Fedora scale. */
        nginxTestTimeoutMs: z.number().int().min(1000).default(120_000),
      })
      .strict()
      .default({ requireNginxTest: true, minShare: 0.5, reloadTimeoutMs: 30_000, nginxTestTimeoutMs: 120_000 }),
    /** Public list, status pages, map and metrics (pipelines/public). */
    public: z
      .object({
        /** Site title on the root page. */
        title: z.string().min(1).max(200).default('Mirror network'),
        /** Days of history in the propagation plots. */
        propagationDays: z.number().int().min(1).max(90).default(7),
        /** Private mirrors get a status page (check-in, freshness, never their URLs); never on the public list. */
        statusPrivateHosts: z.boolean().default(true),
      })
      .strict()
      .default({ title: 'Mirror network', propagationDays: 7, statusPrivateHosts: true }),
    /** A run whose per-mirror failures exceed this share exits 1. */
    maxFailureRatio: z.number().min(0).max(1).default(0.5),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema> & {
  /** Absolute path of the file the config came from (or '' for defaults). */
  readonly file: string;
  /** Directory relative paths in the config are resolved against. */
  readonly baseDir: string;
  /** DATABASE_URL, when set: a real Postgres instead of the embedded PGlite. */
  readonly databaseUrl?: string;
};
export type CategoryConfig = z.infer<typeof CategorySchema>;
export type RepoRule = z.infer<typeof RepoRuleSchema>;

/** Formats zod issues as "file: key.path: message" lines. */
export function zodIssues(error: z.ZodError, prefix: string): string[] {
  return error.issues.map((i) => {
    const where = i.path.length ? i.path.map(String).join('.') : '(top level)';
    const msg =
      i.code === 'unrecognized_keys'
        ? `unknown field(s) ${i.keys.map((k) => `"${k}"`).join(', ')}`
        : i.code === 'invalid_key'
          ? `key ${i.issues.map((k) => k.message).join('; ')}`
          : i.message;
    return `${prefix}${where}: ${msg}`;
  });
}

/** Parses YAML text, throwing a ValidationError with the line of the first error. */
export function parseYaml(text: string, file: string): unknown {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ValidationError(`${file} is not valid YAML`, doc.errors.map((e) => `${file}: ${e.message.split('\n')[0]}`));
  }
  return doc.toJS();
}

export function parseConfig(raw: unknown, file: string, env: NodeJS.ProcessEnv = {}): Config {
  const parsed = ConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new ValidationError(`invalid configuration in ${file}`, zodIssues(parsed.error, `${path.basename(file)}: `));
  const baseDir = file ? path.dirname(path.resolve(file)) : process.cwd();
  const config = { ...parsed.data, file: file ? path.resolve(file) : '', baseDir, databaseUrl: env.DATABASE_URL || undefined };
  const names = new Set<string>();
  for (const [i, c] of config.categories.entries()) {
    if (names.has(c.name)) throw new ValidationError(`invalid configuration in ${file}`, [`categories.${i}.name: duplicate category "${c.name}"`]);
    names.add(c.name);
  }
  return deepFreeze(config);
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseConfig(parseYaml(text, file), file, env);
}

/** Resolves a config path (relative to the config file's directory). */
export function resolvePath(config: Pick<Config, 'baseDir'>, p: string): string {
  return path.resolve(config.baseDir, p);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
