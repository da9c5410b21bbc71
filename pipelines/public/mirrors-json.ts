// mirrors.json: the public list's JSON twin for scripts. The zod schema below is the
// contract; docs/mirrors.schema.json is generated from it (z.toJSONSchema) and a test
// keeps the two equal and validates real output against it. Pure.
import { z } from 'zod';
import { continentOf } from '../core/countries.ts';
import { notServingReason, repoKey } from './publiclist.ts';
import { cmp, countryLabel, isListed, safeHref, servable, urlsByProtocol, type Facts } from './model.ts';

const Url = z.string().describe('a URL as registered; clients may be given it');
const Iso = z.string().describe('ISO 8601 timestamp (UTC)');

export const MirrorsJsonSchema = z
  .object({
    format: z.literal(1).describe('bumped on incompatible changes'),
    categories: z.array(
      z.object({
        name: z.string(),
        topdir: z.string(),
        repositories: z.number().int().min(0).describe('repositories clients can ask for in this category'),
        hosts: z.number().int().min(0).describe('public mirrors carrying the category'),
        fresh_hosts: z.number().int().min(0).describe('of those, mirrors up to date for every repository'),
      }).strict(),
    ),
    countries: z.array(
      z.object({
        code: z.string().regex(/^[A-Z]{2}$/),
        name: z.string(),
        continent: z.enum(['AF', 'AN', 'AS', 'EU', 'NA', 'OC', 'SA']).nullable(),
        hosts: z.number().int().min(1),
      }).strict(),
    ),
    sites: z.array(
      z.object({
        name: z.string(),
        url: z.string().nullable().describe('sponsor URL'),
        comment: z.string(),
        hosts: z.array(z.string()),
      }).strict(),
    ),
    hosts: z.array(
      z.object({
        name: z.string(),
        site: z.string(),
        country: z.string().regex(/^[A-Z]{2}$/).nullable(),
        continent: z.enum(['AF', 'AN', 'AS', 'EU', 'NA', 'OC', 'SA']).nullable(),
        bandwidth_mbps: z.number().int().min(1),
        internet2: z.boolean(),
        internet2_clients: z.boolean(),
        last_crawled: Iso.nullable(),
        serving: z.boolean().describe('false while the crawler or the liveness probe keeps it out of the lists'),
        not_serving_reason: z.string().nullable(),
        categories: z.array(
          z.object({
            name: z.string(),
            always_up2date: z.boolean(),
            urls: z.object({ https: z.array(Url), http: z.array(Url), ftp: z.array(Url), rsync: z.array(Url) }).strict(),
            repositories: z.number().int().min(0),
            up_to_date: z.array(z.string()).describe('"repo/arch" pairs the metalinks list this host for'),
          }).strict(),
        ),
      }).strict(),
    ),
  })
  .strict();

export type MirrorsJson = z.infer<typeof MirrorsJsonSchema>;

export function mirrorsJsonSchemaDocument(): object {
  return {
    $id: 'https://mirrorsmith.invalid/mirrors.schema.json',
    title: 'mirrorsmith mirrors.json',
    ...z.toJSONSchema(MirrorsJsonSchema, { target: 'draft-2020-12' }),
  };
}

export function mirrorsJson(f: Facts): MirrorsJson {
  const hosts = f.publicHosts.map((h) => {
    const reason = notServingReason(h);
    return {
      name: h.name,
      site: f.siteOf.get(h.siteId)!.name,
      country: h.country,
      continent: (h.country && continentOf(h.country)) || null,
      bandwidth_mbps: h.bandwidthMbps,
      internet2: h.internet2,
      internet2_clients: h.internet2Clients,
      last_crawled: h.lastCrawled ? h.lastCrawled.toISOString() : null,
      serving: reason === null,
      not_serving_reason: reason,
      categories: h.categories
        .map((hc) => {
          const cat = f.data.categories.find((c) => c.id === hc.categoryId)!;
          const repos = (f.reposByCategory.get(hc.categoryId) ?? []).filter(servable);
          const by = Object.fromEntries(urlsByProtocol(hc.urls).map((p) => [p.protocol, p.urls]));
          return {
            name: cat.name,
            always_up2date: hc.alwaysUp2date,
            urls: { https: by.https ?? [], http: by.http ?? [], ftp: by.ftp ?? [], rsync: by.rsync ?? [] },
            repositories: repos.length,
            up_to_date: repos.filter((r) => isListed(f, h.id, r.id)).map(repoKey),
          };
        })
        .sort((a, b) => cmp(a.name, b.name)),
    };
  });
  const countries = new Map<string, number>();
  for (const h of f.publicHosts) if (h.country) countries.set(h.country, (countries.get(h.country) ?? 0) + 1);
  return {
    format: 1,
    categories: [...f.data.categories]
      .sort((a, b) => cmp(a.name, b.name))
      .map((c) => {
        const repos = (f.reposByCategory.get(c.id) ?? []).filter(servable);
        const carrying = f.publicHosts.filter((h) => h.categories.some((hc) => hc.categoryId === c.id));
        return {
          name: c.name,
          topdir: c.topdir,
          repositories: repos.length,
          hosts: carrying.length,
          fresh_hosts: carrying.filter((h) => repos.length > 0 && repos.every((r) => isListed(f, h.id, r.id))).length,
        };
      }),
    countries: [...countries.entries()]
      .sort(([a], [b]) => cmp(a, b))
      .map(([code, n]) => ({ code, name: countryLabel(code), continent: continentOf(code) ?? null, hosts: n })),
    sites: f.data.sites
      .filter((s) => f.publicHosts.some((h) => h.siteId === s.id))
      .map((s) => ({ name: s.name, url: safeHref(s.orgUrl), comment: s.comment, hosts: f.publicHosts.filter((h) => h.siteId === s.id).map((h) => h.name) })),
    hosts,
  };
}
