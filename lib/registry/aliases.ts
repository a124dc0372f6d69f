import { InputError } from '#lib/errors.ts';

/**
 * `models/<name>/aliases.json`: which registered version serves (champion) and which one is being
 * tried on a share of the traffic (canary). Changed only through ModelRegistry, one audited
 * transition at a time; the transitions below are pure so they are easy to test and to replay.
 */
export interface Canary {
  version: string;
  /** Share of traffic routed to the canary, in (0, 1]. */
  weight: number;
  /**
   * When the canary ends if nobody judges it (ISO time): a run killed during its canary watch must
   * not leave a share of the traffic on an unjudged model. Past it, serving routes everything to
   * the champion and the next expiry clears it (docs/adr/0116-canary-deadline.md). Absent only in
   * aliases written before deadlines existed: see canaryDeadline.
   */
  deadline?: string;
}

export interface Aliases {
  champion: string | null;
  canary: Canary | null;
  /** Earlier champions, most recent last: rollback pops from here. */
  previousChampions: string[];
  /** Sequence number of the audit entry that produced this state (0: nothing has happened yet). */
  seq: number;
  updatedAt: string | null;
}

export const EMPTY_ALIASES: Readonly<Aliases> = Object.freeze({
  champion: null,
  canary: null,
  previousChampions: [],
  seq: 0,
  updatedAt: null,
});

export type AliasAction = 'set-canary' | 'clear-canary' | 'promote' | 'rollback';

export interface Transition {
  action: AliasAction;
  from: string | null;
  to: string | null;
  /** The state after the transition (seq and updatedAt are filled in by the registry). */
  next: Omit<Aliases, 'seq' | 'updatedAt'>;
  /** The audit reason when the caller gives none (an expiry names the deadline it passed). */
  why?: string;
}

/** A hand-set canary's deadline when none is given (`credit-risk models canary --deadline-minutes`). */
export const DEFAULT_CANARY_DEADLINE_MINUTES = 60;
/** The longest a canary may be given: a week. */
export const MAX_CANARY_DEADLINE_MINUTES = 7 * 24 * 60;
/**
 * A canary recorded before deadlines existed ends this long after the change that set it
 * (aliases.updatedAt), so no canary runs unbounded after an upgrade.
 */
export const LEGACY_CANARY_DEADLINE_MINUTES = DEFAULT_CANARY_DEADLINE_MINUTES;

/**
 * undefined: the state already is what was asked for (an idempotent no-op, nothing audited).
 * `deadline` is an ISO time; the registry checks it lies ahead.
 */
export function setCanary(
  current: Aliases,
  version: string,
  weight: number,
  deadline: string,
): Transition | undefined {
  if (!(weight > 0 && weight <= 1)) {
    throw new InputError('BAD_CANARY_WEIGHT', `canary weight must be in (0, 1], got ${weight}`);
  }
  if (!Number.isFinite(Date.parse(deadline))) {
    throw new InputError(
      'BAD_CANARY_DEADLINE',
      `canary deadline must be an ISO time, got ${JSON.stringify(deadline)}`,
    );
  }
  if (current.champion === version) {
    throw new InputError(
      'CANARY_IS_CHAMPION',
      `version ${version} is already the champion; a canary must be a different version`,
    );
  }
  const c = current.canary;
  if (c?.version === version && c.weight === weight && c.deadline === deadline) return undefined;
  return {
    action: 'set-canary',
    from: c?.version ?? null,
    to: version,
    next: { ...base(current), canary: { version, weight, deadline } },
  };
}

/** When the canary ends if nobody judges it; null without a canary. */
export function canaryDeadline(a: Pick<Aliases, 'canary' | 'updatedAt'>): Date | null {
  if (!a.canary) return null;
  if (a.canary.deadline !== undefined) return new Date(a.canary.deadline);
  const since = Date.parse(a.updatedAt ?? '');
  // No time to count from either: expired at once (the champion is the safe side).
  return new Date(Number.isFinite(since) ? since + LEGACY_CANARY_DEADLINE_MINUTES * 60_000 : 0);
}

/** A canary whose deadline has passed (an unreadable deadline counts as passed). */
export function canaryExpired(a: Pick<Aliases, 'canary' | 'updatedAt'>, now: Date): boolean {
  const deadline = canaryDeadline(a);
  if (deadline === null) return false;
  const t = deadline.getTime();
  return !Number.isFinite(t) || now.getTime() >= t;
}

/**
 * Ends a canary whose deadline has passed (audited as a clear-canary, "canary expired: ...");
 * undefined when there is no canary or its deadline is still ahead, so a concurrent change that
 * replaced or extended it wins.
 */
export function expireCanary(current: Aliases, now: Date): Transition | undefined {
  if (!current.canary || !canaryExpired(current, now)) return undefined;
  const deadline = canaryDeadline(current);
  return {
    action: 'clear-canary',
    from: current.canary.version,
    to: null,
    next: { ...base(current), canary: null },
    why: `canary expired: its deadline ${deadline && Number.isFinite(deadline.getTime()) ? deadline.toISOString() : '(unreadable)'} passed before it was judged`,
  };
}

export function clearCanary(current: Aliases): Transition | undefined {
  if (!current.canary) return undefined;
  return {
    action: 'clear-canary',
    from: current.canary.version,
    to: null,
    next: { ...base(current), canary: null },
  };
}

/**
 * Makes version the champion (normally the canary that survived its watch; also the way to put
 * the very first model in place). The old champion is remembered for rollback; any canary ends.
 */
export function promote(current: Aliases, version: string): Transition | undefined {
  if (current.champion === version && !current.canary) return undefined;
  const previousChampions =
    current.champion && current.champion !== version
      ? [...current.previousChampions, current.champion]
      : current.previousChampions;
  return {
    action: 'promote',
    from: current.champion,
    to: version,
    next: { champion: version, canary: null, previousChampions },
  };
}

/** Puts the previous champion back (and ends any canary). Aborting a canary is clearCanary. */
export function rollback(current: Aliases): Transition {
  const previous = current.previousChampions.at(-1);
  if (previous === undefined) {
    throw new InputError(
      'NO_PREVIOUS_CHAMPION',
      current.champion
        ? `cannot roll back: ${current.champion} is the only champion this model has had`
        : 'cannot roll back: this model has no champion yet',
    );
  }
  return {
    action: 'rollback',
    from: current.champion,
    to: previous,
    next: { champion: previous, canary: null, previousChampions: current.previousChampions.slice(0, -1) },
  };
}

function base(a: Aliases): Omit<Aliases, 'seq' | 'updatedAt'> {
  return { champion: a.champion, canary: a.canary, previousChampions: a.previousChampions };
}
