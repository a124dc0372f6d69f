/**
 * The docs are read on GitHub and in an editor, where a broken relative link is a dead end: every
 * relative link (and every #anchor) in docs/**\/*.md and README.md must name a file, directory or
 * heading that exists. The ADR index must list every ADR, and every ADR must have the sections the
 * template asks for, so a reader can rely on the index and the shape.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../../..');

interface Problem {
  file: string;
  line: number;
  target: string;
  reason: string;
}

/** GitHub's heading anchors: lower case, punctuation dropped, each space a hyphen, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of lines(markdown, { keepCode: true })) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (!heading) continue;
    const plain = heading[1].replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = plain
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/**
 * Lines outside code blocks, with inline code spans blanked (links there are examples) unless
 * `keepCode` (a heading's anchor includes the text of its code spans).
 */
function lines(markdown: string, { keepCode = false } = {}): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = [];
  let fenced = false;
  markdown.split('\n').forEach((raw, i) => {
    if (/^\s*(```|~~~)/.test(raw)) {
      fenced = !fenced;
      return;
    }
    if (fenced || /^( {4}|\t)/.test(raw)) return;
    out.push({ text: keepCode ? raw : raw.replace(/`[^`]*`/g, '``'), line: i + 1 });
  });
  return out;
}

function linksOf(markdown: string): { target: string; line: number }[] {
  const links: { target: string; line: number }[] = [];
  for (const { text, line } of lines(markdown)) {
    for (const m of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      links.push({ target: m[1], line });
    }
    const definition = /^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/.exec(text);
    if (definition) links.push({ target: definition[1], line });
  }
  return links;
}

/** Problems of one markdown file; `readTarget` lets a test feed files that are not on disk. */
function checkLinks(
  file: string,
  markdown: string,
  readTarget = (path: string) => readFileSync(path, 'utf8'),
): Problem[] {
  const problems: Problem[] = [];
  for (const { target, line } of linksOf(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
    const path = pathPart === '' ? file : resolve(dirname(file), decodeURIComponent(pathPart));
    const report = (reason: string) => problems.push({ file: relative(root, file), line, target, reason });
    if (pathPart.startsWith('/')) {
      report('absolute path: use a path relative to this file');
      continue;
    }
    if (!relative(root, path).split(/[\\/]/)[0] || relative(root, path).startsWith('..')) {
      report('points outside the repository');
      continue;
    }
    if (pathPart !== '' && !existsSync(path)) {
      report('no such file or directory');
      continue;
    }
    if (anchor === undefined || anchor === '') continue;
    if (!path.endsWith('.md') || (pathPart !== '' && statSync(path).isDirectory())) continue;
    if (!anchorsOf(pathPart === '' ? markdown : readTarget(path)).has(anchor.toLowerCase())) {
      report(`no heading with the anchor #${anchor}`);
    }
  }
  return problems;
}

function markdownFiles(): string[] {
  const docs = join(root, 'docs');
  const found = readdirSync(docs, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(docs, name));
  return [join(root, 'README.md'), ...found].sort();
}

describe('links in the docs', () => {
  it('find a missing file, a missing anchor and a path outside the repository in a sample', () => {
    const file = join(root, 'docs', 'sample.md');
    const sample = [
      '# Sample heading',
      'See [the ADRs](adr/README.md), [missing](adr/no-such-adr.md), [up](#sample-heading),',
      '[gone](#no-such-heading), [web](https://example.org/x.md) and [out](../../elsewhere.md).',
      '```',
      '[in a code block](ignored.md)',
      '```',
      '`[in code](ignored-too.md)`',
    ].join('\n');
    const problems = checkLinks(file, sample).map((p) => [p.line, p.target, p.reason]);
    expect(problems).toEqual([
      [2, 'adr/no-such-adr.md', 'no such file or directory'],
      [3, '#no-such-heading', 'no heading with the anchor #no-such-heading'],
      [3, '../../elsewhere.md', 'points outside the repository'],
    ]);
  });

  it('name anchors the way GitHub does', () => {
    const anchors = anchorsOf('# A: `code` (2026-12-03, 15:11)\n## Same\n## Same\n');
    expect([...anchors]).toEqual(['a-code-2026-12-03-1511', 'same', 'same-1']);
  });

  it('every relative link in docs/ and README.md resolves', () => {
    const files = markdownFiles();
    const problems = files.flatMap((file) => checkLinks(file, readFileSync(file, 'utf8')));
    expect(problems).toEqual([]);
    const linkCount = files.reduce((n, file) => n + linksOf(readFileSync(file, 'utf8')).length, 0);
    expect(linkCount).toBeGreaterThan(100);
  });
});

describe('the ADR folder', () => {
  const adrDir = join(root, 'docs', 'adr');
  const adrs = readdirSync(adrDir)
    .filter((name) => /^\d{4}-[a-z0-9-]+\.md$/.test(name) && !name.startsWith('0000-'))
    .sort();

  it('lists every ADR in its index', () => {
    const index = readFileSync(join(adrDir, 'README.md'), 'utf8');
    const linked = new Set(linksOf(index).map((l) => l.target));
    expect(adrs.filter((name) => !linked.has(name))).toEqual([]);
    expect(adrs.length).toBeGreaterThan(0);
  });

  it('gives every ADR its number as title, a status, and Context, Decision, Consequences', () => {
    const malformed = adrs.flatMap((name) => {
      const text = readFileSync(join(adrDir, name), 'utf8');
      const wrong: string[] = [];
      if (!text.startsWith(`# ${name.slice(0, 4)}. `))
        wrong.push(`${name}: title is not "# ${name.slice(0, 4)}. ..."`);
      if (!/^Status: |^## Status$/m.test(text)) wrong.push(`${name}: no status`);
      for (const section of ['Context', 'Decision', 'Consequences']) {
        if (!new RegExp(`^## ${section}$`, 'm').test(text)) wrong.push(`${name}: no "## ${section}"`);
      }
      return wrong;
    });
    expect(malformed).toEqual([]);
  });
});
