import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Writes the fixture ONNX model (make_fixture_model.py: two stumps + sigmoid) with its card into a
 * temp dir. Known answer: logit = (nb < 2.5 ? -1 : 1) + (years missing or < 3.5 ? 0.5 : -0.5).
 */
export function writeFixtureModel(python: string, threshold = 0.5, scale = 1): string {
  const dir = mkdtempSync(join(tmpdir(), 'cr-model-'));
  execFileSync(python, [
    'test/integration/serving/make_fixture_model.py',
    dir,
    String(threshold),
    String(scale),
  ]);
  return dir;
}

export function fixtureProbability(nb: number, years: number | null, scale = 1): number {
  const logit =
    scale * ((nb < 2.5 ? -1 : 1) + (years === null || Number.isNaN(years) || years < 3.5 ? 0.5 : -0.5));
  return 1 / (1 + Math.exp(-logit));
}
