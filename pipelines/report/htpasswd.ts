// Password hashes for the report upload's htpasswd file. apr1 (Apache's MD5-crypt)
// because nginx's auth_basic verifies it itself (ngx_crypt_apr1), independent of
// the system's crypt(3), and htpasswd(1) makes and checks the same strings.
// Only the hash is ever stored (host.report_password_hash).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const MAGIC = '$apr1$';

/** A site/host name fit for a path segment, a user name and nginx config. */
export const SITE_NAME_RE = /^[a-z0-9][a-z0-9.-]*$/;
export const HOST_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9.-]*$/;

/** The htpasswd user of a private host: its own spool path, `<site>/<host>`. */
export function reportUser(site: string, host: string): string {
  return `${site}/${host}`;
}

/** Hash strings we accept in the registry: apr1, {SHA}, {SSHA} or bcrypt, as nginx reads them. */
export const PASSWORD_HASH_RE = /^(\$apr1\$[./0-9A-Za-z]{1,8}\$[./0-9A-Za-z]{22}|\{SSHA\}[A-Za-z0-9+/]+={0,2}|\{SHA\}[A-Za-z0-9+/]{27}=|\$2[aby]\$\d\d\$[./0-9A-Za-z]{53})$/;

export function checkPassword(password: string): string | null {
  if (password.length < 8) return 'password must be at least 8 characters';
  if (password.length > 256) return 'password must be at most 256 characters';
  if (/[\0\r\n]/.test(password)) return 'password must not contain NUL or line breaks';
  return null;
}

/** `$apr1$<salt>$<hash>` for password, with a random 8-character salt unless one is given. */
export function apr1(password: string, salt?: string): string {
  const s = (salt ?? randomSalt()).slice(0, 8);
  if (!/^[./0-9A-Za-z]+$/.test(s)) throw new Error('apr1 salt must be of ./0-9A-Za-z');
  const pw = Buffer.from(password, 'utf8');
  const saltB = Buffer.from(s, 'latin1');
  let final = md5(pw, saltB, pw);
  const ctx = createHash('md5').update(pw).update(MAGIC).update(saltB);
  for (let pl = pw.length; pl > 0; pl -= 16) ctx.update(final.subarray(0, Math.min(pl, 16)));
  // The historical quirk: a NUL byte for each set bit, the first password byte otherwise.
  for (let i = pw.length; i; i >>= 1) ctx.update(i & 1 ? Buffer.from([0]) : pw.subarray(0, 1));
  final = ctx.digest();
  for (let i = 0; i < 1000; i++) {
    const c = createHash('md5');
    c.update(i & 1 ? pw : final);
    if (i % 3) c.update(saltB);
    if (i % 7) c.update(pw);
    c.update(i & 1 ? final : pw);
    final = c.digest();
  }
  const f = final;
  const out =
    to64((f[0]! << 16) | (f[6]! << 8) | f[12]!, 4) +
    to64((f[1]! << 16) | (f[7]! << 8) | f[13]!, 4) +
    to64((f[2]! << 16) | (f[8]! << 8) | f[14]!, 4) +
    to64((f[3]! << 16) | (f[9]! << 8) | f[15]!, 4) +
    to64((f[4]! << 16) | (f[10]! << 8) | f[5]!, 4) +
    to64(f[11]!, 2);
  return `${MAGIC}${s}$${out}`;
}

/** Whether password matches an apr1 hash (constant-time compare). */
export function verifyApr1(password: string, hash: string): boolean {
  const m = /^\$apr1\$([./0-9A-Za-z]{1,8})\$[./0-9A-Za-z]{22}$/.exec(hash);
  if (!m) return false;
  const a = Buffer.from(apr1(password, m[1]));
  const b = Buffer.from(hash);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** One htpasswd file: `user:hash` lines, sorted, for deterministic output. */
export function renderHtpasswd(entries: ReadonlyArray<{ user: string; hash: string }>): string {
  const lines = entries.map((e) => {
    if (/[:\s]/.test(e.user)) throw new Error(`htpasswd user ${JSON.stringify(e.user)} contains ':' or whitespace`);
    if (!PASSWORD_HASH_RE.test(e.hash)) throw new Error(`htpasswd hash for ${e.user} is not an apr1/SHA/SSHA/bcrypt hash`);
    return `${e.user}:${e.hash}`;
  });
  lines.sort();
  return lines.length ? lines.join('\n') + '\n' : '';
}

function md5(...parts: Buffer[]): Buffer {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest();
}

function to64(v: number, n: number): string {
  let s = '';
  while (n-- > 0) {
    s += ITOA64[v & 0x3f];
    v >>>= 6;
  }
  return s;
}

function randomSalt(): string {
  return [...randomBytes(8)].map((b) => ITOA64[b & 0x3f]).join('');
}
