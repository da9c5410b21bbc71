// Mirror trees for the simulated network: each behaviour is one tree built from
// the master with hard links (cheap, so hundreds of mirrors share a few trees):
// fresh = the master; stale-k = the master with every repodata/ directory taken
// from the tree k pushes ago; missing-dir = the master without one directory.
// Unreadable (pre-bitflip, not world-readable) directories are never copied: a
// public mirror's rsync module cannot read them either.
import fs from 'node:fs';
import path from 'node:path';

export type SimBehaviour = 'fresh' | 'stale-1' | 'stale-2' | 'stale-3' | 'missing-dir' | 'dead';

export interface MasterTrees {
  /** The master tree's category top as it is now. */
  current: string;
  /** Category tops of earlier pushes, newest first: previous[0] is one push behind. */
  previous: string[];
}

export interface VariantOptions {
  /** Directory (relative to the top) a missing-dir mirror lacks; default: the first repository directory found. */
  missingDir?: string;
}

/** Builds (or rebuilds) the tree for one behaviour under `dest`; returns dest. Dead hosts get no tree. */
export function buildVariant(master: MasterTrees, behaviour: SimBehaviour, dest: string, opts: VariantOptions = {}): string {
  fs.rmSync(dest, { recursive: true, force: true });
  fs.mkdirSync(dest, { recursive: true });
  if (behaviour === 'dead') return dest;
  linkTree(master.current, dest);
  const stale = /^stale-(\d)$/.exec(behaviour);
  if (stale) {
    const k = Number(stale[1]);
    const old = master.previous[Math.min(k, master.previous.length) - 1];
    if (!old) throw new Error(`simnet: ${behaviour} needs ${k} earlier push(es) of the master, have ${master.previous.length}`);
    for (const rel of repodataDirs(master.current)) {
      const from = path.join(old, rel);
      if (!fs.existsSync(from)) continue;
      fs.rmSync(path.join(dest, rel), { recursive: true, force: true });
      fs.mkdirSync(path.join(dest, rel), { recursive: true });
      linkTree(from, path.join(dest, rel));
    }
  }
  if (behaviour === 'missing-dir') {
    const rel = opts.missingDir ?? repodataDirs(master.current).map((d) => path.dirname(d))[0];
    if (!rel) throw new Error('simnet: missing-dir needs a directory to leave out');
    fs.rmSync(path.join(dest, rel), { recursive: true, force: true });
  }
  return dest;
}

/** Relative paths of every `repodata` directory below `root`, sorted. */
export function repodataDirs(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (e.name === 'repodata') out.push(child);
      else walk(child);
    }
  };
  walk('');
  return out.sort();
}

/** Hard-links every file of `src` into `dest` (directories recreated), skipping unreadable directories. */
export function linkTree(src: string, dest: string): void {
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, e.name);
    const d = path.join(dest, e.name);
    if (e.isDirectory()) {
      if ((fs.statSync(s).mode & 0o005) !== 0o005) continue;
      fs.mkdirSync(d, { recursive: true });
      linkTree(s, d);
    } else if (e.isFile()) {
      try {
        fs.linkSync(s, d);
      } catch {
        fs.copyFileSync(s, d);
      }
    } else if (e.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(s), d);
    }
  }
}
