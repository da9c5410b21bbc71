// `registry export`: the database back into registry files, in the same format
// `registry apply` reads (apply → export → apply is a no-op).
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { Queryable } from '../core/db.ts';
import { readRegistryState } from './apply.ts';
import type { HostEntry, SiteFile } from './schema.ts';

/** Registry-owned state as site files (CLI overrides exported as the values in effect). */
export async function exportSites(q: Queryable): Promise<SiteFile[]> {
  const state = await readRegistryState(q);
  return state.map(({ id: _id, hosts, ...site }) => ({ ...site, hosts: hosts.map(({ id: _hid, overrides: _o, ...h }) => h) }));
}

/** Field order as documented, optional fields only when set. */
export function siteToYaml(site: SiteFile, header?: string): string {
  const host = (h: HostEntry) => ({
    name: h.name,
    ...(h.country ? { country: h.country } : {}),
    bandwidth_mbps: h.bandwidth_mbps,
    private: h.private,
    internet2: h.internet2,
    internet2_clients: h.internet2_clients,
    ...(h.asn !== undefined ? { asn: h.asn } : {}),
    asn_clients: h.asn_clients,
    countries_allowed: h.countries_allowed,
    netblocks: h.netblocks,
    acl_ips: h.acl_ips,
    max_connections: h.max_connections,
    admin_active: h.admin_active,
    user_active: h.user_active,
    comment: h.comment,
    categories: Object.fromEntries(
      Object.entries(h.categories)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, c]) => [name, { always_up2date: c.always_up2date, urls: c.urls, private_urls: c.private_urls }]),
    ),
  });
  const doc = {
    site: site.site,
    ...(site.org_url ? { org_url: site.org_url } : {}),
    private: site.private,
    admin_active: site.admin_active,
    user_active: site.user_active,
    admins: site.admins,
    comment: site.comment,
    hosts: [...site.hosts].sort((a, b) => a.name.localeCompare(b.name)).map(host),
  };
  const body = YAML.stringify(doc, { lineWidth: 0 });
  return header ? `${header.split('\n').map((l) => `# ${l}`.trimEnd()).join('\n')}\n${body}` : body;
}

/** File name of a site's registry file. */
export function siteFileName(site: string): string {
  return `${site}.yaml`;
}

/**
 * Writes one file per site (temp + rename). Returns the written paths and any other
 * `*.yaml` files already in the directory, which a later apply would also read.
 */
export function writeSiteFiles(dir: string, sites: readonly SiteFile[], header?: string | ((site: SiteFile) => string)): { written: string[]; others: string[] } {
  fs.mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const site of sites) {
    const file = path.join(dir, siteFileName(site.site));
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, siteToYaml(site, typeof header === 'function' ? header(site) : header));
    fs.renameSync(tmp, file);
    written.push(file);
  }
  const names = new Set(written.map((f) => path.basename(f)));
  const others = fs
    .readdirSync(dir)
    .filter((n) => /\.ya?ml$/.test(n) && !names.has(n))
    .sort()
    .map((n) => path.join(dir, n));
  return { written, others };
}
