// /rsync_acl and the rsyncd.conf snippet: the addresses of every active mirror's
// acl_ips (hostnames resolved at build time, every address they resolve to), one per
// line, normalized, unique, sorted IPv4 then IPv6. Names that do not resolve go to the
// build report, never into the file. The resolver is passed in, so tests fake DNS at
// the edge; the sorting and formatting core is pure.
import dns from 'node:dns/promises';
import { Address4, Address6 } from 'ip-address';
import { mapLimited } from '../core/concurrency.ts';
import type { Emitter } from '../core/generation.ts';
import type { PublicData } from './data.ts';
import { factsFor } from './emitters.ts';
import { cmp, registryActive } from './model.ts';

/** Every address a DNS name resolves to (A and AAAA); rejects when it resolves to none. */
export type Resolver = (name: string, signal: AbortSignal) => Promise<string[]>;

export const systemResolver: Resolver = async (name, signal) => {
  const lookup = dns.lookup(name, { all: true, verbatim: true });
  const aborted = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason ?? new Error('aborted')), { once: true });
  });
  const found = await Promise.race([lookup, aborted]);
  return found.map((a) => a.address);
};

export interface AclEntry {
  host: string;
  value: string;
}

export interface AclAddress {
  family: 4 | 6;
  /** Normalized text: `192.0.2.10`, `2001:db8::10`, `198.51.100.0/28`. */
  text: string;
  start: bigint;
  prefix: number;
}

/** Parses an address or CIDR (host bits cleared); null when it is neither. */
export function parseAddress(raw: string): AclAddress | null {
  const s = raw.trim();
  if (!/^[0-9A-Fa-f:./]+$/.test(s)) return null;
  try {
    if (s.includes(':')) {
      const a = new Address6(s);
      // IPv4-mapped IPv6 is the same host as its IPv4 address: list it once.
      if (a.is4() && a.subnetMask === 128) return parseAddress(a.to4().correctForm());
      const start = a.startAddress();
      const text = a.subnetMask === 128 ? start.correctForm() : `${start.correctForm()}/${a.subnetMask}`;
      return { family: 6, text, start: start.bigInt(), prefix: a.subnetMask };
    }
    const a = new Address4(s);
    const start = a.startAddress();
    const text = a.subnetMask === 32 ? start.correctForm() : `${start.correctForm()}/${a.subnetMask}`;
    return { family: 4, text, start: start.bigInt(), prefix: a.subnetMask };
  } catch {
    return null;
  }
}

const DNS_NAME = /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$/;

export function isDnsName(s: string): boolean {
  return DNS_NAME.test(s) && !/^[0-9.]+$/.test(s);
}

/** Unique, IPv4 before IPv6, numeric order, wider prefix first on a tie. */
export function sortAddresses(list: AclAddress[]): AclAddress[] {
  const unique = new Map<string, AclAddress>();
  for (const a of list) unique.set(a.text, a);
  return [...unique.values()].sort((a, b) => a.family - b.family || (a.start < b.start ? -1 : a.start > b.start ? 1 : 0) || a.prefix - b.prefix);
}

/** acl_ips of every mirror the site and host admins keep active (crawler-disabled ones too: they must be able to resync). */
export function aclEntries(data: PublicData): AclEntry[] {
  const sites = new Map(data.sites.map((s) => [s.id, s]));
  return data.hosts
    .filter((h) => {
      const site = sites.get(h.siteId);
      return site !== undefined && registryActive(h, site);
    })
    .flatMap((h) => h.aclIps.map((value) => ({ host: h.name, value })))
    .sort((a, b) => cmp(a.host, b.host) || cmp(a.value, b.value));
}

export interface AclResult {
  addresses: AclAddress[];
  /** One line per entry left out, naming the host and the reason. */
  notes: string[];
  resolvedNames: number;
}

export async function resolveAcl(
  entries: AclEntry[],
  resolve: Resolver,
  opts: { signal: AbortSignal; timeoutMs?: number; concurrency?: number },
): Promise<AclResult> {
  const addresses: AclAddress[] = [];
  const notes: string[] = [];
  const names: AclEntry[] = [];
  for (const e of entries) {
    const a = parseAddress(e.value);
    if (a) addresses.push(a);
    else if (isDnsName(e.value)) names.push(e);
    else notes.push(`${e.host}: acl entry ${JSON.stringify(e.value)} is neither an address nor a DNS name; left out`);
  }
  const timeoutMs = opts.timeoutMs ?? 5000;
  const results = await mapLimited(names, { concurrency: opts.concurrency ?? 16, signal: opts.signal }, async (e) => {
    // A referenced timer (AbortSignal.timeout's is not): a hung lookup must not let the process exit early.
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    try {
      return await resolve(e.value.replace(/\.$/, ''), AbortSignal.any([opts.signal, timeout.signal]));
    } finally {
      clearTimeout(timer);
    }
  });
  let resolvedNames = 0;
  for (const [i, r] of results.entries()) {
    const e = names[i]!;
    if (!r.ok) {
      notes.push(`${e.host}: acl name ${e.value} did not resolve (${r.error.message}); left out of rsync_acl`);
      continue;
    }
    const parsed = r.value.map(parseAddress).filter((a): a is AclAddress => a !== null && (a.family === 4 ? a.prefix === 32 : a.prefix === 128));
    if (parsed.length === 0) {
      notes.push(`${e.host}: acl name ${e.value} resolved to no usable address; left out of rsync_acl`);
      continue;
    }
    resolvedNames++;
    addresses.push(...parsed);
  }
  return { addresses: sortAddresses(addresses), notes: notes.sort(), resolvedNames };
}

export function rsyncAclText(addresses: AclAddress[]): string {
  return addresses.map((a) => a.text + '\n').join('');
}

/**
 * A `hosts allow` for rsyncd.conf: include it in a module with `&merge` or paste it.
 * rsyncd.conf joins lines ending in a backslash, so a long list stays readable.
 */
export function rsyncdSnippet(addresses: AclAddress[]): string {
  const head = [
    '# rsyncd.conf access list for the mirror network, generated by mirrorsmith.',
    '# Paste into each module that mirrors pull from (or `&merge` this file there).',
  ];
  if (addresses.length === 0) return [...head, '# no active mirror has acl_ips: nobody is allowed', 'hosts allow = 127.0.0.1', 'hosts deny = *', ''].join('\n');
  const lines: string[] = [];
  let cur = '';
  for (const a of addresses) {
    if (cur && cur.length + a.text.length > 70) {
      lines.push(cur);
      cur = '';
    }
    cur += (cur ? ' ' : '') + a.text;
  }
  lines.push(cur);
  return [...head, `hosts allow = ${lines.join(' \\\n    ')}`, 'hosts deny = *', ''].join('\n');
}

/** The emitter; `resolve` is the DNS edge (the system resolver unless a test passes a fake). */
export function rsyncAclEmitter(resolve: Resolver = systemResolver): Emitter {
  return {
    name: 'rsync-acl',
    async emit(ctx, gen) {
      const f = await factsFor(ctx);
      const entries = aclEntries(f.data);
      const acl = await resolveAcl(entries, resolve, { signal: ctx.signal });
      gen.write('rsync_acl', rsyncAclText(acl.addresses));
      gen.write('rsync_acl.conf', rsyncdSnippet(acl.addresses));
      return { counts: { rsyncAclAddresses: acl.addresses.length, rsyncAclNames: acl.resolvedNames, rsyncAclLeftOut: acl.notes.length }, notes: acl.notes };
    },
  };
}
