import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * No import cycles among our modules (type-only imports included: a cycle of types is still two
 * modules that cannot be understood apart). Specifiers are read from the sources and resolved the
 * way package.json `imports` and relative paths resolve them.
 */
const repo = resolve(import.meta.dirname, '../../..');
const ROOTS = ['lib', 'functions', 'local'];
const SUBPATHS: Record<string, string> = {
  '#lib/': 'lib/',
  '#functions/': 'functions/',
  '#local/': 'local/',
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+'([^']+)'/g)].map((m) => m[1]);
  const out: string[] = [];
  for (const spec of specs) {
    const prefix = Object.keys(SUBPATHS).find((p) => spec.startsWith(p));
    if (prefix) out.push(relative(repo, join(repo, SUBPATHS[prefix], spec.slice(prefix.length))));
    else if (spec.startsWith('.')) out.push(relative(repo, resolve(dirname(file), spec)));
  }
  return out;
}

export function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return cycles;
}

describe('import graph', () => {
  it('finds a planted cycle (the check can fail)', () => {
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['a']],
    ]);
    expect(findCycles(g)).toEqual([['a', 'b', 'c', 'a']]);
  });

  it('has no cycle among lib/, functions/ and local/', () => {
    const graph = new Map<string, string[]>();
    for (const root of ROOTS)
      for (const file of sources(join(repo, root))) graph.set(relative(repo, file), importsOf(file));
    expect(graph.size).toBeGreaterThan(100);
    expect(findCycles(graph)).toEqual([]);
  });
});
