// Exclusive OS-level lock on a directory: a lock file created with O_EXCL holding
// the holder's pid, host, start time and command. A lock left by a dead process on
// this host is reported and taken over; a live holder makes us refuse at once.
import fs from 'node:fs';
import os from 'node:os';
import { LockHeldError, type LockHolder } from './errors.ts';

export type LockInfo = LockHolder;

export interface DirLock {
  readonly path: string;
  /** Set when a stale lock from a dead process was found and replaced. */
  readonly replacedStale?: LockInfo;
  release(): void;
}

export function acquireDirLock(dir: string, holder: string): DirLock {
  const lockPath = `${dir}.lock`;
  const info: LockInfo = { pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString(), holder };
  let replacedStale: LockInfo | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockPath, JSON.stringify(info) + '\n', { flag: 'wx', mode: 0o644 });
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        try {
          const current = readLock(lockPath);
          if (current?.pid === process.pid) fs.unlinkSync(lockPath);
        } catch {
          /* already gone */
        }
        process.off('exit', release);
      };
      process.on('exit', release);
      return { path: lockPath, replacedStale, release };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const existing = readLock(lockPath);
      if (existing && isAlive(existing)) {
        throw new LockHeldError(
          `${dir} is in use by another mirrorsmith process (pid ${existing.pid} on ${existing.hostname}, ` +
            `"${existing.holder}", since ${existing.startedAt}); the embedded database allows one process at a time`,
          existing,
          dir,
        );
      }
      // Dead holder (or unreadable lock file): remove it and retry once.
      replacedStale = existing ?? undefined;
      fs.rmSync(lockPath, { force: true });
    }
  }
  throw new LockHeldError(`could not take the lock ${lockPath}: another process keeps recreating it`);
}

export function readLock(lockPath: string): LockInfo | null {
  try {
    const parsed = JSON.parse(fs.readFileSync(lockPath, 'utf8')) as LockInfo;
    return typeof parsed.pid === 'number' ? parsed : null;
  } catch {
    return null;
  }
}

function isAlive(info: LockInfo): boolean {
  if (info.hostname !== os.hostname()) return true; // cannot check another host: assume live
  if (info.pid === process.pid) return true;
  try {
    process.kill(info.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
