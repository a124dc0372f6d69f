import { createHash } from 'node:crypto';
import { InputError } from '#lib/errors.ts';
import { checkExplainerArtifacts, EXPLAINER_FILE } from '#lib/model/explainer-artifact.ts';
import { systemClock, type Clock } from '#lib/ports/clock.ts';
import { getJson, ObjectExistsError, type ObjectStore } from '#lib/ports/object-store.ts';
import * as transitions from './aliases.ts';
import {
  DEFAULT_CANARY_DEADLINE_MINUTES,
  EMPTY_ALIASES,
  MAX_CANARY_DEADLINE_MINUTES,
  type Aliases,
  type Transition,
} from './aliases.ts';
import { AuditLog, type AuditEntry } from './audit.ts';
import { crashPoint } from '#lib/crash-point.ts';

/**
 * The model registry on the ObjectStore port (S3 in AWS, a directory locally):
 *
 *   models/<name>/<version>/model.onnx   the version is the sha256 (64 hex) of these bytes
 *   models/<name>/<version>/report.html
 *   models/<name>/<version>/explainer.json   when model.onnx names one (its sha256 is in model.onnx)
 *   models/<name>/<version>/card.json    written last: its presence means "registered"
 *   models/<name>/aliases.json           champion, canary (+ weight), previous champions
 *   models/<name>/audit/<seq>.json       one object per change (see audit.ts)
 *   models/<name>/audit.jsonl            the same log as one file, derived
 *
 * Versions are immutable: model.onnx is written with ifAbsent, so different bytes can never land
 * under an existing version, and registering the same bytes again is a no-op that keeps the first
 * card and report. Listings show the first SHORT_ID_LENGTH hex digits; every command accepts any
 * unique prefix of at least MIN_PREFIX_LENGTH, or an alias name (champion, canary).
 */
export const DEFAULT_MODEL_NAME = 'credit-risk';
export const SHORT_ID_LENGTH = 12;
export const MIN_PREFIX_LENGTH = 4;
const MAX_CHANGE_ATTEMPTS = 8;
const VERSION_RE = /^[0-9a-f]{64}$/;
const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export type ModelCardJson = Record<string, unknown>;

export interface ModelArtifacts {
  model: Uint8Array;
  /** card.json bytes or text: a JSON object (the trainer's ModelCard). */
  card: Uint8Array | string;
  report: Uint8Array | string;
  /** explainer.json, required when model.onnx names one (explainer_sha256); absent for older models. */
  explainer?: Uint8Array;
}

export interface RegisterResult {
  name: string;
  version: string;
  /** false when these exact model bytes were already registered (nothing was written). */
  created: boolean;
}

export interface VersionSummary {
  version: string;
  shortId: string;
  registeredAt: string | null;
  /** Test ROC AUC from the card, when it has one. */
  auc: number | null;
  featureSnapshot: string | null;
  aliases: ('champion' | 'canary')[];
}

export interface ChangeOptions {
  why?: string;
  actor?: string;
}

export interface CanaryOptions extends ChangeOptions {
  /**
   * When the canary ends if nobody judges it: a time ahead of the registry's clock by at most
   * MAX_CANARY_DEADLINE_MINUTES. Default: DEFAULT_CANARY_DEADLINE_MINUTES from now.
   */
  deadline?: Date;
}

export interface ChangeResult {
  aliases: Aliases;
  /** The audit entry written; undefined when the state already was what was asked (no-op). */
  entry?: AuditEntry;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function shortId(version: string): string {
  return version.slice(0, SHORT_ID_LENGTH);
}

export class ModelRegistry {
  readonly name: string;
  private readonly prefix: string;
  private readonly audit: AuditLog;
  private readonly clock: Clock;
  private readonly actor: string | undefined;

  constructor(
    private readonly store: ObjectStore,
    options: { name?: string; clock?: Clock; actor?: string } = {},
  ) {
    const name = options.name ?? DEFAULT_MODEL_NAME;
    if (!NAME_RE.test(name)) {
      throw new InputError(
        'BAD_MODEL_NAME',
        `model name ${JSON.stringify(name)} must be 1-64 of a-z 0-9 . _ - and start with a letter or digit`,
      );
    }
    this.name = name;
    this.prefix = `models/${name}`;
    this.audit = new AuditLog(store, this.prefix);
    this.clock = options.clock ?? systemClock;
    this.actor = options.actor;
  }

  modelKey(version: string): string {
    return `${this.prefix}/${version}/model.onnx`;
  }
  cardKey(version: string): string {
    return `${this.prefix}/${version}/card.json`;
  }
  reportKey(version: string): string {
    return `${this.prefix}/${version}/report.html`;
  }
  explainerKey(version: string): string {
    return `${this.prefix}/${version}/${EXPLAINER_FILE}`;
  }
  get aliasesKey(): string {
    return `${this.prefix}/aliases.json`;
  }
  get auditJsonlKey(): string {
    return this.audit.jsonlKey;
  }

  async register(artifacts: ModelArtifacts, options: ChangeOptions = {}): Promise<RegisterResult> {
    const version = sha256Hex(artifacts.model);
    const card = parseCard(artifacts.card);
    const claimed = card.version;
    if (
      typeof claimed === 'string' &&
      !(claimed.length >= MIN_PREFIX_LENGTH && version.startsWith(claimed))
    ) {
      throw new InputError(
        'CARD_VERSION_MISMATCH',
        `card.json says version ${claimed} but model.onnx hashes to ${version}: the card belongs to another model`,
      );
    }
    checkExplainerArtifacts(artifacts.model, artifacts.explainer);
    const result = { name: this.name, version };
    if (await this.isRegistered(version)) {
      await this.assertStoredModel(version);
      return { ...result, created: false };
    }
    try {
      await this.store.put(this.modelKey(version), artifacts.model, {
        ifAbsent: true,
        contentType: 'application/octet-stream',
      });
    } catch (e) {
      if (!(e instanceof ObjectExistsError)) throw e;
      // A crashed or concurrent registration of the same version got here first: fine if the bytes agree.
      await this.assertStoredModel(version);
    }
    // Not registered until card.json exists, so the report may still be (re)written here.
    await this.store.put(this.reportKey(version), artifacts.report, {
      contentType: 'text/html; charset=utf-8',
    });
    // Its bytes are fixed by the digest inside model.onnx (checked above), so rewriting is safe.
    if (artifacts.explainer) {
      await this.store.put(this.explainerKey(version), artifacts.explainer, {
        contentType: 'application/json',
      });
    }
    const cardText =
      typeof artifacts.card === 'string' ? artifacts.card : new TextDecoder().decode(artifacts.card);
    try {
      await this.store.put(this.cardKey(version), cardText, {
        ifAbsent: true,
        contentType: 'application/json',
      });
    } catch (e) {
      if (e instanceof ObjectExistsError) return { ...result, created: false };
      throw e;
    }
    await this.change((current) => ({ action: 'register', from: null, to: version, next: current }), {
      why: options.why ?? 'registered',
      actor: options.actor,
    });
    return { ...result, created: true };
  }

  async isRegistered(version: string): Promise<boolean> {
    return (await this.store.head(this.cardKey(version))) !== undefined;
  }

  /** The stored model.onnx must hash to its version; anything else was written outside this API. */
  private async assertStoredModel(version: string): Promise<void> {
    const stored = await this.store.get(this.modelKey(version));
    if (!stored || sha256Hex(stored) !== version) {
      throw new InputError(
        'VERSION_CONFLICT',
        `${this.store.describe(this.modelKey(version))} does not hold the bytes of version ${version}; versions are immutable, refusing to overwrite`,
      );
    }
  }

  /** Every registered version (card.json present), oldest registration first. */
  async list(): Promise<VersionSummary[]> {
    const objects = await this.store.list(`${this.prefix}/`);
    const versions = objects
      .map((o) => o.key.slice(this.prefix.length + 1).split('/'))
      .filter((parts) => parts.length === 2 && parts[1] === 'card.json' && VERSION_RE.test(parts[0]))
      .map((parts) => parts[0]);
    const [aliases, entries] = await Promise.all([this.aliases(), this.audit.entries()]);
    const registeredAt = new Map<string, string>();
    for (const e of entries)
      if (e.action === 'register' && e.to && !registeredAt.has(e.to)) registeredAt.set(e.to, e.at);
    const out: VersionSummary[] = [];
    for (const version of versions) {
      const card = (await getJson<ModelCardJson>(this.store, this.cardKey(version))) ?? {};
      out.push({
        version,
        shortId: shortId(version),
        registeredAt: registeredAt.get(version) ?? null,
        auc: cardAuc(card),
        featureSnapshot: cardSnapshot(card),
        aliases: aliasNames(aliases, version),
      });
    }
    return out.sort(
      (a, b) =>
        (a.registeredAt ?? '').localeCompare(b.registeredAt ?? '') || a.version.localeCompare(b.version),
    );
  }

  /**
   * A full version from a full version, a unique prefix, or `champion` / `canary`.
   * Unknown or ambiguous references are an InputError that says what exists.
   */
  async resolveVersion(ref: string): Promise<string> {
    const wanted = ref.trim().toLowerCase();
    if (wanted === 'champion' || wanted === 'canary') {
      const a = await this.aliases();
      const v = wanted === 'champion' ? a.champion : (a.canary?.version ?? null);
      if (!v) throw new InputError('NO_SUCH_ALIAS', `model ${this.name} has no ${wanted}`);
      return v;
    }
    if (VERSION_RE.test(wanted) && (await this.isRegistered(wanted))) return wanted;
    if (!/^[0-9a-f]+$/.test(wanted) || wanted.length < MIN_PREFIX_LENGTH) {
      throw new InputError(
        'UNKNOWN_MODEL_VERSION',
        `${JSON.stringify(ref)} is not a model version: give the sha256 of model.onnx, a prefix of at least ${MIN_PREFIX_LENGTH} hex digits, champion or canary`,
      );
    }
    const matches = (await this.list()).filter((s) => s.version.startsWith(wanted));
    if (matches.length === 1) return matches[0].version;
    if (matches.length === 0) {
      throw new InputError(
        'UNKNOWN_MODEL_VERSION',
        `no version ${ref} is registered under model ${this.name} (see: credit-risk models list)`,
      );
    }
    throw new InputError(
      'AMBIGUOUS_MODEL_VERSION',
      `${ref} matches ${matches.length} versions of ${this.name}: ${matches.map((m) => m.shortId).join(', ')}; give more digits`,
    );
  }

  async card(ref: string): Promise<{ version: string; card: ModelCardJson }> {
    const version = await this.resolveVersion(ref);
    const card = await getJson<ModelCardJson>(this.store, this.cardKey(version));
    if (!card)
      throw new InputError('UNKNOWN_MODEL_VERSION', `version ${version} of ${this.name} has no card.json`);
    return { version, card };
  }

  async modelBytes(ref: string): Promise<Uint8Array> {
    const version = await this.resolveVersion(ref);
    const bytes = await this.store.get(this.modelKey(version));
    if (!bytes || sha256Hex(bytes) !== version) {
      throw new Error(
        `${this.store.describe(this.modelKey(version))} is missing or does not hash to its version`,
      );
    }
    return bytes;
  }

  /**
   * explainer.json of a version, or undefined when it has none (registered before explanations).
   * explainerForModel (lib/model/explainer-artifact.ts) checks it against model.onnx's digest.
   */
  async explainerBytes(ref: string): Promise<Uint8Array | undefined> {
    const version = await this.resolveVersion(ref);
    return (await this.store.get(this.explainerKey(version))) ?? undefined;
  }

  /**
   * The current alias state: aliases.json, rolled forward through any audit entries written after
   * it (a writer that crashed, or lost a race, between appending its entry and writing aliases.json).
   */
  async aliases(): Promise<Aliases> {
    return (await this.state()).aliases;
  }

  /**
   * Brings aliases.json and audit.jsonl up to the log when a writer died between its entry and
   * them; nothing otherwise. For a step that finds its change already made (the canary's deploy
   * finding its model champion: the run that promoted it was killed) and so changes nothing.
   */
  async completeViews(): Promise<void> {
    const { aliases, cachedSeq } = await this.state();
    if (cachedSeq < aliases.seq) await this.writeViews(aliases);
  }

  /** aliases(), and the sequence number aliases.json was at (lower: a writer died after its entry). */
  private async state(): Promise<{ aliases: Aliases; cachedSeq: number }> {
    let state: Aliases = (await getJson<Aliases>(this.store, this.aliasesKey)) ?? { ...EMPTY_ALIASES };
    const cachedSeq = state.seq;
    for (;;) {
      const next = await this.audit.entry(state.seq + 1);
      if (!next) return { aliases: state, cachedSeq };
      state = next.aliases;
    }
  }

  /**
   * The derived views after an entry: audit.jsonl first, aliases.json last, so an aliases.json at
   * seq N means audit.jsonl holds entries 1..N too. A writer killed in between leaves aliases.json
   * behind the log, which the next change (or no-op change: re-running the command) sees and
   * rewrites both (the crash matrix, test/e2e/crash-matrix.test.ts).
   */
  private async writeViews(state: Aliases): Promise<void> {
    await this.audit.writeJsonl();
    crashPoint('registry:after-audit-jsonl');
    await this.store.put(this.aliasesKey, `${JSON.stringify(state, null, 2)}\n`, {
      contentType: 'application/json',
    });
  }

  async history(): Promise<AuditEntry[]> {
    return this.audit.entries();
  }

  async setCanary(ref: string, weight: number, options: CanaryOptions = {}): Promise<ChangeResult> {
    const version = await this.resolveVersion(ref);
    const now = this.clock.now().getTime();
    const deadline = options.deadline ?? new Date(now + DEFAULT_CANARY_DEADLINE_MINUTES * 60_000);
    const ahead = deadline.getTime() - now;
    if (!(ahead > 0 && ahead <= MAX_CANARY_DEADLINE_MINUTES * 60_000)) {
      throw new InputError(
        'BAD_CANARY_DEADLINE',
        `a canary deadline must lie ahead by at most ${MAX_CANARY_DEADLINE_MINUTES} minutes, got ${Number.isFinite(ahead) ? deadline.toISOString() : 'an invalid date'}`,
      );
    }
    return this.change((a) => transitions.setCanary(a, version, weight, deadline.toISOString()), {
      why: options.why ?? `canary at ${weight} until ${deadline.toISOString()}`,
      actor: options.actor,
    });
  }

  /**
   * Clears the canary when its deadline has passed at the registry's clock (audited "canary
   * expired: ..."); a no-op otherwise. Serving stops routing to an expired canary by itself; this
   * makes the record say so (lib/deploy/canary-steps.ts expireCanary moves the alias first).
   */
  async expireCanary(options: Omit<ChangeOptions, 'why'> = {}): Promise<ChangeResult> {
    return this.change((a) => transitions.expireCanary(a, this.clock.now()), { actor: options.actor });
  }

  async clearCanary(options: ChangeOptions = {}): Promise<ChangeResult> {
    return this.change((a) => transitions.clearCanary(a), {
      why: options.why ?? 'canary cleared',
      actor: options.actor,
    });
  }

  async promote(ref: string, options: ChangeOptions = {}): Promise<ChangeResult> {
    const version = await this.resolveVersion(ref);
    return this.change((a) => transitions.promote(a, version), {
      why: options.why ?? 'promoted',
      actor: options.actor,
    });
  }

  /**
   * `to`: the version the caller expects to roll back to (it moved the serving alias there first);
   * a concurrent change that makes the rollback go elsewhere is refused (CONCURRENT_CHANGE).
   */
  async rollback(options: ChangeOptions & { to?: string } = {}): Promise<ChangeResult> {
    return this.change(
      (a) => {
        const t = transitions.rollback(a);
        if (options.to !== undefined && t.to !== options.to)
          throw new InputError(
            'CONCURRENT_CHANGE',
            `the registry changed while rolling back: it would now roll back to ${t.to ?? 'nothing'}, not ${options.to}; nothing was written to the registry`,
          );
        return t;
      },
      {
        why: options.why ?? 'rolled back',
        actor: options.actor,
      },
    );
  }

  /**
   * One audited change with optimistic concurrency: read the state, compute the transition, claim
   * the next audit sequence number with a create-if-absent put; whoever loses re-reads and retries.
   */
  private async change(
    build: (
      current: Aliases,
    ) => Transition | { action: 'register'; from: null; to: string; next: Aliases } | undefined,
    options: ChangeOptions,
  ): Promise<ChangeResult> {
    for (let attempt = 0; attempt < MAX_CHANGE_ATTEMPTS; attempt++) {
      // Random backoff after a lost race, so a crowd of writers spreads out instead of colliding again.
      if (attempt > 0) await new Promise((done) => setTimeout(done, Math.random() * 25 * attempt));
      const { aliases: current, cachedSeq } = await this.state();
      const t = build(current);
      if (!t) {
        if (cachedSeq < current.seq) await this.writeViews(current);
        return { aliases: current };
      }
      const at = this.clock.now().toISOString();
      const seq = current.seq + 1;
      const next: Aliases = t.action === 'register' ? { ...current, seq } : { ...t.next, seq, updatedAt: at };
      const actor = options.actor ?? this.actor;
      const entry: AuditEntry = {
        seq,
        at,
        action: t.action,
        from: t.from,
        to: t.to,
        why: options.why ?? ('why' in t && t.why !== undefined ? t.why : t.action),
        ...(actor ? { actor } : {}),
        aliases: next,
      };
      if (await this.audit.tryAppend(entry)) {
        crashPoint(`registry:${t.action}:after-audit-entry`);
        await this.writeViews(next);
        return { aliases: next, entry };
      }
    }
    throw new Error(`registry ${this.name}: gave up after ${MAX_CHANGE_ATTEMPTS} concurrent-change retries`);
  }
}

function parseCard(card: Uint8Array | string): ModelCardJson {
  const text = typeof card === 'string' ? card : new TextDecoder().decode(card);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new InputError('BAD_MODEL_CARD', `card.json is not valid JSON: ${(e as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InputError('BAD_MODEL_CARD', 'card.json must hold a JSON object');
  }
  return parsed as ModelCardJson;
}

function aliasNames(a: Aliases, version: string): ('champion' | 'canary')[] {
  const out: ('champion' | 'canary')[] = [];
  if (a.champion === version) out.push('champion');
  if (a.canary?.version === version) out.push('canary');
  return out;
}

function field(obj: unknown, path: string[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/** The card's test AUC, wherever the card format keeps it (metrics.test.auc or metrics.auc). */
function cardAuc(card: ModelCardJson): number | null {
  for (const path of [
    ['metrics', 'test', 'auc'],
    ['metrics', 'overall', 'auc'],
    ['metrics', 'auc'],
  ]) {
    const v = field(card, path);
    if (typeof v === 'number') return v;
  }
  return null;
}

function cardSnapshot(card: ModelCardJson): string | null {
  for (const path of [
    ['training', 'snapshotId'],
    ['data', 'snapshotId'],
    ['snapshotId'],
    ['featureSnapshot'],
  ]) {
    const v = field(card, path);
    if (typeof v === 'string') return v;
  }
  return null;
}
