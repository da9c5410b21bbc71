// The mirror-admin guide (/mirroring/): how to mirror this project correctly,
// rendered from the configuration (rsync modules, categories, server URL) and the
// registry (how many mirrors there are), so it never drifts from what the
// pipeline actually checks.
import type { Config } from '../core/config.ts';
import type { Queryable } from '../core/db.ts';
import { UsageError } from '../core/errors.ts';
import type { Emitter } from '../core/generation.ts';
import YAML from 'yaml';
import { render } from '../public/render.ts';

export interface GuideModule {
  name: string;
  path: string;
  description: string;
  url: string;
  command: string;
}

export function guideModules(config: Pick<Config, 'mirroring' | 'categories'>): GuideModule[] {
  const m = config.mirroring;
  return m.modules.map((mod, i) => {
    let path = mod.path ?? '';
    if (mod.category !== undefined) {
      const cat = config.categories.find((c) => c.name === mod.category);
      if (!cat) throw new UsageError(`mirroring.modules.${i}.category: no category named "${mod.category}" in categories`);
      path = mod.path ?? cat.topdir;
    }
    const url = `rsync://${m.rsyncHost}/${mod.name}/`;
    const excludes = m.excludes.map((e) => `--exclude=${e}`).join(' ');
    return {
      name: mod.name,
      path: path || '(the whole tree)',
      description: mod.description,
      url,
      command: `rsync -aH --numeric-ids --delete --delete-delay --delay-updates ${excludes} ${url} /srv/mirror/${path ? path + '/' : ''}`.replace(/ +/g, ' '),
    };
  });
}

export const guideEmitter: Emitter = {
  name: 'mirroring-guide',
  async emit(ctx, gen) {
    const counts = await countMirrors(ctx.db);
    const config = ctx.config;
    const server = config.mirroring.serverUrl.replace(/\/?$/, '/');
    const modules = guideModules(config);
    const firstCategory = config.categories[0];
    const registryExample = [
      'site: example-university',
      'org_url: https://www.example.edu/',
      'admins: [alice]',
      'hosts:',
      '  - name: mirror.example.edu',
      '    country: DE',
      '    bandwidth_mbps: 1000',
      '    netblocks: ["192.0.2.0/24", "2001:db8::/32"]   # required for private mirrors',
      '    asn: 64500',
      '    acl_ips: [192.0.2.10]                        # gets /rsync_acl (pre-bitflip) access',
      '    categories:',
      ...config.categories.slice(0, 2).flatMap((c) => [`      ${c.name}:`, '        urls:', `          - https://mirror.example.edu/pub/${c.topdir}/`, `          - rsync://mirror.example.edu/pub/${c.topdir}/`]),
    ].join('\n');
    gen.write(
      'mirroring/index.html',
      render('mirroring', {
        title: 'Mirroring guide',
        base: '../',
        server,
        rsyncHost: config.mirroring.rsyncHost,
        contact: config.mirroring.contact,
        modules,
        hasModules: modules.length > 0,
        categories: config.categories.map((c) => ({ name: c.name, topdir: c.topdir })),
        publicMirrors: counts.public,
        privateMirrors: counts.private,
        registryExample,
        cronExample: [
          '# every 6 hours at :45, plus a random delay of up to 30 minutes to spread the load',
          `45 */6 * * * sleep $(shuf -i 0-1800 -n 1) && mirrorsmith last-sync --server ${server} --delta 25200 -q && ${modules[0]?.command ?? 'rsync …'}`,
        ].join('\n'),
        lastSyncExample: `mirrorsmith last-sync --server ${server} --category "${firstCategory?.name ?? 'Fedora Linux'}" --delta 86400`,
        reportExample: reportExample(config, server),
        nginxSnippet: NGINX_SNIPPET,
        apacheSnippet: APACHE_SNIPPET,
      }),
    );
    return { counts: { guideModules: modules.length } };
  },
};

/**
 * A report.yaml that `mirrorsmith report` accepts as is (the guide's test parses
 * it with the client's own schema): the first two categories' local copies.
 */
export function reportExample(config: Pick<Config, 'categories'>, server: string): string {
  const example = {
    server,
    site: 'example-university',
    host: 'mirror.example.edu',
    passwordFile: '/etc/mirrorsmith/report.password',
    // The schema wants at least one category: a placeholder when none is configured.
    categories: (config.categories.length ? config.categories.slice(0, 2) : [{ name: 'CATEGORY NAME', topdir: 'topdir' }]).map((c) => ({ name: c.name, path: `/srv/mirror/${c.topdir}` })),
  };
  return '# report.yaml: after each rsync, mirrorsmith report --config report.yaml\n' + YAML.stringify(example).trimEnd();
}

async function countMirrors(db: Queryable): Promise<{ public: number; private: number }> {
  const { rows } = await db.query<{ private: boolean; n: number }>(
    `SELECT (h.private OR s.private) AS private, count(*)::int AS n FROM host h JOIN site s ON s.id = h.site_id
      WHERE h.admin_active AND h.user_active AND s.admin_active AND s.user_active GROUP BY 1`,
  );
  return { public: rows.find((r) => !r.private)?.n ?? 0, private: rows.find((r) => r.private)?.n ?? 0 };
}

const NGINX_SNIPPET = `server {
    listen 80; listen [::]:80;
    server_name mirror.example.edu;
    root /srv/mirror;
    keepalive_timeout 65;
    sendfile on; tcp_nopush on;
    autoindex on;
    # packages and images are opaque bytes
    types { application/octet-stream rpm drpm iso img qcow2 raw; application/xml xml; }
    # repository metadata changes in place: make clients revalidate it
    location ~ /repodata/ { add_header Cache-Control "must-revalidate, max-age=60"; }
}`;

const APACHE_SNIPPET = `<VirtualHost *:80>
    ServerName mirror.example.edu
    DocumentRoot /srv/mirror
    KeepAlive On
    <Directory /srv/mirror>
        Options Indexes FollowSymLinks
        Require all granted
    </Directory>
    AddType application/octet-stream .rpm .drpm .iso .img .qcow2 .raw
    <LocationMatch "/repodata/">
        Header set Cache-Control "must-revalidate, max-age=60"
    </LocationMatch>
</VirtualHost>`;
