// Handlebars for the public pages: one isolated instance, `strict` (a missing field
// is an error, not an empty string), HTML escaping on, every template and partial
// compiled when this module loads so a broken template fails the build at once.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';

export const TEMPLATE_DIR = fileURLToPath(new URL('../../templates/public/', import.meta.url));

type Compiled = (view: unknown) => string;

function compileAll(dir: string): Map<string, Compiled> {
  const hb = Handlebars.create();
  const templates = new Map<string, Compiled>();
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.hbs')).sort();
  for (const file of files) {
    const name = file.slice(0, -'.hbs'.length);
    const source = fs.readFileSync(path.join(dir, file), 'utf8');
    try {
      // Partials (files starting with _) are compiled strictly too, by registering compiled functions.
      const fn = hb.compile(source, { strict: true, noEscape: false });
      if (name.startsWith('_')) hb.registerPartial(name.slice(1), fn);
      else templates.set(name, (view) => fn(view, { allowProtoPropertiesByDefault: false, allowProtoMethodsByDefault: false }));
      // Compile eagerly: Handlebars compiles lazily on first call otherwise.
      hb.precompile(source, { strict: true });
    } catch (err) {
      throw new Error(`template ${path.join(dir, file)}: ${(err as Error).message}`, { cause: err });
    }
  }
  return templates;
}

const TEMPLATES = compileAll(TEMPLATE_DIR);

/** Renders templates/public/<name>.hbs with a view model built from an allow-list. */
export function render(name: string, view: object): string {
  const t = TEMPLATES.get(name);
  if (!t) throw new Error(`no template templates/public/${name}.hbs`);
  return t(plain(view));
}

// A view model is plain data: anything else (a Date, a Map, a class instance) means a
// builder forgot to format a field, and would render as "[object Object]".
function plain(v: unknown, where = 'view'): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map((x, i) => plain(x, `${where}[${i}]`));
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = plain(x, `${where}.${k}`);
    return out;
  }
  throw new Error(`view model field ${where} is not plain data (${typeof v === 'object' ? Object.prototype.toString.call(v) : typeof v})`);
}
