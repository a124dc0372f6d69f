import { toRowMajorFloat32 } from '#lib/model/gbdt/booster.ts';
import { readTable } from '#lib/model/table.ts';

/** The named numeric columns of a features file as the row-major float32 matrix the explainer takes. */
export async function readFeatureMatrix(
  path: string,
  names: readonly string[],
): Promise<{ matrix: Float32Array; rows: number }> {
  const table = await readTable(path);
  const columns = names.map((n) => {
    const c = table.columns.get(n);
    if (!c || c.kind === 'text') throw new Error(`feature ${n} is not numeric in ${path}`);
    return c.values;
  });
  return { matrix: toRowMajorFloat32(columns, table.numRows), rows: table.numRows };
}
