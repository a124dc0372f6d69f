import { getJson, ObjectExistsError, type ObjectStore } from '#lib/ports/object-store.ts';
import type { AliasAction, Aliases } from './aliases.ts';

/**
 * The append-only audit log of one model: every registration and every alias change.
 *
 * S3 has no append, and "read audit.jsonl, add a line, write it back" loses entries when two
 * writers race. So each entry is its own object, `models/<name>/audit/<seq>.json`, created with
 * ifAbsent (S3 `If-None-Match: *`): two writers cannot both create entry N, the loser re-reads
 * and retries. The entry carries the alias state it produced, which makes the log the source of
 * truth and aliases.json a cache of its last entry (see ModelRegistry.aliases). audit.jsonl,
 * the key the design names, is a derived view rewritten after every change for people and tools
 * that want one file.
 */
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

export class AuditLog {
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

  async entry(seq: number): Promise<AuditEntry | undefined> {
    return getJson<AuditEntry>(this.store, this.entryKey(seq));
  }

  /** false when another writer created entry `seq` first. */
  async tryAppend(entry: AuditEntry): Promise<boolean> {
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
  async entries(): Promise<AuditEntry[]> {
    const objects = await this.store.list(`${this.prefix}/audit/`);
    const out: AuditEntry[] = [];
    for (const o of objects) {
      if (!o.key.endsWith('.json')) continue;
      const e = await getJson<AuditEntry>(this.store, o.key);
      if (e) out.push(e);
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  async writeJsonl(): Promise<void> {
    const lines = (await this.entries()).map((e) => JSON.stringify(e)).join('\n');
    await this.store.put(this.jsonlKey, lines === '' ? '' : `${lines}\n`, {
      contentType: 'application/x-ndjson',
    });
  }
}
