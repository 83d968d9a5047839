// Checks the internal links of a generated static site (the typedoc docs site): every href and
// src of every HTML page, and every page of typedoc's sidebar (assets/navigation.js, which the
// browser renders from data rather than HTML), must name a file of the site, and an anchor that
// exists in it when they carry one. Links with a scheme (https:, mailto:, data:) leave the site
// and are not checked.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { inflateSync } from 'node:zlib';

/** One link that does not resolve. */
export interface BrokenLink {
  /** The page (or `assets/navigation.js`) holding the link, relative to the site's root. */
  readonly from: string;
  readonly link: string;
  readonly problem: 'no such file' | 'no such anchor' | 'outside the site';
}

/** What a crawl found. */
export interface SiteCheck {
  readonly pages: number;
  readonly links: number;
  readonly broken: readonly BrokenLink[];
  /** Pages of the sidebar, as `title -> path` (documents and modules, with their groups flattened). */
  readonly navigation: readonly { readonly text: string; readonly path: string | undefined }[];
}

const ATTR_RE = /\s(?:href|src)\s*=\s*"([^"]*)"/g;
const ID_RE = /\s(?:id|name)\s*=\s*"([^"]*)"/g;

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => path.join(dir, name))
    .filter((file) => statSync(file).isFile());
}

function unescapeHtml(text: string): string {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

interface NavNode {
  readonly text: string;
  readonly path?: string;
  readonly children?: readonly NavNode[];
}

/** The sidebar tree typedoc writes as base64 deflate JSON into assets/navigation.js. */
function readNavigation(root: string): NavNode[] {
  const file = path.join(root, 'assets', 'navigation.js');
  const match = /"([A-Za-z0-9+/=]+)"/.exec(readFileSync(file, 'utf8'));
  if (!match) throw new Error('assets/navigation.js holds no navigation data');
  return JSON.parse(inflateSync(Buffer.from(match[1]!, 'base64')).toString('utf8')) as NavNode[];
}

function flatten(nodes: readonly NavNode[]): { text: string; path: string | undefined }[] {
  return nodes.flatMap((node) => [{ text: node.text, path: node.path }, ...flatten(node.children ?? [])]);
}

/** Crawls the site at `root` and reports every internal link that does not resolve. */
export function checkSite(root: string): SiteCheck {
  const all = files(root);
  const existing = new Set(all.map((file) => path.resolve(file)));
  const idCache = new Map<string, Set<string>>();
  const idsOf = (file: string): Set<string> => {
    let ids = idCache.get(file);
    if (ids === undefined) {
      ids = new Set([...readFileSync(file, 'utf8').matchAll(ID_RE)].map((m) => unescapeHtml(m[1]!)));
      idCache.set(file, ids);
    }
    return ids;
  };
  const broken: BrokenLink[] = [];
  let links = 0;

  // `link` as written in `fromFile` (relative to that file's folder, or to the root when it
  // starts with a slash).
  const check = (fromFile: string, link: string, base: string): void => {
    if (link === '' || /^[a-z][a-z0-9+.-]*:/i.test(link) || link.startsWith('//')) return;
    links++;
    const from = path.relative(root, fromFile);
    const hash = link.indexOf('#');
    const target = (hash === -1 ? link : link.slice(0, hash)).replace(/\?.*$/, '');
    const anchor = hash === -1 ? '' : link.slice(hash + 1);
    const resolved = target === '' ? fromFile : path.resolve(target.startsWith('/') ? root : base, safeDecode(target.replace(/^\//, '')));
    // A folder link (typedoc writes the landing page as `../`) is served as its index.html.
    const file = existing.has(resolved) ? resolved : existing.has(path.join(resolved, 'index.html')) ? path.join(resolved, 'index.html') : resolved;
    if (path.relative(root, file).startsWith('..')) {
      broken.push({ from, link, problem: 'outside the site' });
      return;
    }
    if (!existing.has(file)) {
      broken.push({ from, link, problem: 'no such file' });
      return;
    }
    if (anchor !== '' && /\.(html|svg)$/.test(file)) {
      const ids = idsOf(file);
      if (!ids.has(anchor) && !ids.has(safeDecode(anchor))) broken.push({ from, link, problem: 'no such anchor' });
    }
  };

  const pages = all.filter((file) => file.endsWith('.html'));
  for (const page of pages) {
    for (const match of readFileSync(page, 'utf8').matchAll(ATTR_RE)) check(page, unescapeHtml(match[1]!), path.dirname(page));
  }
  const navigation = flatten(readNavigation(root));
  const navFile = path.join(root, 'assets', 'navigation.js');
  for (const node of navigation) if (node.path !== undefined) check(navFile, node.path, root);
  return { pages: pages.length, links, broken, navigation };
}
