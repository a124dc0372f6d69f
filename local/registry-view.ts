import { userInfo } from 'node:os';
import { canaryDeadline, canaryExpired, type Aliases } from '#lib/registry/aliases.ts';
import { shortId, type ChangeResult } from '#lib/registry/registry.ts';

/**
 * How the registry's aliases and changes read on a terminal: one text for `credit-risk models ...`
 * (the local registry) and `credit-risk aws models ...` (the registry in S3).
 */
const out = (line: string) => process.stdout.write(`${line}\n`);
export const short = (v: string | null | undefined): string => (v ? shortId(v) : '-');

/** Who the audit log names for a change made from this terminal: `cli:<user>`. */
export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    // No passwd entry (some containers).
    return 'cli:unknown';
  }
}

/** "until <deadline>", "expired <deadline> (serving ignores it)" or "" without a canary. */
export function deadlineText(a: Aliases, now: Date): string {
  const deadline = canaryDeadline(a);
  if (!deadline) return '';
  const when = Number.isFinite(deadline.getTime()) ? deadline.toISOString() : 'an unreadable time';
  return canaryExpired(a, now) ? `expired ${when} (serving ignores it)` : `until ${when}`;
}

export function aliasLine(a: Aliases, now: Date): string {
  const canary = a.canary
    ? `${shortId(a.canary.version)} at ${a.canary.weight} ${deadlineText(a, now)}`
    : '-';
  return `champion ${short(a.champion)}, canary ${canary}`;
}

/** A change as `action: from -> to` and the aliases after it, or the JSON `{aliases, entry}`. */
export function reportChange(options: { json?: boolean }, result: ChangeResult, now: Date): void {
  if (options.json) {
    out(JSON.stringify({ aliases: result.aliases, entry: result.entry ?? null }, null, 2));
    return;
  }
  out(
    result.entry
      ? `${result.entry.action}: ${short(result.entry.from)} -> ${short(result.entry.to)}`
      : 'nothing to change',
  );
  out(aliasLine(result.aliases, now));
}
