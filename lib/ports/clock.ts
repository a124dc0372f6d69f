/** Time as the domain sees it: injected so tests and replays can pin "today". */
export interface Clock {
  now(): Date;
  /** The current UTC date as YYYY-MM-DD. */
  today(): string;
}

/** Today's date string, formatted again only once the day is over (a served request asks each time). */
let today = { date: '', until: 0 };

export const systemClock: Clock = {
  now: () => new Date(),
  today: () => {
    const now = Date.now();
    if (now >= today.until || now < today.until - 86_400_000) {
      const date = new Date(now).toISOString().slice(0, 10);
      today = { date, until: Date.parse(`${date}T00:00:00Z`) + 86_400_000 };
    }
    return today.date;
  },
};

export function fixedClock(isoDate: string): Clock {
  const at = new Date(`${isoDate}T12:00:00Z`);
  return { now: () => new Date(at), today: () => isoDate };
}
