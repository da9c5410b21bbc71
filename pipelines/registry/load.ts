// Reads a registry directory (one YAML file per site) and validates all of it
// before anything is written: every problem in every file is reported at once.
import fs from 'node:fs';
import path from 'node:path';
import { parseYaml } from '../core/config.ts';
import { UsageError, ValidationError } from '../core/errors.ts';
import { validateSites, type SiteDoc, type ValidatedRegistry } from './schema.ts';

export type Registry = Omit<ValidatedRegistry, 'errors'>;

/** The registry files of a directory, sorted: `*.yaml` and `*.yml`, not recursive. */
export function registryFiles(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw new UsageError(`cannot read registry directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return entries
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name) && !e.name.startsWith('.'))
    .map((e) => path.join(dir, e.name))
    .sort();
}

/** Parses the files; YAML syntax errors are collected with the other problems. */
export function readSiteDocs(files: string[]): { docs: SiteDoc[]; errors: string[] } {
  const docs: SiteDoc[] = [];
  const errors: string[] = [];
  for (const file of files) {
    try {
      docs.push({ file, data: parseYaml(fs.readFileSync(file, 'utf8'), file) });
    } catch (err) {
      if (err instanceof ValidationError) errors.push(...err.issues.map((i) => `${i} (not valid YAML)`));
      else throw err;
    }
  }
  return { docs, errors };
}

/**
 * Loads and validates a whole registry directory; throws a ValidationError listing
 * every problem (file, site/host, field) when anything is wrong.
 */
export function loadRegistry(dir: string, categories: readonly string[]): Registry {
  const files = registryFiles(dir);
  const { docs, errors: yamlErrors } = readSiteDocs(files);
  const result = validateSites(docs, categories);
  const errors = [...yamlErrors, ...result.errors];
  if (errors.length) throw new ValidationError(`registry ${dir} has ${errors.length} problem${errors.length === 1 ? '' : 's'}; nothing was applied`, errors);
  return { sites: result.sites, warnings: result.warnings };
}
