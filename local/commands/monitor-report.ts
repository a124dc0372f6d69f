import type { Command } from 'commander';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { InputError } from '#lib/errors.ts';
import type { RealizedPerformanceProvider } from '#lib/monitoring/realized-performance-view.ts';
import { DEFAULT_MODEL_NAME } from '#lib/registry/registry.ts';
import { localDashboardPage } from '#local/monitoring/dashboard-data.ts';
import { createLocalRoot } from '#local/root.ts';

/**
 * `credit-risk monitor report --out FILE.html`: the page `credit-risk serve` answers on GET
 * /dashboard, written to a file (self-contained: inline SVG, no script, no external asset).
 */
interface ReportFlags {
  out?: string;
  name: string;
}

/**
 * `performance` is realized performance for the page (lib/monitoring/performance.ts over the local
 * prediction log and outcomes); without it the panel says "no outcomes yet".
 */
export function registerMonitorReport(monitor: Command, performance?: RealizedPerformanceProvider): void {
  monitor
    .command('report')
    .description(
      'write the monitoring page (requests, errors and p99 per model version, canary, drift, realized AUC, alarms) to an HTML file',
    )
    .option('--out <file>', 'the HTML file to write (required)')
    .option('--name <model>', 'model name in the registry', DEFAULT_MODEL_NAME)
    .addHelpText(
      'after',
      '\nWhat the page shows (the same as GET /dashboard of credit-risk serve):\n' +
        '  - per model version: requests, 4xx, 5xx, 5xx rate and p99 latency over time, from the EMF lines\n' +
        '    credit-risk serve writes under .credit-risk/metrics/\n' +
        '  - the champion, its age, the canary and its weight (the registry aliases and audit log)\n' +
        '  - drift per feature: PSI and the baseline/current histograms of the newest monitoring/drift/ report\n' +
        '  - realized AUC per version and week, once outcomes are joined (else "no outcomes yet")\n' +
        "  - every CloudWatch alarm evaluated on the local figures with the stack's thresholds\n" +
        '    (lib/monitoring/alarm-thresholds.ts): OK, ALARM or INSUFFICIENT_DATA\n' +
        'Example:\n' +
        '  credit-risk monitor report --out report.html && chromium report.html',
    )
    .action(async (flags: ReportFlags) => {
      if (flags.out === undefined || flags.out.trim() === '')
        throw new InputError('MISSING_OUT', '--out FILE.html is required (the page is written there)');
      const out = resolve(flags.out);
      const root = createLocalRoot();
      try {
        const page = await localDashboardPage(root, flags.name, performance);
        await mkdir(dirname(out), { recursive: true });
        await writeFile(out, page);
        process.stderr.write(`monitoring page written to ${out} (${Buffer.byteLength(page)} bytes)\n`);
      } finally {
        await root.featureStore.close();
      }
    });
}
