// Which hosts the metalinks list for each repository, decided on the build's own
// snapshot with the build's own rule (pipelines/build/snapshot.ts: active hosts,
// `isUpToDate`, readable directories), so a host the public pages show as up to date
// for a repository is exactly a host the lists hand out for it. The lists also need
// a URL clients can use for the category; a disabled repository lists nobody.
import { isUpToDate, type Snapshot } from '../build/snapshot.ts';

/** Repository id → ids of hosts listed for it. Repositories missing here are not served. */
export function listedHosts(snapshot: Snapshot): Map<number, Set<number>> {
  const active = new Set(snapshot.hosts.map((h) => h.id));
  const out = new Map<number, Set<number>>();
  for (const repo of snapshot.repositories) {
    const set = new Set<number>();
    if (!repo.disabled) {
      for (const hc of snapshot.hostCategories) {
        if (hc.categoryId !== repo.categoryId || !active.has(hc.hostId) || hc.urls.length === 0) continue;
        if (isUpToDate(snapshot, hc, repo.directoryId)) set.add(hc.hostId);
      }
    }
    out.set(repo.id, set);
  }
  return out;
}
