import type { FeatureReference } from '#lib/model/card.ts';

/** A card reference for one feature x: 10 equal training bins over [0, 10), none missing. */
export const UNIFORM_X_REFERENCE: FeatureReference = {
  feature: 'x',
  edges: [1, 2, 3, 4, 5, 6, 7, 8, 9],
  counts: [0, ...Array(10).fill(100)],
  rows: 1000,
  missingShare: 0,
  min: 0,
  max: 9.99,
  mean: 5,
};
