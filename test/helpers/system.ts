// System tests need real tools (nginx, rsync, vsftpd, createrepo_c, dnf, Postgres).
// Locally a missing tool skips the test loudly; in CI (MIRRORSMITH_REQUIRE_SYSTEM=1)
// it fails, so a green CI run means the real thing was exercised.
import { execFileSync } from 'node:child_process';
import type { TestContext } from 'node:test';

export const REQUIRE_SYSTEM = process.env.MIRRORSMITH_REQUIRE_SYSTEM === '1';

const found = new Map<string, string | null>();

/** Absolute path of an executable on PATH (or in the usual sbin dirs), or null. */
export function whichTool(name: string): string | null {
  if (!found.has(name)) {
    let p: string | null = null;
    try {
      p = execFileSync('sh', ['-c', `command -v "$1" || ls /usr/sbin/"$1" /sbin/"$1" /usr/local/sbin/"$1" 2>/dev/null | head -n1`, 'sh', name], { encoding: 'utf8' }).trim() || null;
    } catch {
      p = null;
    }
    found.set(name, p);
  }
  return found.get(name)!;
}

/**
 * Returns the tool's path, or skips the test (locally) / throws (in CI) with a loud
 * message naming the Debian package to install.
 */
export function requireTool(t: TestContext, name: string, debPackage = name): string | null {
  const p = whichTool(name);
  if (p) return p;
  const msg = `SYSTEM TEST SKIPPED: "${name}" not installed (apt-get install ${debPackage}); set MIRRORSMITH_REQUIRE_SYSTEM=1 to make this a failure`;
  if (REQUIRE_SYSTEM) throw new Error(`"${name}" is required (MIRRORSMITH_REQUIRE_SYSTEM=1) but not installed: apt-get install ${debPackage}`);
  process.stderr.write(`\n*** ${msg}\n`);
  t.skip(msg);
  return null;
}
