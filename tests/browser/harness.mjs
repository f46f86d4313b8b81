// What the browser tests share: their command line, Debian's Chromium, a
// browser context that lets through only the server under test (requests
// and WebSockets; anything else is blocked and recorded) and records
// Content-Security-Policy violations, a page that records script and
// console errors, and the closing verdict.

import { existsSync } from "node:fs";
import { chromium } from "playwright-core";

// Long enough for a slow shared machine, short enough to fail a CI run
// soon; each wait is one step, not the whole test.
export const STEP_TIMEOUT_MS = 30_000;

export function fail(message) {
  throw new Error(message);
}

/// A `waitFor(page, what, predicate, arg)` for one test: it waits for
/// `predicate` (run in the page) to return a truthy value, which it
/// returns, and fails after the step timeout naming `what` and the page's
/// state as `describe(page)` reads it.
export function waiter(describe) {
  return async function waitFor(page, what, predicate, arg) {
    try {
      const handle = await page.waitForFunction(predicate, arg, { timeout: STEP_TIMEOUT_MS, polling: 100 });
      return await handle.jsonValue();
    } catch {
      const state = await describe(page).catch(() => "(unreadable)");
      fail(`timed out after ${STEP_TIMEOUT_MS} ms waiting for ${what}; ${state}`);
    }
  };
}

/// `BASE_URL [SCREENSHOT.png]` of `script`; exits 2 with its usage when
/// the base is missing.
export function commandLine(script, defaultScreenshot) {
  const [base, screenshot = defaultScreenshot] = process.argv.slice(2);
  if (!base) {
    console.error(`usage: node ${script} BASE_URL [SCREENSHOT.png]`);
    process.exit(2);
  }
  return { screenshot, origin: new URL(base).origin, host: new URL(base).host };
}

/// Headless Chromium: Debian's `chromium` (or $CHROMIUM); exits 2 when
/// there is none.
export function launch() {
  const executablePath =
    process.env.CHROMIUM ??
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((path) => existsSync(path));
  if (!executablePath) {
    console.error("no Chromium found: install Debian's chromium package or set CHROMIUM");
    process.exit(2);
  }
  return chromium.launch({
    executablePath,
    headless: true,
    // Chromium refuses its sandbox to root, as CI containers often run.
    chromiumSandbox: process.getuid?.() !== 0,
  });
}

/// A context in which only `host` answers: every other request and socket
/// is refused and its address pushed onto `foreign`. A socket to `host`
/// goes to `ownSocket` (connected to the server by default). Every page
/// records its CSP violations for `verdict`.
export async function offlineContext(browser, { host, viewport, foreign, ownSocket }) {
  const context = await browser.newContext({ viewport });
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.host === host) return route.continue();
    foreign.push(route.request().url());
    return route.abort("blockedbyclient");
  });
  await context.routeWebSocket(/.*/, (ws) => {
    if (new URL(ws.url()).host !== host) {
      foreign.push(ws.url());
      return ws.close();
    }
    if (ownSocket) return ownSocket(ws);
    return ws.connectToServer();
  });
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (event) => {
      window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
    });
  });
  return context;
}

/// A page of `context` whose script errors and console errors are pushed
/// onto `problems`.
export async function watchedPage(context, problems) {
  const page = await context.newPage();
  page.on("pageerror", (error) => problems.push(`script error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  return page;
}

/// Fails with every problem seen: the page's CSP violations, requests to
/// other hosts, script and console errors.
export async function verdict(page, foreign, problems) {
  const violations = await page.evaluate(() => window.__cspViolations);
  for (const violation of violations) problems.push(`CSP violation: ${violation}`);
  if (foreign.length > 0) problems.push(`requests to other hosts: ${foreign.join(", ")}`);
  if (problems.length > 0) fail(problems.join("\n  "));
}

/// Prints why the test failed, with what else was seen.
export function reportFailure(error, foreign, problems) {
  console.error(`browser test failed: ${error.message}`);
  if (foreign.length > 0) console.error(`  requests to other hosts: ${foreign.join(", ")}`);
  for (const problem of problems) console.error(`  ${problem}`);
}
