/** Time as the domain sees it: injected so tests and replays can pin "today". */
export interface Clock {
  now(): Date;
  /** The current UTC date as YYYY-MM-DD. */
  today(): string;
}

export const systemClock: Clock = {
  now: () => new Date(),
  today: () => new Date().toISOString().slice(0, 10),
};

export function fixedClock(isoDate: string): Clock {
  const at = new Date(`${isoDate}T12:00:00Z`);
  return { now: () => new Date(at), today: () => isoDate };
}
