import { InputError } from '#lib/errors.ts';

/**
 * The publish guards: whether a snapshot may become the one serving reads. Pure functions over
 * plain data (what the snapshot holds, what is current, what the champion model reads), so the
 * same rules run in `credit-risk features publish|rollback` and in the extract-features Lambda,
 * and are tested without stores. The facts are gathered by lib/features/snapshot-facts.ts and
 * lib/features/champion-requirement.ts; lib/features/publish.ts evaluates the guards BEFORE it
 * writes anything, so a refused snapshot leaves the offline store, the online store and
 * `features/CURRENT` as they were. docs/adr/0105-publish-guards-audit-and-rollback.md has the
 * defaults and why.
 */

/** A share of the current snapshot's customers the new one must keep (0.5 = at least half). */
export const DEFAULT_MIN_CUSTOMER_SHARE = 0.5;
/**
 * Quarantined rows / rows in above which a build is refused. The generator's clean data
 * quarantines 0%, its `--dirty-rate 0.02` example 2.0% and the dirtiest test data 5%: 20% is
 * four times the worst of them, and a file with one record in five broken is a broken file.
 */
export const DEFAULT_MAX_QUARANTINE_RATE = 0.2;

export interface PublishGuardPolicy {
  minCustomerShare: number;
  maxQuarantineRate: number;
}

export const DEFAULT_PUBLISH_GUARD_POLICY: PublishGuardPolicy = {
  minCustomerShare: DEFAULT_MIN_CUSTOMER_SHARE,
  maxQuarantineRate: DEFAULT_MAX_QUARANTINE_RATE,
};

export type GuardName = 'no_customers' | 'too_few_customers' | 'champion_columns' | 'quarantine_rate';

/** Every guard, in the order reasons are listed. */
export const ALL_GUARDS: readonly GuardName[] = [
  'no_customers',
  'too_few_customers',
  'champion_columns',
  'quarantine_rate',
];
/**
 * A rollback returns to a snapshot that served before: it must still hold customers and the
 * columns the champion reads now; its size and quarantine rate were accepted when it was published.
 */
export const ROLLBACK_GUARDS: readonly GuardName[] = ['no_customers', 'champion_columns'];

export interface GuardReason {
  guard: GuardName;
  message: string;
}

export interface SnapshotColumn {
  name: string;
  type: string;
}

/** What the guards need to know about the snapshot that would become current. */
export interface CandidateFacts {
  snapshotId: string;
  /** Rows of its online.parquet: the customers /predict could answer for. */
  customers: number;
  /** The build's validation counts (manifest.validation); null when the manifest has none. */
  rowsIn: number | null;
  rowsQuarantined: number | null;
  /** The feature table's columns (manifest.columns); null when the manifest has none. */
  columns: SnapshotColumn[] | null;
}

/** The snapshot serving now; customers null when nothing records how many it has. */
export interface CurrentFacts {
  snapshotId: string;
  customers: number | null;
}

/** The champion model's inputs, from its card (and the manifest of the snapshot it was trained on). */
export interface ChampionRequirement {
  modelName: string;
  version: string;
  /** type: the column type in the training snapshot's manifest; null when that manifest is not at hand. */
  features: { name: string; type: string | null }[];
}

export interface GuardInput {
  candidate: CandidateFacts;
  current?: CurrentFacts;
  /** null: the registry was asked and has no champion; undefined: the caller did not ask. */
  champion?: ChampionRequirement | null;
  policy: PublishGuardPolicy;
  /** Which guards to run (default: all). */
  guards?: readonly GuardName[];
}

export interface GuardVerdict {
  /** Why the snapshot must not be published; empty = it may. */
  reasons: GuardReason[];
  /** Guards that could not run for lack of facts, in words (never silent). */
  notChecked: string[];
}

/** The model reads float32 tensors: any of these column types converts; text or dates do not. */
const NUMERIC_TYPE =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|REAL|DOUBLE|DECIMAL(\(\d+,\s*\d+\))?|BOOLEAN)$/i;

export function evaluatePublishGuards(input: GuardInput): GuardVerdict {
  const { candidate, current, champion, policy } = input;
  const run = new Set(input.guards ?? ALL_GUARDS);
  const reasons: GuardReason[] = [];
  const notChecked: string[] = [];
  const id = candidate.snapshotId;

  if (run.has('no_customers') && candidate.customers <= 0) {
    reasons.push({
      guard: 'no_customers',
      message:
        `snapshot ${id} has no valid customers (0 online rows)` +
        (candidate.rowsIn !== null
          ? `: ${candidate.rowsIn} rows in, ${candidate.rowsQuarantined ?? '?'} quarantined`
          : '') +
        '; every /predict would answer 404',
    });
  }

  if (run.has('too_few_customers') && current && current.snapshotId !== id) {
    if (current.customers === null) {
      notChecked.push(`customer share: the current snapshot ${current.snapshotId} records no customer count`);
    } else if (candidate.customers > 0) {
      const share = candidate.customers / current.customers;
      if (current.customers > 0 && share < policy.minCustomerShare) {
        reasons.push({
          guard: 'too_few_customers',
          message:
            `snapshot ${id} has ${candidate.customers} customers, ${percent(share)} of the ` +
            `${current.customers} of the current snapshot ${current.snapshotId} ` +
            `(the minimum share is ${percent(policy.minCustomerShare)})`,
        });
      }
    }
  }

  if (run.has('champion_columns') && champion) {
    const problems = championColumnProblems(champion, candidate.columns);
    if (problems.length > 0) {
      reasons.push({
        guard: 'champion_columns',
        message: `the champion ${champion.modelName} ${champion.version.slice(0, 12)} reads ${problems.join('; ')}`,
      });
    }
  } else if (run.has('champion_columns')) {
    notChecked.push(
      champion === null
        ? 'champion columns: no champion model is registered'
        : 'champion columns: no model registry was consulted',
    );
  }

  if (run.has('quarantine_rate')) {
    if (candidate.rowsIn === null || candidate.rowsQuarantined === null) {
      notChecked.push(`quarantine rate: the manifest of ${id} has no validation counts`);
    } else if (candidate.rowsIn > 0) {
      const rate = candidate.rowsQuarantined / candidate.rowsIn;
      if (rate > policy.maxQuarantineRate) {
        reasons.push({
          guard: 'quarantine_rate',
          message:
            `snapshot ${id} quarantined ${candidate.rowsQuarantined} of ${candidate.rowsIn} rows ` +
            `(${percent(rate)}, above the maximum ${percent(policy.maxQuarantineRate)})`,
        });
      }
    }
  }
  return { reasons, notChecked };
}

function championColumnProblems(champion: ChampionRequirement, columns: SnapshotColumn[] | null): string[] {
  if (columns === null) return ['columns this snapshot\'s manifest does not list (it has no "columns")'];
  const byName = new Map(columns.map((c) => [c.name, c.type]));
  const missing: string[] = [];
  const mistyped: string[] = [];
  for (const f of champion.features) {
    const type = byName.get(f.name);
    if (type === undefined) missing.push(f.name);
    else if (f.type !== null ? type.toUpperCase() !== f.type.toUpperCase() : !NUMERIC_TYPE.test(type))
      mistyped.push(`${f.name} is ${type}, ${f.type !== null ? `trained on ${f.type}` : 'not a number'}`);
  }
  const out: string[] = [];
  if (missing.length > 0) out.push(`column(s) missing from the snapshot: ${missing.join(', ')}`);
  if (mistyped.length > 0) out.push(`column(s) of another type: ${mistyped.join(', ')}`);
  return out;
}

function percent(share: number): string {
  return `${(share * 100).toFixed(share * 100 < 10 ? 2 : 1)}%`;
}

/**
 * A refused publish or rollback: an InputError (exit 2 in the CLI) whose message lists every
 * reason. Its name is what Step Functions sees as the error of the extract Task.
 */
export class PublishRefusedError extends InputError {
  constructor(
    readonly snapshotId: string,
    readonly reasons: GuardReason[],
    action: 'publish' | 'rollback' = 'publish',
  ) {
    super(
      'PUBLISH_REFUSED',
      `${action} of snapshot ${snapshotId} refused, serving left unchanged: ` +
        reasons.map((r, i) => `(${i + 1}) ${r.guard}: ${r.message}`).join('; ') +
        (action === 'publish'
          ? '. Fix the input and build again, or override with --force (audited).'
          : '. Override with --force (audited).'),
      { snapshotId, reasons },
    );
    this.name = 'PublishRefusedError';
  }
}

/** The guard settings from text (flags, environment variables); an InputError names the bad one. */
export function parseGuardPolicy(
  raw: { minCustomerShare?: string; maxQuarantineRate?: string },
  names: { minCustomerShare: string; maxQuarantineRate: string } = {
    minCustomerShare: '--min-customer-share',
    maxQuarantineRate: '--max-quarantine-rate',
  },
): PublishGuardPolicy {
  return {
    minCustomerShare: shareOf(raw.minCustomerShare, names.minCustomerShare, DEFAULT_MIN_CUSTOMER_SHARE),
    maxQuarantineRate: shareOf(raw.maxQuarantineRate, names.maxQuarantineRate, DEFAULT_MAX_QUARANTINE_RATE),
  };
}

/** The Lambda's settings: PUBLISH_MIN_CUSTOMER_SHARE, PUBLISH_MAX_QUARANTINE_RATE (unset or empty = default). */
export function guardPolicyFromEnv(env: Readonly<Record<string, string | undefined>>): PublishGuardPolicy {
  return parseGuardPolicy(
    {
      minCustomerShare: env.PUBLISH_MIN_CUSTOMER_SHARE || undefined,
      maxQuarantineRate: env.PUBLISH_MAX_QUARANTINE_RATE || undefined,
    },
    { minCustomerShare: 'PUBLISH_MIN_CUSTOMER_SHARE', maxQuarantineRate: 'PUBLISH_MAX_QUARANTINE_RATE' },
  );
}

function shareOf(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw.trim());
  if (raw.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new InputError(
      'BAD_PUBLISH_GUARD',
      `${name} must be a number from 0 to 1, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}
