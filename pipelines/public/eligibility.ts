// Whether the metalink lists a host for a repository. The public pages must show a
// host as up to date for a repository exactly when this says so.
// DESIGN.md "Selection": active (site and host, admin and user flags, not disabled
// by the crawler or the probe), carries the category, and is up to date for that
// exact directory or always_up2date; the directory is readable and the repo enabled.
import type { PublicHost, PublicRepository, PublicSite } from './data.ts';

export function isListedFor(h: PublicHost, site: PublicSite, repo: PublicRepository): boolean {
  if (!(site.adminActive && site.userActive && h.adminActive && h.userActive)) return false;
  if (h.autoDisabled || h.probeDown) return false;
  if (!repo.readable || repo.disabled) return false;
  const hc = h.categories.find((c) => c.categoryId === repo.categoryId);
  if (!hc) return false;
  // A host clients cannot reach is not listed (private hosts may use private URLs).
  if (hc.urls.length === 0 && !(h.private && hc.privateUrls.length > 0)) return false;
  if (hc.alwaysUp2date) return true;
  return hc.dirs.get(repo.directoryId)?.up2date === true;
}
