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
}

/** undefined: the state already is what was asked for (an idempotent no-op, nothing audited). */
export function setCanary(current: Aliases, version: string, weight: number): Transition | undefined {
  if (!(weight > 0 && weight <= 1)) {
    throw new InputError('BAD_CANARY_WEIGHT', `canary weight must be in (0, 1], got ${weight}`);
  }
  if (current.champion === version) {
    throw new InputError(
      'CANARY_IS_CHAMPION',
      `version ${version} is already the champion; a canary must be a different version`,
    );
  }
  if (current.canary?.version === version && current.canary.weight === weight) return undefined;
  return {
    action: 'set-canary',
    from: current.canary?.version ?? null,
    to: version,
    next: { ...base(current), canary: { version, weight } },
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
