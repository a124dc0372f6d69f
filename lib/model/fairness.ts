import { rocAucOf, rowsByGroup } from './metrics.ts';

/**
 * Fairness of a model's decisions across the groups of protected attributes (code_gender, age
 * band), on the out-of-time test split (docs/adr/0140-protected-attributes-travel-never-feed.md).
 *
 * The decision is the one serving makes: approve when the model predicts 0 (p < threshold),
 * decline when it predicts 1 (p >= threshold). Per group: rows, positives (bad loans), ROC AUC,
 * approval rate, bad rate among the approved, true-positive rate (share of the bad loans the model
 * declines) and the approval rate of the good applicants. Per attribute:
 * - adverse impact ratio: lowest group approval rate / highest (the four-fifths rule flags < 0.8);
 * - equal-opportunity difference: highest minus lowest group true-positive rate.
 * Groups with fewer than `minGroupRows` rows are listed but left out of both ratios (their rates
 * are noise); `inRatio` says which groups the ratios use.
 */
export interface FairnessGroup {
  group: string;
  rows: number;
  positives: number;
  /** null when the group holds a single class. */
  auc: number | null;
  /** Share of the group approved (predicted 0). */
  approvalRate: number;
  /** Share of bad loans among the approved; null when nobody is approved. */
  badRateApproved: number | null;
  /** Share of the group's bad loans the model declines (predicted 1); null without bad loans. */
  truePositiveRate: number | null;
  /** Share of the group's good loans the model approves; null without good loans. */
  goodApprovalRate: number | null;
  /** Whether the group is large enough to count in the attribute's ratios. */
  inRatio: boolean;
}

export interface FairnessAttribute {
  /** Largest group first. */
  groups: FairnessGroup[];
  /** Lowest over highest approval rate among the groups in the ratio; null with fewer than two. */
  adverseImpactRatio: number | null;
  lowestApproval: { group: string; rate: number } | null;
  highestApproval: { group: string; rate: number } | null;
  /** Highest minus lowest true-positive rate among the groups in the ratio; null with fewer than two. */
  equalOpportunityDifference: number | null;
  minGroupRows: number;
}

export type FairnessReport = Record<string, FairnessAttribute>;

export const DEFAULT_MIN_FAIRNESS_GROUP_ROWS = 30;

export function fairnessByAttribute(
  y: ArrayLike<number>,
  p: ArrayLike<number>,
  threshold: number,
  attributes: Record<string, ArrayLike<string>>,
  options: { minGroupRows?: number } = {},
): FairnessReport {
  const minGroupRows = options.minGroupRows ?? DEFAULT_MIN_FAIRNESS_GROUP_ROWS;
  const out: FairnessReport = {};
  for (const [attribute, values] of Object.entries(attributes)) {
    if (values.length !== y.length)
      throw new RangeError(`attribute ${attribute} has ${values.length} values for ${y.length} rows`);
    const groups: FairnessGroup[] = [];
    for (const [group, rows] of rowsByGroup(values))
      groups.push(groupStats(group, rows, y, p, threshold, minGroupRows));
    groups.sort((a, b) => b.rows - a.rows || a.group.localeCompare(b.group));
    out[attribute] = summarise(groups, minGroupRows);
  }
  return out;
}

function groupStats(
  group: string,
  rows: Uint32Array,
  y: ArrayLike<number>,
  p: ArrayLike<number>,
  threshold: number,
  minGroupRows: number,
): FairnessGroup {
  let positives = 0;
  let approved = 0;
  let approvedBad = 0;
  let declinedBad = 0;
  let approvedGood = 0;
  const gy = new Uint8Array(rows.length);
  const gp = new Float64Array(rows.length);
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k];
    const bad = y[r] === 1;
    const approve = p[r] < threshold;
    gy[k] = bad ? 1 : 0;
    gp[k] = p[r];
    if (bad) positives++;
    if (approve) {
      approved++;
      if (bad) approvedBad++;
      else approvedGood++;
    } else if (bad) declinedBad++;
  }
  const n = rows.length;
  const singleClass = positives === 0 || positives === n;
  return {
    group,
    rows: n,
    positives,
    auc: singleClass ? null : rocAucOf(gy, gp),
    approvalRate: approved / n,
    badRateApproved: approved > 0 ? approvedBad / approved : null,
    truePositiveRate: positives > 0 ? declinedBad / positives : null,
    goodApprovalRate: n - positives > 0 ? approvedGood / (n - positives) : null,
    inRatio: n >= minGroupRows,
  };
}

function summarise(groups: FairnessGroup[], minGroupRows: number): FairnessAttribute {
  const counted = groups.filter((g) => g.inRatio);
  let lowest: FairnessGroup | null = null;
  let highest: FairnessGroup | null = null;
  for (const g of counted) {
    if (!lowest || g.approvalRate < lowest.approvalRate) lowest = g;
    if (!highest || g.approvalRate > highest.approvalRate) highest = g;
  }
  const tprs = counted.map((g) => g.truePositiveRate).filter((t): t is number => t !== null);
  const two = counted.length >= 2 && lowest && highest;
  return {
    groups,
    adverseImpactRatio:
      two && lowest && highest
        ? highest.approvalRate > 0
          ? lowest.approvalRate / highest.approvalRate
          : 1
        : null,
    lowestApproval: lowest ? { group: lowest.group, rate: lowest.approvalRate } : null,
    highestApproval: highest ? { group: highest.group, rate: highest.approvalRate } : null,
    equalOpportunityDifference: tprs.length >= 2 ? Math.max(...tprs) - Math.min(...tprs) : null,
    minGroupRows,
  };
}
