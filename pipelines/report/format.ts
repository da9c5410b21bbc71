// The private-mirror report: what `mirrorsmith report` PUTs and `ingest` reads.
// One schema for both ends, so a client and the server never disagree on it.
import { z } from 'zod';
import { HOST_NAME_RE, SITE_NAME_RE } from './htpasswd.ts';

export const REPORT_FORMAT = 'mirrorsmith-report/1';

/** A directory below the category top: relative, no `.`/`..` segments, no control characters. */
export const ReportDirSchema = z
  .string()
  .max(4096)
  .refine(
    (p) => p !== '' && !p.startsWith('/') && !p.endsWith('/') && !p.split('/').some((s) => s === '' || s === '.' || s === '..') && !/[\u0000-\u001f\u007f]/.test(p),
    'must be a relative directory path without empty, "." or ".." segments or control characters',
  );

export const Sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex sha256');

export const ReportCategorySchema = z
  .object({
    name: z.string().min(1).max(200),
    /** Every directory present in the local copy, relative to the category top. */
    directories: z.array(ReportDirSchema).max(5_000_000),
    /** Repository directory → sha256 of its repodata/repomd.xml. */
    repomd: z.record(ReportDirSchema, Sha256Schema),
  })
  .strict();

export const ReportSchema = z
  .object({
    format: z.literal(REPORT_FORMAT),
    site: z.string().regex(SITE_NAME_RE, 'must be a site name (a-z 0-9 . -)'),
    host: z.string().regex(HOST_NAME_RE, 'must be a host name (A-Z a-z 0-9 . -)'),
    generatedAt: z.iso.datetime({ offset: true }),
    /** Free text naming the client, for the admin's eyes only. */
    client: z.string().max(200).optional(),
    categories: z.array(ReportCategorySchema).min(1).max(200),
  })
  .strict();

export type Report = z.infer<typeof ReportSchema>;
export type ReportCategory = z.infer<typeof ReportCategorySchema>;
