import type { PerformanceReport } from './performance.ts';

/**
 * What the dashboard shows of realized performance (served predictions joined with loan outcomes),
 * per model version and week: lib/monitoring/performance.ts's report itself. The dashboard takes
 * it through an optional provider, so a home without outcomes shows "no outcomes yet".
 */
export type RealizedPerformanceView = PerformanceReport;

export type RealizedPerformanceProvider = () => Promise<RealizedPerformanceView | null>;
