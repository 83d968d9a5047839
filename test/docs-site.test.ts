// The docs site (`npm run docs`: typedoc, the API reference together with the guides) builds
// without a warning, holds every guide of docs/guides/, and has no broken internal link: every
// href and src of every page, and every page of the sidebar, names a file of the site and an
// anchor that exists in it. The link checker is shown to catch a missing page and a missing
// anchor on a planted site first, so a checker that sees nothing cannot pass unnoticed.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { deflateSync } from 'node:zlib';
import { afterAll, expect, it } from 'vitest';
import { checkSite } from './support/site-links.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');
const typedoc = path.join(root, 'node_modules', 'typedoc', 'bin', 'typedoc');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'docket-docs-site-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// A guide's frontmatter title: the name typedoc gives its page and sidebar entry.
function titleOf(file: string): string | undefined {
  return /^---\n(?:.*\n)*?title:\s*"?([^"\n]+)"?\n(?:.*\n)*?---\n/.exec(readFileSync(file, 'utf8'))?.[1];
}

it('the link checker reports a missing page and a missing anchor', () => {
  const site = path.join(tmp, 'planted');
  mkdirSync(path.join(site, 'assets'), { recursive: true });
  mkdirSync(path.join(site, 'documents'));
  const nav = [{ text: 'Guide', path: 'documents/guide.html' }, { text: 'Gone', path: 'documents/gone.html' }];
  writeFileSync(path.join(site, 'assets', 'navigation.js'), `window.navigationData = "${deflateSync(JSON.stringify(nav)).toString('base64')}"`);
  writeFileSync(path.join(site, 'assets', 'style.css'), '');
  writeFileSync(
    path.join(site, 'index.html'),
    '<link href="assets/style.css"><a href="documents/guide.html#start">ok</a><a href="documents/missing.html">x</a>' +
      '<a href="documents/guide.html#nowhere">y</a><a href="https://example.org/x">out</a><a href="#top" id="top">self</a>',
  );
  writeFileSync(path.join(site, 'documents', 'guide.html'), '<h2 id="start">Start</h2><a href="../index.html#top">up</a><a href="../">home</a><a href="../../x.html">z</a>');
  const { broken, links } = checkSite(site);
  expect(links).toBe(10);
  const byPlace = (a: { from: string; link: string }, b: { from: string; link: string }) => `${a.from} ${a.link}`.localeCompare(`${b.from} ${b.link}`);
  expect([...broken].sort(byPlace)).toEqual([
    { from: path.join('assets', 'navigation.js'), link: 'documents/gone.html', problem: 'no such file' },
    { from: path.join('documents', 'guide.html'), link: '../../x.html', problem: 'outside the site' },
    { from: 'index.html', link: 'documents/guide.html#nowhere', problem: 'no such anchor' },
    { from: 'index.html', link: 'documents/missing.html', problem: 'no such file' },
  ]);
});

it('npm run docs builds the site without warnings, with every guide and no broken internal link', async () => {
  const out = path.join(tmp, 'site');
  const started = performance.now();
  let output: string;
  try {
    const { stdout, stderr } = await run(process.execPath, [typedoc, '--out', out], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
    output = stdout + stderr;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    throw new Error(`typedoc failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  // treatWarningsAsErrors makes a warning fail the build above; this also catches one that a
  // config change let through.
  expect(output).not.toMatch(/\[(warning|error)\]/);
  expect(output).toContain('html generated at');

  const site = checkSite(out);
  console.log(`docs site: built in ${seconds} s, ${site.pages} pages, ${site.links} internal links checked`);
  expect(site.broken).toEqual([]);
  expect(site.pages).toBeGreaterThan(50);

  // Every guide is a page of the site, in the sidebar under its own title; so is each entry point.
  const titles = site.navigation.map((n) => n.text);
  const guides = readdirSync(path.join(root, 'docs', 'guides')).filter((f) => f.endsWith('.md'));
  expect(guides.length).toBeGreaterThanOrEqual(7);
  for (const guide of guides) {
    const title = titleOf(path.join(root, 'docs', 'guides', guide));
    expect(title, `docs/guides/${guide} needs frontmatter with a title (and a group)`).toBeDefined();
    expect(titles).toContain(title);
  }
  for (const doc of ['plugins.md', 'workflows.md', 'reliability.md', 'benchmarks.md', 'guide.md']) {
    expect(titles).toContain(titleOf(path.join(root, 'docs', doc)));
  }
  expect(titles).toEqual(expect.arrayContaining(['docket', 'docket/testing']));
  // The README is the landing page, its links to the docs rewritten to the site's pages.
  const index = readFileSync(path.join(out, 'index.html'), 'utf8');
  expect(index).toContain('href="documents/Workflows.html"');
}, 300_000); // typedoc (a full type-check, then the site): CPU-bound, several times slower on a loaded 2-core machine
