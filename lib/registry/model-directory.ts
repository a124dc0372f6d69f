import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import { EXPLAINER_FILE } from '#lib/model/explainer-artifact.ts';
import type { ModelArtifacts } from './registry.ts';

/**
 * The files `credit-risk train --out DIR` writes and `models register DIR` reads. explainer.json
 * is optional here (directories trained before explanations lack it); the registry refuses a
 * model.onnx that names one without it.
 */
export const MODEL_FILES = ['model.onnx', 'card.json', 'report.html'] as const;
export const OPTIONAL_MODEL_FILES = [EXPLAINER_FILE] as const;

export async function readModelDirectory(dir: string): Promise<ModelArtifacts> {
  const read = async (file: (typeof MODEL_FILES)[number]) => {
    try {
      return new Uint8Array(await readFile(join(dir, file)));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        throw new InputError(
          'MISSING_MODEL_FILE',
          `${join(dir, file)} does not exist: a model directory holds ${MODEL_FILES.join(', ')} (from credit-risk train --out DIR)`,
        );
      }
      throw e;
    }
  };
  // One after the other, so a wrong directory is reported by its first missing file, model.onnx.
  const model = await read('model.onnx');
  const card = await read('card.json');
  const report = await read('report.html');
  let explainer: Uint8Array | undefined;
  try {
    explainer = new Uint8Array(await readFile(join(dir, EXPLAINER_FILE)));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return explainer ? { model, card, report, explainer } : { model, card, report };
}
