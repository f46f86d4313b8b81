// Drives the GraphiQL playground of a running Dunder in headless Chromium,
// the way a person would: opens /graphql, types a query into the editor and
// runs it, then types a subscription and runs it, posts a message over REST
// and waits for it to appear in the result pane. Every request to another
// host is blocked, and one attempted fails the test, as do a script error
// and a Content-Security-Policy violation: the playground must work offline.
//
//   node tests/browser/playground.mjs http://127.0.0.1:9000 [docs/graphiql.png]
//
// Chromium is Debian's `chromium` (or $CHROMIUM). Every wait is on the
// page's state and bounded; a wait that runs out says what it waited for.
// Exits 1 naming what failed, else prints one line.

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import {
  STEP_TIMEOUT_MS,
  commandLine,
  fail,
  launch,
  offlineContext,
  reportFailure,
  verdict,
  waiter,
  watchedPage,
} from "./harness.mjs";

const { screenshot, origin, host } = commandLine("playground.mjs", "docs/graphiql.png");

const foreign = [];
const problems = [];

/// Waits on the page; a wait that runs out shows the result pane.
const waitFor = waiter(async (page) => `result pane: ${await resultText(page)}`);

/// The text of the result pane, read from its CodeMirror instance (the DOM
/// holds only the lines in view).
function resultText(page) {
  return page.evaluate(() => {
    const editor = document.querySelector(".graphiql-response .CodeMirror");
    return editor ? editor.CodeMirror.getValue() : "";
  });
}

/// Replaces the query editor's text by typing `text` into it, then waits
/// until GraphiQL has parsed it (it does so 100 ms after the last key, and
/// runs whatever it parsed last: a subscription run before that would go out
/// as the previous query did). `name` is the typed operation's name.
async function typeQuery(page, text, name) {
  const editor = page.locator(".graphiql-query-editor .CodeMirror");
  await editor.click();
  await page.keyboard.press("ControlOrMeta+A");
  await page.keyboard.press("Backspace");
  // The editor closes brackets as they are opened and types over a closing
  // bracket already there, so the text comes out as typed; checked below.
  await page.keyboard.type(text);
  await page.keyboard.press("Escape"); // any completion list still open
  const typed = await page.evaluate(
    () => document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.getValue(),
  );
  if (typed.replace(/\s+/g, " ").trim() !== text.replace(/\s+/g, " ").trim()) {
    fail(`the query editor holds ${JSON.stringify(typed)}, not the typed ${JSON.stringify(text)}`);
  }
  await waitFor(
    page,
    `GraphiQL to parse the typed operation ${name}`,
    (name) =>
      document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.operationName === name,
    name,
  );
}

async function run(page) {
  await page.locator("button.graphiql-execute-button").click();
}

async function post(text, hashtags) {
  const response = await fetch(`${origin}/message`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${Buffer.from("playground").toString("base64")}`,
      "Content-Type": "application/json",
    },
    body: JSON.stringify({ text, hashtags }),
  });
  const body = await response.text();
  if (response.status !== 201) fail(`POST /message answered ${response.status}: ${body}`);
  return JSON.parse(body).data.id;
}

const browser = await launch();
let status = 0;
try {
  const context = await offlineContext(browser, { host, viewport: { width: 1280, height: 800 }, foreign });
  const page = await watchedPage(context, problems);

  const response = await page.goto(`${origin}/graphql`, { timeout: STEP_TIMEOUT_MS });
  if (response.status() !== 200) fail(`GET /graphql answered ${response.status()}`);
  const csp = response.headers()["content-security-policy"] ?? "";
  if (!/script-src 'self'(;|$)/.test(csp)) fail(`the page's CSP is not strict: ${JSON.stringify(csp)}`);
  await waitFor(
    page,
    "the GraphiQL editor to load",
    () => document.querySelector(".graphiql-query-editor .CodeMirror")?.CodeMirror,
  );

  // A dialog, whose scroll lock is the one inline style the policy admits.
  await page.locator('button[aria-label^="Open settings dialog"]').click();
  await waitFor(page, "the settings dialog to open", () => document.querySelector('[role="dialog"]'));
  await page.keyboard.press("Escape");
  await waitFor(page, "the settings dialog to close", () => !document.querySelector('[role="dialog"]'));

  // A query, typed and run from the editor, that must name this message.
  const first = `playground query ${Date.now()}`;
  const firstId = await post(first, ["playground"]);
  await typeQuery(
    page,
    "query Recent { messages(first: 5) { edges { node { id text user { name } } } } }",
    "Recent",
  );
  await run(page);
  const queried = await waitFor(
    page,
    "the query's result to name the message posted before it",
    (text) => {
      const editor = document.querySelector(".graphiql-response .CodeMirror");
      const value = editor?.CodeMirror.getValue() ?? "";
      return value.includes(text) && value;
    },
    first,
  );
  const answer = JSON.parse(queried);
  if (answer.errors) fail(`the query answered errors: ${queried}`);

  // A subscription from the first message on: the replay of what was posted
  // after it and the live feed meet without a gap, so the message posted
  // next arrives however long the socket takes to subscribe.
  await typeQuery(
    page,
    `subscription Arrivals { messagePosted(after: "${firstId}") { id text hashtags user { name } } }`,
    "Arrivals",
  );
  await run(page);
  await waitFor(
    page,
    "the subscription to start (the run button turning into stop)",
    () => document.querySelector("button.graphiql-execute-button")?.getAttribute("aria-label")?.startsWith("Stop"),
  );
  const second = `playground subscription ${Date.now()}`;
  await post(second, ["playground", "live"]);
  const arrived = await waitFor(
    page,
    "the posted message to arrive in the subscription's result pane",
    (text) => {
      const editor = document.querySelector(".graphiql-response .CodeMirror");
      const value = editor?.CodeMirror.getValue() ?? "";
      return value.includes(text) && value;
    },
    second,
  );
  if (!arrived.includes('"messagePosted"')) fail(`the result pane holds ${arrived}`);

  // Prettified, so that the screenshot shows the whole subscription.
  await page.locator('button[aria-label^="Prettify query"]').click();
  await waitFor(
    page,
    "the subscription to be prettified",
    () => document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.lineCount() > 1,
  );
  await page.mouse.move(900, 700); // off the buttons, so none shows hovered
  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot });

  await verdict(page, foreign, problems);
  console.log(
    `browser test passed: GraphiQL at ${origin}/graphql ran a query and a subscription ` +
      `offline, the posted message arrived; screenshot in ${screenshot}`,
  );
} catch (error) {
  reportFailure(error, foreign, problems);
  status = 1;
} finally {
  await browser.close();
}
process.exit(status);
