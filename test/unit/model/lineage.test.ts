import { describe, expect, it } from '@jest/globals';
import { bakedCodeVersion, bakedLibraryVersions } from '../../../scripts/build.ts';
import { gitHead, installedVersion, libraryVersions, resolveCodeVersion } from '#lib/model/lineage.ts';

describe('lineage: the code version and library versions a card records', () => {
  it('takes CODE_VERSION from the environment first, then (unbundled) the checkout', () => {
    expect(resolveCodeVersion({ CODE_VERSION: 'abc123' })).toEqual({ value: 'abc123', source: 'env' });
    const head = gitHead();
    // this test runs from a git checkout (a worktree or CI's clone)
    expect(head).toMatch(/^[0-9a-f]{40}$/);
    expect(resolveCodeVersion({})).toEqual({ value: head, source: 'git' });
  });

  it('reads onnxruntime-node and @duckdb/node-api versions from their package.json, beside Node', () => {
    const v = libraryVersions();
    expect(Object.keys(v)).toEqual(['node', 'onnxruntime-node', '@duckdb/node-api']);
    expect(v.node).toBe(process.versions.node);
    expect(v['onnxruntime-node']).toMatch(/^\d+\.\d+\.\d+/);
    expect(v['@duckdb/node-api']).toMatch(/^\d+\.\d+\.\d+/);
    expect(installedVersion('no-such-package-here')).toBeNull();
  });

  it('the build bakes the same values into bundles (CODE_VERSION wins over git)', () => {
    expect(bakedCodeVersion({ CODE_VERSION: 'from-buildspec' })).toBe('from-buildspec');
    expect(bakedCodeVersion({})).toBe(gitHead());
    const baked = bakedLibraryVersions();
    expect(baked).toEqual({
      'onnxruntime-node': libraryVersions()['onnxruntime-node'],
      '@duckdb/node-api': libraryVersions()['@duckdb/node-api'],
    });
  });
});
