import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from './engine.ts';

/**
 * Browser tests in a real headless Chromium, driven by playwright-core (the library alone:
 * Playwright's own browser download cannot run here, so it drives the system's Chromium).
 * One browser per test file; `session.page()` gives each test a fresh context (cookies, storage)
 * that records the page's uncaught errors and console errors; `session.close()` (in `after`)
 * ends the browser and its processes. Playwright gives every launch a fresh, empty profile
 * directory and removes it on close.
 *
 *   const skip = browserSkip();
 *   let session: BrowserSession;
 *   before(async () => { if (!skip) session = await launchBrowser(); });
 *   after(() => session?.close());
 *   test('...', { skip }, async () => { const page = await session.page(); ... });
 *
 * HERALD_CHROMIUM names another Chromium or Chrome binary (default /usr/bin/chromium).
 * Without one the tests are skipped with a message, unless HERALD_REQUIRE_BROWSER is set (CI
 * sets it after installing Chromium), which makes a missing browser a failure instead.
 */
export const CHROMIUM = process.env.HERALD_CHROMIUM ?? '/usr/bin/chromium';
/** Screenshots the tests take: artefacts of the run, ignored by git (.tmp/). */
export const SCREENSHOTS = path.join(ROOT, '.tmp', 'screenshots');

/**
 * Chromium's flags. The background-networking, component-update, sync and QUIC switches stop
 * the calls home a fresh profile makes, which a machine without internet answers by refusing
 * connections; --no-sandbox because CI runs as root.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];

/** `skip` for node:test: a reason when there is no browser and none is required, else false. */
export function browserSkip(): string | false {
  if (existsSync(CHROMIUM) || process.env.HERALD_REQUIRE_BROWSER) return false;
  return `no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium) or set HERALD_CHROMIUM`;
}

export interface BrowserSession {
  readonly browser: Browser;
  /** A new page in its own context; its uncaught errors and console errors go to `errors(page)`. */
  page(options?: { viewport?: { width: number; height: number }; bypassCSP?: boolean }): Promise<Page>;
  /** Uncaught exceptions and console.error messages of a page so far. */
  errors(page: Page): readonly string[];
  /** A PNG of the page (or of one element) in .tmp/screenshots/<name>.png; returns its path. */
  screenshot(page: Page, name: string, selector?: string): Promise<string>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<BrowserSession> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`HERALD_REQUIRE_BROWSER is set but there is no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  const contexts = new Set<BrowserContext>();
  const errors = new WeakMap<Page, string[]>();
  return {
    browser,
    async page(options = {}) {
      // bypassCSP: for axe-core, which is injected as an inline script into pages whose CSP forbids that.
      const context = await browser.newContext({ viewport: options.viewport ?? { width: 1024, height: 720 }, bypassCSP: options.bypassCSP ?? false });
      contexts.add(context);
      // Bounded waits: a missing element fails the test in seconds instead of hanging it.
      context.setDefaultTimeout(15_000);
      const page = await context.newPage();
      const seen: string[] = [];
      errors.set(page, seen);
      page.on('pageerror', (err) => seen.push(`uncaught: ${err.message}`));
      page.on('console', (msg) => {
        if (msg.type() === 'error') seen.push(`console: ${msg.text()}`);
      });
      return page;
    },
    errors: (page) => errors.get(page) ?? [],
    async screenshot(page, name, selector) {
      await mkdir(SCREENSHOTS, { recursive: true });
      const file = path.join(SCREENSHOTS, `${name}.png`);
      if (selector) await page.locator(selector).screenshot({ path: file });
      else await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    async close() {
      await Promise.allSettled([...contexts].map((c) => c.close()));
      await browser.close();
    },
  };
}

export interface AxeViolation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly targets: readonly string[];
}

/**
 * axe-core's accessibility rules run inside the page (WCAG 2.x A and AA), shadow roots
 * included; what it finds, in short. `selector` limits the check to part of the page.
 */
export async function axeViolations(page: Page, selector?: string): Promise<AxeViolation[]> {
  const source = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await page.addScriptTag({ content: source });
  return page.evaluate(async (include) => {
    const axe = (globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }> }> } }).axe;
    const result = await axe.run(include ? { include: [include] } : (globalThis as unknown as { document: unknown }).document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => JSON.stringify(n.target)) }));
  }, selector ?? null);
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml' };

/**
 * A static file server on 127.0.0.1 (another origin than herald's, as an app embedding herald
 * would be): serves `dir`, nothing above it.
 */
export async function serveStatic(dir: string): Promise<{ url: string; close(): Promise<void> }> {
  const root = path.resolve(dir);
  const server: Server = createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.join(root, pathname.endsWith('/') ? `${pathname}index.html` : pathname);
    if (!file.startsWith(root + path.sep)) return void res.writeHead(403).end();
    readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(body),
      () => res.writeHead(404).end('not found'),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
