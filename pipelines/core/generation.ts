// A generation is one immutable directory out/generations/<id>/ built by the
// `build` stage and made live by `publish` (atomic swap of the out/current symlink).
//
// Layout contract (paths relative to the generation root, which the nginx site
// config uses as its `root`):
//   manifest.json            id, createdAt, counts and inputs (timestamps only here)
//   report.json              per-emitter notes and failures (e.g. unresolvable names)
//   nginx/http.d/*.conf      http-level fragments: geo, map, split_clients
//   nginx/server.d/*.conf    server-level fragments: locations; paths relative to root
//   …                        whatever each emitter writes (lists/, publiclist/, status/ …)
import fs from 'node:fs';
import path from 'node:path';
import { relPath } from './config.ts';
import type { StageContext } from './types.ts';

export interface GenerationWriter {
  /** Absolute path of the directory being filled (a temp name until build finishes). */
  readonly dir: string;
  readonly id: string;
  /** Writes a file below the generation root, creating parent directories. */
  write(rel: string, data: string | Uint8Array): void;
  /** Writes a file from pieces in order, never holding it whole (a fragment of tens of MB). */
  writeChunks(rel: string, chunks: Iterable<string>): void;
  /** Number of files and bytes written so far. */
  readonly stats: { files: number; bytes: number };
}

export interface EmitResult {
  /** Figures for manifest.json, e.g. { classes: 312, hosts: 40 }. */
  counts: Record<string, number>;
  /** Problems worth reporting that did not stop the build. */
  notes?: string[];
}

/** One producer of generation content; build runs them in order. */
export interface Emitter {
  name: string;
  emit(ctx: StageContext, gen: GenerationWriter): Promise<EmitResult>;
}

export function generationsDir(outDir: string): string {
  return path.join(outDir, 'generations');
}

/**
 * `<out>/list-store/<generation id>/…`: the answers nginx composed once and keeps
 * (the site's proxy_store), outside the immutable generations; pruned with them.
 */
export function listStoreDir(outDir: string): string {
  return path.join(outDir, 'list-store');
}

export function createGenerationWriter(dir: string, id: string): GenerationWriter {
  fs.mkdirSync(dir, { recursive: true });
  const stats = { files: 0, bytes: 0 };
  const made = new Set<string>();
  const target = (rel: string) => {
    const checked = relPath.safeParse(rel);
    if (!checked.success || rel === '') throw new Error(`refusing to write outside the generation: ${JSON.stringify(rel)}`);
    const file = path.join(dir, rel);
    const parent = path.dirname(file);
    if (!made.has(parent)) {
      fs.mkdirSync(parent, { recursive: true });
      made.add(parent);
    }
    return file;
  };
  return {
    dir,
    id,
    stats,
    write(rel, data) {
      fs.writeFileSync(target(rel), data);
      stats.files++;
      stats.bytes += typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    },
    writeChunks(rel, chunks) {
      const fd = fs.openSync(target(rel), 'w');
      try {
        // Pieces are joined into ~1 MB writes: rows come one by one.
        let batch: string[] = [];
        let size = 0;
        const flush = () => {
          const buf = Buffer.from(batch.join(''));
          for (let off = 0; off < buf.length; ) off += fs.writeSync(fd, buf, off);
          stats.bytes += buf.length;
          batch = [];
          size = 0;
        };
        for (const c of chunks) {
          batch.push(c);
          size += c.length;
          if (size >= 1 << 20) flush();
        }
        flush();
      } finally {
        fs.closeSync(fd);
      }
      stats.files++;
    },
  };
}
