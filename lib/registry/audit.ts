import { getJson, ObjectExistsError, type ObjectStore } from '#lib/ports/object-store.ts';
import type { AliasAction, Aliases } from './aliases.ts';

/**
 * An append-only audit log on the ObjectStore port: `<prefix>/audit/<seq>.json`, one object per
 * entry. The registry keeps one per model (every registration and alias change); the feature
 * store keeps one for its snapshot pointer (lib/features/snapshot-history.ts).
 *
 * S3 has no append, and "read audit.jsonl, add a line, write it back" loses entries when two
 * writers race. So each entry is its own object, `models/<name>/audit/<seq>.json`, created with
 * ifAbsent (S3 `If-None-Match: *`): two writers cannot both create entry N, the loser re-reads
 * and retries. The entry carries the alias state it produced, which makes the log the source of
 * truth and aliases.json a cache of its last entry (see ModelRegistry.aliases). audit.jsonl,
 * the key the design names, is a derived view rewritten after every change for people and tools
 * that want one file.
 */
/** What every log's entries share: the sequence number that is their key. */
export interface SequencedEntry {
  seq: number;
}

/** The registry's entry (the log's default entry type). */
export interface AuditEntry {
  seq: number;
  at: string;
  action: AliasAction | 'register';
  from: string | null;
  to: string | null;
  why: string;
  actor?: string;
  /** The alias state after this entry (unchanged by a registration). */
  aliases: Aliases;
}

const SEQ_DIGITS = 10;

export class AuditLog<E extends SequencedEntry = AuditEntry> {
  constructor(
    private readonly store: ObjectStore,
    private readonly prefix: string,
  ) {}

  entryKey(seq: number): string {
    return `${this.prefix}/audit/${String(seq).padStart(SEQ_DIGITS, '0')}.json`;
  }

  get jsonlKey(): string {
    return `${this.prefix}/audit.jsonl`;
  }

  async entry(seq: number): Promise<E | undefined> {
    return getJson<E>(this.store, this.entryKey(seq));
  }

  /** false when another writer created entry `seq` first. */
  async tryAppend(entry: E): Promise<boolean> {
    try {
      await this.store.put(this.entryKey(entry.seq), `${JSON.stringify(entry)}\n`, {
        ifAbsent: true,
        contentType: 'application/json',
      });
      return true;
    } catch (e) {
      if (e instanceof ObjectExistsError) return false;
      throw e;
    }
  }

  /** Every entry, oldest first (zero-padded keys list in sequence order). */
  async entries(): Promise<E[]> {
    const objects = await this.store.list(`${this.prefix}/audit/`);
    const out: E[] = [];
    for (const o of objects) {
      if (!o.key.endsWith('.json')) continue;
      const e = await getJson<E>(this.store, o.key);
      if (e) out.push(e);
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  /** The newest entry (one listing, one read), or undefined for an empty log. */
  async latest(): Promise<E | undefined> {
    const keys = (await this.store.list(`${this.prefix}/audit/`))
      .map((o) => o.key)
      .filter((k) => k.endsWith('.json'));
    // Zero-padded keys: the lexicographically last is the highest sequence number.
    const last = keys.sort().at(-1);
    return last === undefined ? undefined : getJson<E>(this.store, last);
  }

  /**
   * Appends the entry `build` makes from the newest one, at the next sequence number; when
   * another writer claims that number first, re-reads and builds again (at most `attempts` times).
   * `known`: the newest entry as the caller just read it, used for the first attempt.
   */
  async append(
    build: (latest: E | undefined) => Omit<E, 'seq'>,
    options: { known?: { latest: E | undefined }; attempts?: number } = {},
  ): Promise<E> {
    const attempts = options.attempts ?? 8;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await new Promise((done) => setTimeout(done, Math.random() * 25 * attempt));
      const latest = attempt === 0 && options.known ? options.known.latest : await this.latest();
      const entry = { ...build(latest), seq: (latest?.seq ?? 0) + 1 } as E;
      if (await this.tryAppend(entry)) return entry;
    }
    throw new Error(`audit log ${this.prefix}: gave up after ${attempts} concurrent-append retries`);
  }

  async writeJsonl(): Promise<void> {
    const lines = (await this.entries()).map((e) => JSON.stringify(e)).join('\n');
    await this.store.put(this.jsonlKey, lines === '' ? '' : `${lines}\n`, {
      contentType: 'application/x-ndjson',
    });
  }
}
