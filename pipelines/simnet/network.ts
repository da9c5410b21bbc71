// Stands up a simulated mirror network on loopback with the real daemons: one
// nginx (a server per mirror, each on its own port, IPv4 and/or IPv6), one rsync
// daemon (a module per mirror) and one vsftpd per mirror tree. Mirrors get names
// (`<name>`) resolved by a static resolver to 127.0.0.1 and/or ::1, URLs per
// protocol, and a behaviour (fresh, stale-k, missing-dir, dead).
import fs from 'node:fs';
import path from 'node:path';
import type { Queryable } from '../core/db.ts';
import { staticResolver, type Addresses, type Resolver } from '../net/dns.ts';
import { freePorts, openUp, startFtpSim, startNginxSim, startRsyncSim, type Managed } from './daemons.ts';
import { buildVariant, type MasterTrees, type SimBehaviour } from './trees.ts';

export type SimProtocol = 'http' | 'rsync' | 'ftp';

export interface SimMirror {
  /** Host name, e.g. `m1.sim.test` (resolved by the network's resolver). */
  name: string;
  behaviour: SimBehaviour;
  protocols: readonly SimProtocol[];
  /** Address families the mirror answers on (default IPv4 only). */
  families?: readonly (4 | 6)[];
  /** Families the name resolves to (default: `families`); a family resolved but not served is unreachable over it. */
  resolvesTo?: readonly (4 | 6)[];
}

export interface SimNetworkOptions {
  master: MasterTrees;
  workDir: string;
  mirrors: readonly SimMirror[];
  tools: { nginx?: string | null; rsync?: string | null; vsftpd?: string | null };
  /** Directory a missing-dir mirror lacks. */
  missingDir?: string;
}

export interface SimNetwork {
  /** URLs of each mirror's category top, per protocol. */
  urls: Map<string, string[]>;
  resolver: Resolver;
  trees: Map<SimBehaviour, string>;
  stop(): Promise<void>;
}

const V4 = '127.0.0.1';
const V6 = '::1';

export async function startSimNetwork(opts: SimNetworkOptions): Promise<SimNetwork> {
  fs.mkdirSync(opts.workDir, { recursive: true });
  openUp(opts.workDir);
  for (const d of [opts.master.current, ...opts.master.previous]) openUp(d);
  const started: Managed[] = [];
  const stop = async () => {
    for (const m of started.reverse()) await m.stop().catch(() => {});
  };
  try {
    const trees = new Map<SimBehaviour, string>();
    for (const b of new Set(opts.mirrors.map((m) => m.behaviour))) {
      if (b !== 'dead') trees.set(b, buildVariant(opts.master, b, path.join(opts.workDir, 'trees', b), { missingDir: opts.missingDir }));
    }
    const urls = new Map<string, string[]>(opts.mirrors.map((m) => [m.name, []]));
    // Every port this network uses, distinct (a dead mirror's port must stay unanswered).
    const pool = await freePorts(opts.mirrors.length * 3 + 2);
    const freePort = async () => pool.pop()!;
    const table: Record<string, Addresses> = {};
    for (const m of opts.mirrors) {
      const fams = m.resolvesTo ?? m.families ?? [4];
      table[m.name.toLowerCase()] = { v4: fams.includes(4) ? [V4] : [], v6: fams.includes(6) ? [V6] : [] };
    }

    // http: one nginx, a server per live mirror and family; dead mirrors point at a closed port.
    const http = opts.mirrors.filter((m) => m.protocols.includes('http'));
    if (http.length) {
      const servers = [];
      for (const m of http) {
        const port = await freePort();
        urls.get(m.name)!.push(`http://${m.name}:${port}/linux/`);
        if (m.behaviour === 'dead') continue;
        for (const fam of m.families ?? [4]) servers.push({ address: fam === 6 ? V6 : V4, port, root: trees.get(m.behaviour)!, extra: 'rewrite ^/linux/(.*)$ /$1 break;' });
      }
      if (servers.length) {
        if (!opts.tools.nginx) throw new Error('simnet: nginx is needed for http mirrors');
        started.push(await startNginxSim(opts.tools.nginx, path.join(opts.workDir, 'nginx'), servers));
      }
    }

    // rsync: one daemon, one module per live mirror.
    const rsync = opts.mirrors.filter((m) => m.protocols.includes('rsync'));
    if (rsync.length) {
      const live = rsync.filter((m) => m.behaviour !== 'dead');
      const port = await freePort();
      const deadPort = await freePort();
      for (const m of rsync) urls.get(m.name)!.push(`rsync://${m.name}:${m.behaviour === 'dead' ? deadPort : port}/${moduleName(m.name)}/`);
      if (live.length) {
        if (!opts.tools.rsync) throw new Error('simnet: rsync is needed for rsync mirrors');
        started.push(await startRsyncSim(opts.tools.rsync, path.join(opts.workDir, 'rsyncd'), V4, port, live.map((m) => ({ name: moduleName(m.name), path: trees.get(m.behaviour)! }))));
      }
    }

    // ftp: a vsftpd per live mirror (anonymous root = its tree, listed at /).
    for (const m of opts.mirrors.filter((x) => x.protocols.includes('ftp'))) {
      const port = await freePort();
      urls.get(m.name)!.push(`ftp://${m.name}:${port}/`);
      if (m.behaviour === 'dead') continue;
      if (!opts.tools.vsftpd) throw new Error('simnet: vsftpd is needed for ftp mirrors');
      // One passive port from the same pool: the crawler's ftp session is sequential.
      const pasv = await freePort();
      started.push(await startFtpSim(opts.tools.vsftpd, path.join(opts.workDir, 'ftp', moduleName(m.name)), V4, port, trees.get(m.behaviour)!, { min: pasv, max: pasv }));
    }
    return { urls, resolver: staticResolver(table, null), trees, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export const moduleName = (host: string) => host.replace(/[^A-Za-z0-9_-]/g, '_');

/**
 * Registers mirrors as active public hosts carrying `categoryId` with the given URLs
 * (what `registry apply` writes). Returns host ids by name.
 */
export async function registerSimHosts(
  db: Queryable,
  categoryId: number,
  hosts: ReadonlyArray<{ name: string; urls: readonly string[]; site?: string; alwaysUp2date?: boolean }>,
): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  for (const h of hosts) {
    const site = h.site ?? `site-${h.name}`;
    const s = await db.query<{ id: number }>(
      `INSERT INTO site (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id`,
      [site],
    );
    const r = await db.query<{ id: number }>(
      `INSERT INTO host (site_id, name, country) VALUES ($1, $2, 'DE') ON CONFLICT (name) DO UPDATE SET site_id = EXCLUDED.site_id RETURNING id`,
      [s.rows[0]!.id, h.name],
    );
    const hostId = r.rows[0]!.id;
    const hc = await db.query<{ id: number }>(
      `INSERT INTO host_category (host_id, category_id, always_up2date) VALUES ($1, $2, $3)
       ON CONFLICT (host_id, category_id) DO UPDATE SET always_up2date = EXCLUDED.always_up2date RETURNING id`,
      [hostId, categoryId, h.alwaysUp2date ?? false],
    );
    await db.query('DELETE FROM host_category_url WHERE host_category_id = $1', [hc.rows[0]!.id]);
    for (const u of h.urls) await db.query('INSERT INTO host_category_url (host_category_id, url) VALUES ($1, $2)', [hc.rows[0]!.id, u]);
    ids.set(h.name, hostId);
  }
  return ids;
}
