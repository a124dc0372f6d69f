/**
 * What the dashboard shows of realized performance (served predictions joined with loan outcomes),
 * per model version and week. lib/monitoring/performance.ts computes it; the dashboard takes it
 * through an optional provider, so a home without outcomes shows "no outcomes yet".
 */
export interface RealizedPerformanceView {
  versions: Array<{
    modelVersion: string;
    rows: number;
    positives: number;
    realizedAuc: number | null;
    offlineAuc: number | null;
    ks: number | null;
    ece: number | null;
    weeks: Array<{ week: string; rows: number; positives: number; realizedAuc: number | null }>;
    deciles: Array<{ decile: number; rows: number; badRate: number | null }>;
  }>;
}

export type RealizedPerformanceProvider = () => Promise<RealizedPerformanceView | null>;
