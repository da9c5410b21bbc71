// Repository mapping from configuration, not code: ordered regex rules per
// category over the directory name relative to the category top; the first match
// wins and `$1`… in repo/arch are replaced by its capture groups.
import type { RepoRule } from '../core/config.ts';

export interface CompiledRule {
  re: RegExp;
  repo: string;
  arch: string;
  disabled: boolean;
  index: number;
}

export interface RepoMapping {
  prefix: string;
  arch: string;
  disabled: boolean;
  /** Index of the rule that matched (for `repo list` and diagnostics). */
  rule: number;
}

export function compileRules(rules: readonly RepoRule[]): CompiledRule[] {
  return rules.map((r, index) => ({ re: new RegExp(r.match), repo: r.repo, arch: r.arch, disabled: r.disabled ?? false, index }));
}

/** Maps a repository directory (e.g. `releases/41/Everything/x86_64/os`) to repo/arch, or null. */
export function mapRepository(dir: string, rules: readonly CompiledRule[]): RepoMapping | null {
  for (const rule of rules) {
    const m = rule.re.exec(dir);
    if (!m) continue;
    const prefix = substitute(rule.repo, m);
    const arch = substitute(rule.arch, m);
    // A rule whose groups came out empty would publish a nonsense name: no match.
    if (!prefix || !arch) continue;
    return { prefix, arch, disabled: rule.disabled, rule: rule.index };
  }
  return null;
}

export function substitute(template: string, m: RegExpExecArray): string {
  return template.replace(/\$(\d+)|\$\{(\d+)\}/g, (_, a: string | undefined, b: string | undefined) => m[Number(a ?? b)] ?? '');
}
