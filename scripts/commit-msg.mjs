#!/usr/bin/env node
// The commit-msg check (.githooks/commit-msg runs it with the message file git passes): the
// subject is `area: change` (a lowercase area, a colon, a space, the change) in at most 72
// characters, and a blank line separates it from the body, where the why and the figures go.
// Short subjects keep `git log --oneline`, blame and review tools readable.
import { readFileSync } from 'node:fs';

const MAX_SUBJECT = 72;
// `features: ...`, `e2e: ...`, `bench/serve: ...`
const AREA_CHANGE = /^[a-z][a-z0-9-]*(?:\/[a-z0-9-]+)*: \S/;
// Subjects git writes itself, and the autosquash markers `git rebase --autosquash` consumes.
const GIT_WRITTEN = /^(?:Merge |Revert |fixup! |squash! |amend! )/;
// `git commit -v` puts the diff below this line; git drops everything after it.
const SCISSORS = /^# -+ >8 -+$/;

const file = process.argv[2];
if (!file) {
  console.error('usage: node scripts/commit-msg.mjs <commit message file>');
  process.exit(2);
}
let text;
try {
  text = readFileSync(file, 'utf8');
} catch (error) {
  console.error(`commit-msg: cannot read ${file}: ${error.message}`);
  process.exit(2);
}

const lines = [];
for (const line of text.split(/\r?\n/)) {
  if (SCISSORS.test(line)) break;
  if (!line.startsWith('#')) lines.push(line.replace(/\s+$/, ''));
}
const start = lines.findIndex((line) => line !== '');
// An empty message: git refuses it on its own, with its own words.
if (start === -1) process.exit(0);
const subject = lines[start];
if (GIT_WRITTEN.test(subject)) process.exit(0);

const problems = [];
const length = [...subject].length;
if (length > MAX_SUBJECT) {
  problems.push(
    `the subject is ${length} characters long; at most ${MAX_SUBJECT} (the detail goes in the body)`,
  );
}
if (!AREA_CHANGE.test(subject)) {
  problems.push(
    'the subject is not in `area: change` form: a lowercase area word (features, serving, docs, ...), a colon, a space, then the change',
  );
}
if (lines.length > start + 1 && lines[start + 1] !== '') {
  problems.push('the subject runs on to a second line; leave a blank line between the subject and the body');
}
if (problems.length === 0) process.exit(0);

console.error(
  [
    'commit-msg: commit refused.',
    ...problems.map((problem) => `  - ${problem}`),
    `  subject: ${subject}`,
    '',
    'Write `area: change` in at most 72 characters, e.g. `features: refuse empty snapshots at publish`,',
    'then a blank line, then the why and any figures in the body (README, "Before committing").',
    `Your message is in ${file}; \`git commit -e -F ${file}\` edits it again.`,
  ].join('\n'),
);
process.exit(1);
