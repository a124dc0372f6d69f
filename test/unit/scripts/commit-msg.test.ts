/**
 * The commit-msg hook, run the way git runs it (sh .githooks/commit-msg FILE): a subject must be
 * `area: change` in at most 72 characters with a blank line before the body; git's own Merge and
 * Revert subjects pass.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../../..');
const hook = join(root, '.githooks', 'commit-msg');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'commit-msg-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runHook(message: string): { status: number | null; stderr: string } {
  const file = join(dir, 'COMMIT_EDITMSG');
  writeFileSync(file, message);
  const result = spawnSync('sh', [hook, file], { cwd: root, encoding: 'utf8' });
  return { status: result.status, stderr: result.stderr };
}

const exactly72 = `docs: ${'x'.repeat(66)}`;

describe('the commit-msg hook', () => {
  it('is executable, so git runs it', () => {
    expect(statSync(hook).mode & 0o111).not.toBe(0);
  });

  it.each([
    [
      'an area and a change with a body',
      'features: refuse empty snapshots at publish\n\nWhy: a 0-row snapshot served 404s.\n',
    ],
    ['a subject of exactly 72 characters', `${exactly72}\n`],
    ['72 characters counted as characters, not bytes', `docs: ${'é'.repeat(66)}\n`],
    ['an area with digits, a hyphen or a slash', 'bench/serve-2: wrk for every target\n'],
    [
      'git comments and a verbose diff below the scissors',
      '# Please enter the commit message\nserving: one status table\n\n# On branch wt-docs\n# ------------------------ >8 ------------------------\ndiff --git a/x b/x\n',
    ],
    ['a merge', "Merge branch 'wt-docs' into main\n"],
    ['a revert, however long', `Revert "features: ${'y'.repeat(80)}"\n\nThis reverts commit 95dcd84.\n`],
    ['an empty message (git refuses it itself)', '# only a comment\n\n'],
  ])('accepts %s', (_name, message) => {
    expect(runHook(message)).toEqual({ status: 0, stderr: '' });
  });

  it('refuses a subject of 73 characters and says how long it is', () => {
    const { status, stderr } = runHook(`${exactly72}y\n\nbody\n`);
    expect(status).toBe(1);
    expect(stderr).toContain('the subject is 73 characters long; at most 72');
    expect(stderr).not.toContain('not in `area: change` form');
  });

  it.each([
    ['no area', 'Fix the thing'],
    ['a capitalised area', 'Features: refuse empty snapshots'],
    ['no space after the colon', 'features:refuse empty snapshots'],
    ['a space in the area', 'feature store: refuse empty snapshots'],
    ['nothing after the colon', 'features: '],
  ])('refuses %s', (_name, subject) => {
    const { status, stderr } = runHook(`${subject}\n`);
    expect(status).toBe(1);
    expect(stderr).toContain('not in `area: change` form');
    expect(stderr).toContain('e.g. `features: refuse empty snapshots at publish`');
  });

  it('refuses a subject that runs on to a second line', () => {
    const { status, stderr } = runHook('features: refuse empty snapshots\nat publish, with a reason\n');
    expect(status).toBe(1);
    expect(stderr).toContain('leave a blank line between the subject and the body');
  });

  it('names every problem of a long subject without an area, and where the message is kept', () => {
    const subject = `Docs: ${'a very long subject '.repeat(11)}`.trimEnd();
    const { status, stderr } = runHook(`${subject}\n`);
    expect(status).toBe(1);
    expect(stderr).toContain(`the subject is ${subject.length} characters long`);
    expect(stderr).toContain('not in `area: change` form');
    expect(stderr).toContain(`git commit -e -F ${join(dir, 'COMMIT_EDITMSG')}`);
  });

  it('exits 2 without a message file', () => {
    const result = spawnSync('sh', [hook], { cwd: root, encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('usage: node scripts/commit-msg.mjs <commit message file>');
  });
});
