// The registry file format: one YAML file per site. Field names are public
// interface (README, docs/registry.schema.json). This module is pure: it checks
// shapes and values, normalizes netblocks and reports every problem with the file,
// the site/host and the field path.
import { Address4, Address6 } from 'ip-address';
import { z } from 'zod';
import { isCountryCode } from '../core/countries.ts';

export const URL_SCHEMES = ['http', 'https', 'ftp', 'rsync'] as const;

const SITE_NAME = /^[a-z0-9][a-z0-9.-]*$/;
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
// Characters that would be dangerous in nginx config, HTML, shell or rsync ACLs.
const URL_FORBIDDEN = /[\s'"`;{}$\\<>]/;

/** A lowercase DNS name: labels of letters, digits and inner hyphens; not all-numeric. */
export function isDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = (name.endsWith('.') ? name.slice(0, -1) : name).split('.');
  if (!labels.every((l) => DNS_LABEL.test(l))) return false;
  return !/^[0-9]+$/.test(labels[labels.length - 1]!);
}

export function isIp(s: string): boolean {
  return !s.includes('/') && (Address4.isValid(s) || Address6.isValid(s));
}

/** Why a URL is refused, or undefined when it is acceptable. */
export function urlProblem(url: string): string | undefined {
  const bad = URL_FORBIDDEN.exec(url);
  if (bad) return `must not contain ${describeChar(bad[0])}`;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  if (!scheme) return 'is not an absolute URL (expected scheme://host/path)';
  if (!(URL_SCHEMES as readonly string[]).includes(scheme)) return `scheme "${scheme}" not allowed (${URL_SCHEMES.join(', ')})`;
  if (scheme !== url.slice(0, scheme.length)) return `scheme "${url.slice(0, scheme.length)}" must be lowercase`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'is not a valid URL';
  }
  if (!url.startsWith(`${scheme}://`)) return 'is not a valid URL (expected scheme://host/path)';
  if (u.username || u.password || url.slice(scheme.length + 3).split('/')[0]!.includes('@')) return 'must not contain credentials (user:password@)';
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  if (!host) return 'has no host';
  if (!isDnsName(host.toLowerCase()) && !isIp(host)) return `host "${host}" is not a DNS name or an IP address`;
  if (u.search || u.hash || url.includes('?') || url.includes('#')) return 'must not have a query or fragment';
  return undefined;
}

function describeChar(c: string): string {
  if (c === '\n' || c === '\r') return 'a newline';
  if (/\s/.test(c)) return 'whitespace';
  if (c === '"' || c === "'" || c === '`') return 'quotes';
  return `"${c}"`;
}

export interface NormalizedNetblock {
  kind: 'cidr' | 'dns';
  value: string;
  /** Set when the input had host bits set (the value is then the network address). */
  warning?: string;
}

/**
 * A CIDR normalized to its network address (ip-address), a bare IP as /32 or /128,
 * or a DNS name (resolved at build time, e.g. a NAT gateway). Throws with the reason.
 */
export function normalizeNetblock(input: string): NormalizedNetblock {
  const s = input.trim();
  if (s !== input) throw new Error('must not contain whitespace');
  const looksIp = s.includes(':') || /^[0-9./]+$/.test(s);
  if (!looksIp) {
    if (isDnsName(s)) return { kind: 'dns', value: s };
    throw new Error(`"${input}" is neither a CIDR, an IP address nor a DNS name`);
  }
  const [addr, prefix, extra] = s.split('/');
  if (extra !== undefined || addr === undefined) throw new Error(`"${input}" is not a valid CIDR`);
  if (prefix !== undefined && !/^[0-9]{1,3}$/.test(prefix)) throw new Error(`"${input}" has an invalid prefix length`);
  const v4 = Address4.isValid(addr);
  if (!v4 && !Address6.isValid(addr)) throw new Error(`"${input}" is not a valid IP address or CIDR`);
  const bits = prefix === undefined ? (v4 ? 32 : 128) : Number(prefix);
  if (bits > (v4 ? 32 : 128)) throw new Error(`"${input}" has a prefix length above ${v4 ? 32 : 128}`);
  const value = v4 ? `${new Address4(`${addr}/${bits}`).startAddress().address}/${bits}` : `${new Address6(`${addr}/${bits}`).startAddress().correctForm()}/${bits}`;
  const given = v4 ? `${addr}/${bits}` : `${new Address6(addr).correctForm()}/${bits}`;
  if (given !== value) return { kind: 'cidr', value, warning: `"${input}" has host bits set; normalized to ${value}` };
  return { kind: 'cidr', value };
}

const dnsName = (what: string) => z.string().refine(isDnsName, { message: `${what} is not a DNS name (lowercase letters, digits, "-" and ".")` });

const countryCode = z
  .string()
  .regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code in capitals (e.g. DE, US)')
  .superRefine((v, ctx) => {
    if (/^[A-Z]{2}$/.test(v) && !isCountryCode(v)) ctx.addIssue({ code: 'custom', message: `"${v}" is not an ISO 3166-1 alpha-2 country code (e.g. DE, US)` });
  });

const registryUrl = z
  .string()
  .superRefine((url, ctx) => {
    const problem = urlProblem(url);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  // For the JSON Schema only; the refinement above is the real check.
  .meta({ pattern: "^(https?|ftp|rsync)://[^\\s'\"`;{}$\\\\<>@/]+(/[^\\s'\"`;{}$\\\\<>?#]*)?$", description: 'http, https, ftp or rsync URL; no credentials, whitespace, quotes or ;{}$\\<>' });

const netblock = z.string().superRefine((s, ctx) => {
  try {
    normalizeNetblock(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const aclIp = z.string().superRefine((v, ctx) => {
  if (!isIp(v) && !isDnsName(v)) ctx.addIssue({ code: 'custom', message: `"${v}" is neither an IP address nor a DNS name` });
});

const freeText = z.string().max(4000).refine((s) => !/[\0]/.test(s), 'must not contain NUL');

export const HostCategorySchema = z
  .object({
    always_up2date: z.boolean().default(false).describe('trust this host to be current without crawling (MirrorManager always_up2date)'),
    urls: z.array(registryUrl).default([]).describe('URLs of the category top on this host (http, https, ftp, rsync)'),
    private_urls: z.array(registryUrl).default([]).describe('listed only to other mirrors, never to clients'),
  })
  .strict();

export const HostSchema = z
  .object({
    name: dnsName('host name').describe('unique across the registry; a DNS name'),
    country: countryCode.optional().describe('ISO 3166-1 alpha-2; GeoIP of the host otherwise'),
    bandwidth_mbps: z.number().int('must be an integer').positive('must be greater than 0').default(100).describe('uplink in Mbit/s; selection clamps to 1..10000'),
    private: z.boolean().default(false),
    internet2: z.boolean().default(false),
    internet2_clients: z.boolean().default(false),
    asn: z.number().int().positive().max(4294967295).optional(),
    asn_clients: z.boolean().default(false),
    countries_allowed: z.array(countryCode).default([]).describe('empty = all'),
    netblocks: z.array(netblock).default([]).describe('CIDRs (normalized), bare IPs (/32, /128) or DNS names; required for private hosts'),
    acl_ips: z.array(aclIp).default([]).describe('IP addresses or DNS names put into /rsync_acl'),
    max_connections: z.number().int('must be an integer').positive('must be greater than 0').default(1),
    admin_active: z.boolean().default(true),
    user_active: z.boolean().default(true),
    comment: freeText.default(''),
    categories: z.record(z.string().min(1), HostCategorySchema).default({}).describe('category name (from the config) → URLs'),
  })
  .strict();

export const SiteSchema = z
  .object({
    site: z.string().regex(SITE_NAME, 'site name must match [a-z0-9][a-z0-9.-]*').max(200).describe('unique; [a-z0-9][a-z0-9.-]*'),
    org_url: registryUrl.optional(),
    private: z.boolean().default(false),
    admin_active: z.boolean().default(true),
    user_active: z.boolean().default(true),
    admins: z.array(z.string().min(1).max(200).regex(/^[^\s'"`;{}$\\<>]+$/, 'admin account names have no whitespace, quotes or ;{}$\\<>')).default([]),
    comment: freeText.default(''),
    hosts: z.array(HostSchema).default([]),
  })
  .strict()
  .describe('mirrorsmith registry: one file per site');

export type SiteFile = z.infer<typeof SiteSchema>;
export type HostEntry = z.infer<typeof HostSchema>;
export type HostCategoryEntry = z.infer<typeof HostCategorySchema>;

/** JSON Schema of one registry file (what `docs/registry.schema.json` holds). */
export function registryJsonSchema(): Record<string, unknown> {
  return {
    ...(z.toJSONSchema(SiteSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>),
    $id: 'https://mirrorsmith.invalid/registry.schema.json',
    title: 'mirrorsmith registry site file',
  };
}

/** `["hosts", 0, "categories", "Fedora Linux", "urls", 1]` → `hosts[0].categories["Fedora Linux"].urls[1]`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (typeof p === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(p)) out += out ? `.${p}` : p;
    else out += `[${JSON.stringify(String(p))}]`;
  }
  return out || '(top level)';
}

export interface SiteDoc {
  /** File name as shown in messages, e.g. `registry/uni.yaml`. */
  file: string;
  data: unknown;
}

export interface ValidatedRegistry {
  sites: Array<SiteFile & { file: string }>;
  warnings: string[];
  errors: string[];
}

/**
 * Validates all site documents together (duplicates span files) and normalizes
 * netblocks. `categories` are the category names the config defines.
 */
export function validateSites(docs: SiteDoc[], categories: readonly string[]): ValidatedRegistry {
  const errors: string[] = [];
  const warnings: string[] = [];
  const sites: Array<SiteFile & { file: string }> = [];
  const siteSeen = new Map<string, string>();
  const hostSeen = new Map<string, string>();
  const known = new Set(categories);

  for (const doc of docs) {
    if (doc.data === null || doc.data === undefined) {
      errors.push(`${doc.file}: (top level): file is empty (expected a site mapping with "site:" and "hosts:")`);
      continue;
    }
    const parsed = SiteSchema.safeParse(doc.data, { reportInput: true });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) errors.push(...formatIssue(doc.file, doc.data, issue));
      continue;
    }
    const site = parsed.data;
    const where = (hi?: number) => `${doc.file}: site ${site.site}${hi === undefined ? '' : `, host ${site.hosts[hi]!.name}`}`;
    const before = errors.length;
    const prevFile = siteSeen.get(site.site);
    if (prevFile) errors.push(`${where()}: site: duplicate site name "${site.site}" (also in ${prevFile})`);
    else siteSeen.set(site.site, doc.file);

    const hosts: HostEntry[] = [];
    for (const [hi, host] of site.hosts.entries()) {
      const prevHost = hostSeen.get(host.name);
      if (prevHost) errors.push(`${where(hi)}: hosts[${hi}].name: duplicate host name "${host.name}" (also in ${prevHost}); host names are unique across the registry`);
      else hostSeen.set(host.name, `${doc.file} site ${site.site}`);
      if ((host.private || site.private) && host.netblocks.length === 0) {
        errors.push(`${where(hi)}: hosts[${hi}].netblocks: a private ${host.private ? 'host' : "site's host"} needs at least one netblock (private hosts are listed only to clients inside their netblocks)`);
      }
      const categoriesOut: Record<string, HostCategoryEntry> = {};
      for (const [name, c] of Object.entries(host.categories)) {
        const field = `hosts[${hi}].categories[${JSON.stringify(name)}]`;
        if (!known.has(name)) errors.push(`${where(hi)}: ${field}: unknown category (the config defines: ${[...known].join(', ') || 'none'})`);
        const both = c.urls.filter((u) => c.private_urls.includes(u));
        for (const u of both) errors.push(`${where(hi)}: ${field}.private_urls: ${u} is also listed in urls (a URL is either public or private)`);
        categoriesOut[name] = { always_up2date: c.always_up2date, urls: [...new Set(c.urls)], private_urls: [...new Set(c.private_urls)] };
      }
      const netblocks: string[] = [];
      for (const [ni, nb] of host.netblocks.entries()) {
        const n = normalizeNetblock(nb);
        if (n.warning) warnings.push(`${where(hi)}: hosts[${hi}].netblocks[${ni}]: ${n.warning}`);
        if (netblocks.includes(n.value)) warnings.push(`${where(hi)}: hosts[${hi}].netblocks[${ni}]: duplicate netblock ${n.value} ignored`);
        else netblocks.push(n.value);
      }
      hosts.push({ ...host, netblocks, acl_ips: [...new Set(host.acl_ips)], countries_allowed: [...new Set(host.countries_allowed)], categories: categoriesOut });
    }
    if (errors.length === before) sites.push({ ...site, admins: [...new Set(site.admins)], hosts, file: doc.file });
  }
  sites.sort((a, b) => a.site.localeCompare(b.site));
  return { sites, warnings, errors };
}

function formatIssue(file: string, data: unknown, issue: z.core.$ZodIssue): string[] {
  const d = data as { site?: unknown; hosts?: Array<{ name?: unknown }> };
  let who = typeof d?.site === 'string' ? `site ${d.site}` : 'site ?';
  const hi = issue.path[0] === 'hosts' && typeof issue.path[1] === 'number' ? issue.path[1] : undefined;
  if (hi !== undefined) {
    const name = Array.isArray(d?.hosts) ? d.hosts[hi]?.name : undefined;
    who += `, host ${typeof name === 'string' ? name : `#${hi}`}`;
  }
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `${file}: ${who}: ${formatPath([...issue.path, k])}: unknown field "${k}"`);
  }
  let msg = issue.message;
  if (issue.code === 'invalid_type') msg = `expected ${issue.expected === 'int' ? 'an integer' : issue.expected}${issue.input === undefined ? ' (required)' : `, got ${describeValue(issue.input)}`}`;
  return [`${file}: ${who}: ${formatPath(issue.path)}: ${msg}`];
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}
