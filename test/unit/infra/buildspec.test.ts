import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';

const root = resolve(import.meta.dirname, '../../..');
const scripts = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')).scripts as Record<
  string,
  string
>;

function commandsOf(spec: any): string[] {
  return Object.values(spec.phases ?? {}).flatMap((phase: any) => phase.commands ?? []);
}

describe('buildspec.yml', () => {
  const spec = parse(readFileSync(resolve(root, 'buildspec.yml'), 'utf8'));

  it('parses as a CodeBuild 0.2 spec with install, pre_build, build and post_build', () => {
    expect(spec.version).toBe(0.2);
    expect(Object.keys(spec.phases)).toEqual(['install', 'pre_build', 'build', 'post_build']);
    expect(spec.phases.install['runtime-versions'].nodejs).toBe(22);
  });

  it('every `npm run X` it calls exists in package.json scripts', () => {
    const runs = commandsOf(spec).flatMap((c) => [...c.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]));
    expect(runs.length).toBeGreaterThanOrEqual(3);
    for (const name of runs) expect({ name, exists: name in scripts }).toEqual({ name, exists: true });
    expect(commandsOf(spec).some((c) => /^npm test\b/.test(c))).toBe(true);
    expect(commandsOf(spec).some((c) => /^npm ci\b/.test(c))).toBe(true);
  });

  it('lints and tests before it builds, and deploys only a successful build', () => {
    expect(spec.phases.pre_build.commands.join('\n')).toMatch(/npm run lint[\s\S]*npm test/);
    expect(spec.phases.build.commands.join('\n')).toContain('--phase build');
    const post = spec.phases.post_build.commands.join('\n');
    expect(post).toContain('CODEBUILD_BUILD_SUCCEEDING');
    expect(post).toContain('--phase deploy');
  });

  it('reports jest results in JUnit format and caches npm and pip', () => {
    expect(spec.reports.jest['file-format']).toBe('JUNITXML');
    expect(spec.reports.jest.files[0]).toBe(
      `${spec.env.variables.JEST_JUNIT_OUTPUT_DIR}/${spec.env.variables.JEST_JUNIT_OUTPUT_NAME}`,
    );
    expect(spec.phases.pre_build.commands.join('\n')).toContain('--reporters=jest-junit');
    expect(spec.cache.paths.join(' ')).toMatch(/\.npm.*pip|pip.*\.npm/);
  });
});

describe('infra/buildspec-image.yml', () => {
  const spec = parse(readFileSync(resolve(root, 'infra/buildspec-image.yml'), 'utf8'));

  it('rebuilds the predict image for MODEL_VERSION and exports IMAGE_URI for the canary', () => {
    expect(spec.env['exported-variables']).toContain('IMAGE_URI');
    const all = commandsOf(spec).join('\n');
    expect(all).toContain('$MODEL_VERSION');
    expect(all).toMatch(/docker build[\s\S]*docker push/);
    expect(all).toContain('RepoDigests');
  });

  it('is the spec the image-build project names', () => {
    expect(readFileSync(resolve(root, 'infra/resources/image-build.yml'), 'utf8')).toContain(
      'BuildSpec: infra/buildspec-image.yml',
    );
  });
});
