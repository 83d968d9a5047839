// A page in headless Chromium for the dashboard checks, with the page's own errors collected.
// Where no Chromium is installed the check is skipped, except under CI=true: .ci/run installs
// Debian's "chromium", so there a missing browser is a failure, not a skip.
import { existsSync } from 'node:fs';
import type { Page } from 'puppeteer-core';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));

/**
 * A fresh page, or undefined when the test was skipped (`ctx.skip()` called); the browser is
 * closed by a function pushed onto `cleanups`.
 */
export async function browserPage(
  ctx: { skip(): void },
  label: string,
  cleanups: (() => Promise<unknown>)[],
): Promise<{ page: Page; pageErrors: string[] } | undefined> {
  if (CHROMIUM === undefined) {
    if (process.env.CI === 'true') throw new Error('CI=true but no Chromium found: .ci/run installs Debian\'s "chromium"');
    console.log(`[e2e] ${label} check skipped: no Chromium found (install Debian's "chromium" package to run it)`);
    ctx.skip();
    return undefined;
  }
  const { default: puppeteer } = await import('puppeteer-core');
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  cleanups.push(() => browser.close());
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  return { page, pageErrors };
}
