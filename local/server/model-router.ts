/**
 * The local stand-in for a Lambda alias with a routing config: champion plus an optional canary
 * {version, weight, deadline}. Each request acquires one loaded version (picked by the weight) and
 * releases it when answered. When the aliases change, the new versions are loaded first, then the
 * table is swapped in one assignment; a version that left the table is disposed only after its
 * last in-flight request has finished, so a reload never drops or breaks a request.
 *
 * A canary past its deadline gets no request, whether or not anyone has cleared it from the
 * registry yet (docs/adr/0116-canary-deadline.md): a run killed during its canary watch leaves
 * nothing on an unjudged model for longer than the deadline.
 */
export interface AliasState {
  champion: string | null;
  /** deadline: ISO time after which the canary gets nothing; absent, it never expires here. */
  canary: { version: string; weight: number; deadline?: string } | null;
}

export interface LoadedVersion<H> {
  handler: H;
  /** Frees what the version holds (the ONNX session). */
  dispose(): Promise<void>;
}

interface Slot<H> {
  version: string;
  loaded: LoadedVersion<H>;
  inFlight: number;
  retired: boolean;
  disposed?: Promise<void>;
}

interface Table<H> {
  champion: Slot<H>;
  /** until: epoch ms of the deadline (Infinity without one; NaN, unreadable, counts as passed). */
  canary?: { slot: Slot<H>; weight: number; deadline?: string; until: number };
  key: string;
}

export interface Lease<H> {
  version: string;
  handler: H;
  release(): void;
}

export interface ModelRouterOptions<H> {
  readAliases(): Promise<AliasState>;
  load(version: string): Promise<LoadedVersion<H>>;
  /** Uniform in [0, 1); injectable so tests can pin the routing. */
  random?: () => number;
  /** Epoch ms, for the canary's deadline; injectable so tests can move time. */
  now?: () => number;
  /** Told about a failed reload (the previous table keeps serving). */
  onReloadError?: (error: unknown) => void;
  onReload?: (state: AliasState) => void;
}

function keyOf(a: AliasState): string {
  return JSON.stringify([
    a.champion,
    a.canary?.version ?? null,
    a.canary?.weight ?? null,
    a.canary?.deadline ?? null,
  ]);
}

export class ModelRouter<H> {
  private table?: Table<H>;
  private readonly slots = new Map<string, Slot<H>>();
  private refreshing?: Promise<boolean>;
  private timer?: NodeJS.Timeout;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(private readonly options: ModelRouterOptions<H>) {
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
  }

  /**
   * The routing being served, or undefined before the first successful load. An expired canary is
   * not in it (it takes no traffic), even while the registry still names it.
   */
  get state(): AliasState | undefined {
    const t = this.table;
    if (!t) return undefined;
    const c = this.liveCanary(t);
    return {
      champion: t.champion.version,
      canary: c
        ? {
            version: c.slot.version,
            weight: c.weight,
            ...(c.deadline !== undefined ? { deadline: c.deadline } : {}),
          }
        : null,
    };
  }

  private liveCanary(t: Table<H>): Table<H>['canary'] {
    // `now < until` is false for NaN: an unreadable deadline ends the canary (the safe side).
    return t.canary && this.now() < t.canary.until ? t.canary : undefined;
  }

  /** Re-reads the aliases; loads and swaps when they changed. true when the table changed. */
  refresh(): Promise<boolean> {
    // One refresh at a time: a slow model load must not be started twice by the poller.
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    const aliases = await this.options.readAliases();
    const key = keyOf(aliases);
    if (this.table?.key === key) return false;
    if (!aliases.champion) throw new Error('the model has no champion yet: register a model and promote it');
    const champion = await this.slot(aliases.champion);
    const deadline = aliases.canary?.deadline;
    const until = deadline === undefined ? Infinity : Date.parse(deadline);
    // A canary already expired is not even loaded.
    const canary =
      aliases.canary && this.now() < until
        ? {
            slot: await this.slot(aliases.canary.version),
            weight: aliases.canary.weight,
            ...(deadline !== undefined ? { deadline } : {}),
            until,
          }
        : undefined;
    const previous = this.table;
    this.table = { champion, canary, key };
    for (const s of [champion, canary?.slot]) if (s) s.retired = false;
    if (previous) {
      const live = new Set([champion.version, canary?.slot.version]);
      for (const s of [previous.champion, previous.canary?.slot]) {
        if (s && !live.has(s.version)) this.retire(s);
      }
    }
    this.options.onReload?.(aliases);
    return true;
  }

  private async slot(version: string): Promise<Slot<H>> {
    const existing = this.slots.get(version);
    if (existing) return existing;
    const slot: Slot<H> = { version, loaded: await this.options.load(version), inFlight: 0, retired: false };
    this.slots.set(version, slot);
    return slot;
  }

  private retire(slot: Slot<H>): void {
    slot.retired = true;
    if (slot.inFlight === 0) this.dispose(slot);
  }

  private dispose(slot: Slot<H>): void {
    if (this.slots.get(slot.version) === slot) this.slots.delete(slot.version);
    slot.disposed ??= slot.loaded.dispose().catch((e: unknown) => this.options.onReloadError?.(e));
  }

  /** Picks the version for one request; call release() when the response is sent. */
  acquire(): Lease<H> | undefined {
    const t = this.table;
    if (!t) return undefined;
    const canary = this.liveCanary(t);
    const slot = canary && this.random() < canary.weight ? canary.slot : t.champion;
    slot.inFlight++;
    let released = false;
    return {
      version: slot.version,
      handler: slot.loaded.handler,
      release: () => {
        if (released) return;
        released = true;
        slot.inFlight--;
        if (slot.retired && slot.inFlight === 0) this.dispose(slot);
      },
    };
  }

  /** Number of requests being answered right now, over all versions. */
  get inFlight(): number {
    let n = 0;
    for (const s of this.slots.values()) n += s.inFlight;
    return n;
  }

  /** Polls the aliases every intervalMs (failures are reported and the current table kept). */
  watch(intervalMs = 500): void {
    this.stopWatching();
    this.timer = setInterval(() => {
      this.refresh().catch((e: unknown) => this.options.onReloadError?.(e));
    }, intervalMs);
    this.timer.unref();
  }

  stopWatching(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops polling, waits for a refresh in progress, disposes every loaded version. */
  async close(): Promise<void> {
    this.stopWatching();
    await this.refreshing?.catch(() => undefined);
    this.table = undefined;
    const slots = [...this.slots.values()];
    this.slots.clear();
    await Promise.all(slots.map((s) => (s.disposed ??= s.loaded.dispose())));
  }
}
