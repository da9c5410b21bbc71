// One definition of a private mirror, for every stage: the host is marked private,
// or its site is (a private site's hosts are all private). Private mirrors are never
// crawled or probed, are listed only inside their netblocks, and vouch for their
// content with reports instead.

/** SQL: true when host `h` of site `s` is private; the query must alias host h and site s. */
export const PRIVATE_HOST_SQL = '(h.private OR s.private)';

/** The same rule for rows already loaded. */
export function isPrivateHost(host: { private: boolean }, site: { private: boolean }): boolean {
  return host.private || site.private;
}
