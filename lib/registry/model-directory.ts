import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import type { ModelArtifacts } from './registry.ts';

/** The files `credit-risk train --out DIR` writes and `models register DIR` reads. */
export const MODEL_FILES = ['model.onnx', 'card.json', 'report.html'] as const;

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
  return { model, card, report };
}
