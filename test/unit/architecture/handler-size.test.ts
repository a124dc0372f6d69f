import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Handlers stay thin (issue 16): parse, call lib/, shape the answer. Every functions/<name>/handler.ts
 * is at most 80 lines and their median at most 60; schemas, ports and telemetry sit beside them.
 */
const root = resolve(import.meta.dirname, '../../..');
const sizes = readdirSync(join(root, 'functions'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && d.name !== 'commons')
  .map((d) => {
    const text = readFileSync(join(root, 'functions', d.name, 'handler.ts'), 'utf8');
    return { handler: d.name, lines: text.split('\n').length - (text.endsWith('\n') ? 1 : 0) };
  });

describe('handler size', () => {
  it('finds every function (the walk works)', () => {
    expect(sizes.map((s) => s.handler)).toEqual(expect.arrayContaining(['predict', 'canary', 'train']));
  });

  it('every handler is at most 80 lines', () => {
    expect(sizes.filter((s) => s.lines > 80)).toEqual([]);
  });

  it('the median handler is at most 60 lines', () => {
    const sorted = sizes.map((s) => s.lines).sort((a, b) => a - b);
    const mid = sorted.length / 2;
    const median = sorted.length % 2 ? sorted[Math.floor(mid)] : (sorted[mid - 1] + sorted[mid]) / 2;
    expect(median).toBeLessThanOrEqual(60);
  });
});
