// Writes jest's totals to .test-results/jest.json so scripts/test.mjs can print one closing line
// that adds up every runner (jest + pytest). CREDIT_RISK_JEST_SUMMARY names another file, for a second
// jest run in the same `npm test` (scripts/test-aws.mjs writes jest-aws.json).
const fs = require('node:fs');
const path = require('node:path');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const dir = path.resolve('.test-results');
    fs.mkdirSync(dir, { recursive: true });
    const summary = {
      passed: results.numPassedTests,
      failed: results.numFailedTests + results.numRuntimeErrorTestSuites,
      skipped: results.numPendingTests + results.numTodoTests,
    };
    fs.writeFileSync(
      path.join(dir, process.env.CREDIT_RISK_JEST_SUMMARY || 'jest.json'),
      JSON.stringify(summary),
    );
  }
}
module.exports = SummaryReporter;
