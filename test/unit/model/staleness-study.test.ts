import { describe, expect, it } from '@jest/globals';
import { filterRows } from '#lib/model/staleness-study.ts';
import { textAt, textColumn, type Table, type TableColumn } from '#lib/model/table.ts';

describe('filterRows', () => {
  it('keeps the rows keep() accepts, in order, in every column (text columns by their codes)', () => {
    const city = textColumn('city', ['Lima', null, 'Oaxaca', 'Lima', 'Quito']);
    const table: Table = {
      path: 'fixture.parquet',
      numRows: 5,
      schema: [
        { name: 'amount', kind: 'numeric', sqlType: 'DOUBLE' },
        { name: 'city', kind: 'text', sqlType: 'VARCHAR' },
      ],
      columns: new Map<string, TableColumn>([
        [
          'amount',
          { kind: 'numeric', name: 'amount', sqlType: 'DOUBLE', values: Float64Array.of(1, 2, 3, 4, 5) },
        ],
        ['city', city],
      ]),
    };
    const kept = filterRows(table, (r) => r !== 2);
    expect(kept.numRows).toBe(4);
    const amount = kept.columns.get('amount');
    expect(amount?.kind === 'numeric' ? Array.from(amount.values) : null).toEqual([1, 2, 4, 5]);
    const cities = kept.columns.get('city');
    expect(cities?.kind === 'text' ? [0, 1, 2, 3].map((r) => textAt(cities, r)) : null).toEqual([
      'Lima',
      null,
      'Lima',
      'Quito',
    ]);
    expect(filterRows(table, () => false).numRows).toBe(0);
  });
});
