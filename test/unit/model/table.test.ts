import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// lib/model/table.ts reads result vectors through @duckdb/node-bindings, the native binding that
// @duckdb/node-api wraps. Two versions of it would load two DuckDB libraries into one process and
// hand vectors of one to the other: package.json pins the very version node-api depends on, and
// both resolve to one installed copy.
describe('the DuckDB binding readTable uses', () => {
  const require = createRequire(import.meta.url);
  const json = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;

  it('is the version @duckdb/node-api depends on, installed once', () => {
    const ours = json('package.json').dependencies as Record<string, string>;
    const apiFile = require.resolve('@duckdb/node-api/package.json');
    const api = json(apiFile).dependencies as Record<string, string>;
    expect(ours['@duckdb/node-bindings']).toBe(api['@duckdb/node-bindings']);
    const fromApi = createRequire(apiFile).resolve('@duckdb/node-bindings/package.json');
    expect(fromApi).toBe(require.resolve('@duckdb/node-bindings/package.json'));
  });
});
