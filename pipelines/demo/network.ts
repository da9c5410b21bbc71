// The demo mirror network: a dozen sites on six continents, public and private
// hosts, netblocks (the ranges are in the right country in the bundled GeoLite2
// data, so selection behaves as it would for real clients), an ASN host, an
// Internet2 host and a countries_allowed host. Every host is served by the
// simulated network (pipelines/simnet/) under http://127.0.0.1:DEMO_MIRROR_PORT/<host>/,
// acting out its `behaviour`. Nothing here needs the network.
import fs from 'node:fs';
import type { HostEntry, SiteFile } from '../registry/schema.ts';
import { writeSiteFiles } from '../registry/export.ts';
import { registryFiles } from '../registry/load.ts';

/** Default port of the simulated mirrors (`mirrorsmith demo --mirror-port` picks another when it is taken). */
export const DEMO_MIRROR_PORT = 18631;
/** The simulated rsync daemon listens on the next port. */
export const DEMO_RSYNC_PORT = DEMO_MIRROR_PORT + 1;

/**
 * How the simulated mirror acts: up to date; one or three master updates behind;
 * missing a directory the master has; not answering at all.
 */
export type DemoBehaviour = 'fresh' | 'stale-1' | 'stale-3' | 'missing-dir' | 'dead';

export interface DemoHost {
  name: string;
  country: string;
  bandwidth_mbps: number;
  behaviour: DemoBehaviour;
  private?: boolean;
  internet2?: boolean;
  internet2_clients?: boolean;
  asn?: number;
  asn_clients?: boolean;
  countries_allowed?: string[];
  netblocks?: string[];
  acl_ips?: string[];
  max_connections?: number;
  /** Also offer an rsync:// URL (crawled with rsync --list-only). */
  rsync?: boolean;
  comment?: string;
}

export interface DemoSite {
  site: string;
  org_url: string;
  private?: boolean;
  admins: string[];
  comment: string;
  hosts: DemoHost[];
}

export const DEMO_SITES: readonly DemoSite[] = Object.freeze([
  {
    site: 'pinecone-university',
    org_url: 'https://www.pinecone.example.edu/',
    admins: ['jdoe'],
    comment: 'Research university on Internet2; also serves I2 clients in the US',
    hosts: [
      { name: 'mirror.pinecone.example.edu', country: 'US', bandwidth_mbps: 10000, behaviour: 'fresh', internet2: true, internet2_clients: true, asn: 9, netblocks: ['128.2.0.0/16', '2620:0:2d0::/48'], acl_ips: ['128.2.10.20'], rsync: true, max_connections: 20 },
      { name: 'mirror2.pinecone.example.edu', country: 'US', bandwidth_mbps: 1000, behaviour: 'stale-1', netblocks: ['128.2.0.0/16'] },
    ],
  },
  {
    site: 'cablenet-us',
    org_url: 'https://www.cablenet.example.com/',
    admins: ['netops'],
    comment: 'ISP mirror serving its whole ASN',
    hosts: [{ name: 'mirror.cablenet.example.com', country: 'US', bandwidth_mbps: 100000, behaviour: 'fresh', asn: 7922, asn_clients: true, rsync: true, max_connections: 50 }],
  },
  {
    site: 'frankenland-uni',
    org_url: 'https://www.frankenland.example.de/',
    admins: ['mmueller'],
    comment: 'University computing centre',
    hosts: [
      { name: 'ftp.frankenland.example.de', country: 'DE', bandwidth_mbps: 10000, behaviour: 'fresh', netblocks: ['131.188.0.0/16', '2001:638:a000::/37'], acl_ips: ['131.188.3.4', 'rsync.frankenland.example.de'], rsync: true },
    ],
  },
  {
    site: 'elbe-industries',
    org_url: 'https://www.elbe-industries.example/',
    private: true,
    admins: ['it-ops'],
    comment: 'Private mirror for the company network only',
    hosts: [{ name: 'mirror.internal.elbe-industries.example', country: 'DE', bandwidth_mbps: 1000, behaviour: 'fresh', private: true, netblocks: ['141.76.0.0/16', 'nat-gw.elbe-industries.example'] }],
  },
  {
    site: 'rhone-net',
    org_url: 'https://www.rhone-net.example.fr/',
    admins: ['lbernard'],
    comment: 'Regional network; falls behind now and then',
    hosts: [{ name: 'miroir.rhone-net.example.fr', country: 'FR', bandwidth_mbps: 1000, behaviour: 'stale-3', netblocks: ['193.48.0.0/16', '2001:660::/32'] }],
  },
  {
    site: 'thames-hosting',
    org_url: 'https://www.thames-hosting.example.co.uk/',
    admins: ['asmith'],
    comment: 'Commercial host, two mirrors',
    hosts: [
      { name: 'mirror.thames-hosting.example.co.uk', country: 'GB', bandwidth_mbps: 1000, behaviour: 'fresh', netblocks: ['81.2.64.0/18', '2001:630::/32'] },
      { name: 'mirror2.thames-hosting.example.co.uk', country: 'GB', bandwidth_mbps: 1000, behaviour: 'missing-dir', comment: 'partial sync excluding some directories' },
    ],
  },
  {
    site: 'sakura-ix',
    org_url: 'https://www.sakura-ix.example.jp/',
    admins: ['tanaka'],
    comment: 'Exchange-point mirror, dual stack',
    hosts: [{ name: 'ftp.sakura-ix.example.jp', country: 'JP', bandwidth_mbps: 10000, behaviour: 'fresh', netblocks: ['133.11.0.0/16', '2001:200::/32'], rsync: true }],
  },
  {
    site: 'campinas-uni',
    org_url: 'https://www.campinas.example.br/',
    admins: ['psilva'],
    comment: 'University mirror',
    hosts: [
      { name: 'mirror.campinas.example.br', country: 'BR', bandwidth_mbps: 1000, behaviour: 'fresh', netblocks: ['143.106.0.0/16', '2001:12d0::/32'] },
      { name: 'espelho.campinas.example.br', country: 'BR', bandwidth_mbps: 100, behaviour: 'stale-1' },
    ],
  },
  {
    site: 'southern-cross-net',
    org_url: 'https://www.southern-cross.example.au/',
    admins: ['bwilson'],
    comment: 'National research network mirror',
    hosts: [{ name: 'mirror.southern-cross.example.au', country: 'AU', bandwidth_mbps: 10000, behaviour: 'fresh', netblocks: ['203.5.0.0/16', '2001:388::/32'] }],
  },
  {
    site: 'cape-academic',
    org_url: 'https://www.cape-academic.example.za/',
    admins: ['nmokoena'],
    comment: 'Academic network mirror',
    hosts: [{ name: 'mirror.cape-academic.example.za', country: 'ZA', bandwidth_mbps: 100, behaviour: 'fresh', netblocks: ['196.21.0.0/16', '2001:4200::/32'] }],
  },
  {
    site: 'galil-net',
    org_url: 'https://www.galil-net.example.il/',
    admins: ['dlevi'],
    comment: 'Serves Israeli users only (countries_allowed)',
    hosts: [{ name: 'mirror.galil-net.example.il', country: 'IL', bandwidth_mbps: 1000, behaviour: 'fresh', countries_allowed: ['IL'], netblocks: ['132.64.0.0/16', '2001:bf8::/32'] }],
  },
  {
    site: 'qinghe-uni',
    org_url: 'https://www.qinghe.example.cn/',
    admins: ['wli'],
    comment: 'University open-source mirror',
    hosts: [{ name: 'mirrors.qinghe.example.cn', country: 'CN', bandwidth_mbps: 10000, behaviour: 'fresh', netblocks: ['166.111.0.0/16', '2402:f000::/32'], rsync: true }],
  },
  {
    site: 'deccan-institute',
    org_url: 'https://www.deccan.example.in/',
    admins: ['rkumar'],
    comment: 'Small mirror on a slow link; currently down',
    hosts: [{ name: 'mirror.deccan.example.in', country: 'IN', bandwidth_mbps: 10, behaviour: 'dead', netblocks: ['14.139.0.0/16'] }],
  },
  {
    site: 'fraser-uni',
    org_url: 'https://www.fraser.example.ca/',
    admins: ['gtremblay'],
    comment: 'University mirror',
    hosts: [{ name: 'mirror.fraser.example.ca', country: 'CA', bandwidth_mbps: 1000, behaviour: 'fresh', netblocks: ['137.82.0.0/16', '2001:410::/32'] }],
  },
] satisfies DemoSite[]);

/** Every demo host with its site and behaviour, for the simulated network. */
export function demoHosts(): Array<DemoHost & { site: string }> {
  return DEMO_SITES.flatMap((s) => s.hosts.map((h) => ({ ...h, site: s.site })));
}

/** The demo network as registry site files, URLs pointing at the simulated network. */
export function demoSiteFiles(categories: ReadonlyArray<{ name: string; topdir: string }>, httpPort = DEMO_MIRROR_PORT): SiteFile[] {
  return DEMO_SITES.map((s) => ({
    site: s.site,
    org_url: s.org_url,
    private: s.private ?? false,
    admin_active: true,
    user_active: true,
    admins: [...s.admins],
    comment: s.comment,
    hosts: s.hosts.map(
      (h): HostEntry => ({
        name: h.name,
        country: h.country,
        bandwidth_mbps: h.bandwidth_mbps,
        private: h.private ?? false,
        internet2: h.internet2 ?? false,
        internet2_clients: h.internet2_clients ?? false,
        ...(h.asn !== undefined ? { asn: h.asn } : {}),
        asn_clients: h.asn_clients ?? false,
        countries_allowed: [...(h.countries_allowed ?? [])],
        netblocks: [...(h.netblocks ?? [])],
        acl_ips: [...(h.acl_ips ?? [])],
        max_connections: h.max_connections ?? 10,
        admin_active: true,
        user_active: true,
        comment: h.comment ?? '',
        categories: Object.fromEntries(
          categories.map((c) => {
            const top = c.topdir.replace(/^\/+|\/+$/g, '');
            const urls = [`http://127.0.0.1:${httpPort}/${h.name}/${top}/`];
            if (h.rsync) urls.push(`rsync://127.0.0.1:${httpPort + 1}/${h.name}/${top}/`);
            return [c.name, { always_up2date: false, urls, private_urls: [] }];
          }),
        ),
      }),
    ),
  }));
}

/**
 * Writes the demo registry into `dir` once: an existing registry (any *.yaml there)
 * is left alone, so an admin's edits to the demo survive `npm start`.
 */
export function writeDemoRegistry(dir: string, categories: ReadonlyArray<{ name: string; topdir: string }>, httpPort = DEMO_MIRROR_PORT): { written: string[]; existed: boolean } {
  if (fs.existsSync(dir) && registryFiles(dir).length > 0) return { written: [], existed: true };
  const { written } = writeSiteFiles(dir, demoSiteFiles(categories, httpPort), 'demo network written by mirrorsmith demo; hosts are served by the simulated network on 127.0.0.1');
  return { written, existed: false };
}
