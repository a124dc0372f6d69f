import { REASON_TEXTS } from '#lib/features/catalog.ts';

/**
 * Reason codes: which features pushed one applicant's score toward default, from the row's exact
 * TreeSHAP contributions (lib/model/shap.ts, in log-odds). POST /predict answers them as
 * `reasons`, `credit-risk explain` prints them, batch scoring writes their feature names as
 * reason_1..reason_4 (docs/adr/0126-reason-codes-from-treeshap.md).
 *
 * A reason is a feature whose contribution is > 0 (it raised the log-odds of default above the
 * model's expected score); the largest come first, at most MAX_REASONS, ties in model order. A row
 * where nothing pushed toward default has no reason. The phrase comes from the feature catalog
 * (lib/features/catalog.ts ReasonText), picked by the value against the feature's typical value.
 */
export const MAX_REASONS = 4;

export interface Reason {
  feature: string;
  /** The feature's value in the request (the online vector); null when missing. */
  value: number | null;
  /** Log-odds this feature added to the score (> 0). */
  contribution: number;
  text: string;
}

/** Every feature's contribution: bias + sum(contributions) = margin, sigmoid(margin) = probability. */
export interface Explanation {
  /** The model's expected raw score (log-odds) when nothing is known about the applicant. */
  bias: number;
  /** The raw score of this row (log-odds). */
  margin: number;
  contributions: Record<string, number>;
}

/**
 * The catalog phrase for a feature's value: `missing` for null or NaN, `low` below `typical`,
 * `high` at or above it, `neutral` when there is no typical value; the feature's name when the
 * catalog does not know it (a model over other features).
 */
export function reasonText(feature: string, value: number | null, typical?: number | null): string {
  const text = REASON_TEXTS.get(feature);
  if (!text) return feature;
  if (value === null || Number.isNaN(value)) return text.missing;
  if (typical === undefined || typical === null || !Number.isFinite(typical)) return text.neutral;
  return value < typical ? text.low : text.high;
}

/**
 * The features of the up to `max` largest contributions > 0 among `width` values of
 * `contributions` from `offset`, largest first; ties keep model order. An insertion into a
 * list of at most `max`: the model has a handful of features and this runs on every request.
 */
export function topReasonIndices(
  contributions: ArrayLike<number>,
  offset: number,
  width: number,
  max: number = MAX_REASONS,
): number[] {
  const top: number[] = [];
  for (let f = 0; f < width; f++) {
    const c = contributions[offset + f];
    if (!(c > 0)) continue;
    if (top.length === max && c <= contributions[offset + top[max - 1]]) continue;
    let i = top.length === max ? max - 1 : top.length;
    while (i > 0 && contributions[offset + top[i - 1]] < c) {
      top[i] = top[i - 1];
      i--;
    }
    top[i] = f;
  }
  return top;
}

/** Reasons and explanations for one model: its feature order and each feature's typical value. */
export class ReasonCoder {
  private readonly typical: readonly (number | null)[];

  constructor(
    readonly featureNames: readonly string[],
    typicalValues?: readonly (number | null)[],
  ) {
    if (typicalValues !== undefined && typicalValues.length !== featureNames.length)
      throw new RangeError(`${typicalValues.length} typical values for ${featureNames.length} features`);
    this.typical = typicalValues ?? featureNames.map(() => null);
  }

  /** `values` and `contributions` in model order (contributions may carry the bias after them). */
  reasons(values: readonly (number | null)[], contributions: ArrayLike<number>): Reason[] {
    return topReasonIndices(contributions, 0, this.featureNames.length).map((f) => {
      const value = values[f] ?? null;
      const feature = this.featureNames[f];
      return {
        feature,
        value,
        contribution: contributions[f],
        text: reasonText(feature, value, this.typical[f]),
      };
    });
  }

  /** From one row's [F contributions, bias] (TreeShapExplainer.explainRow). */
  explanation(row: ArrayLike<number>): Explanation {
    const F = this.featureNames.length;
    const bias = row[F];
    let margin = bias;
    const contributions: Record<string, number> = {};
    for (let f = 0; f < F; f++) {
      contributions[this.featureNames[f]] = row[f];
      margin += row[f];
    }
    return { bias, margin, contributions };
  }
}
