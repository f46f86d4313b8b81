// Drives the live dashboard at `/` of a running Dunder in headless
// Chromium, the way a person would: picks a user name, posts a message with
// a hashtag never used before through the form, and watches it arrive in
// the list and the chart count it; filters by the
// new hashtag from the trending list and posts again; then cuts the
// WebSocket, posts while the page is offline, and checks that the page
// resumes after the last message it shows, without a gap or a duplicate.
// Every request to another host is blocked, and one attempted fails the
// test, as do a script error, a console error and a Content-Security-Policy
// violation.
//
//   node tests/browser/dashboard.mjs http://127.0.0.1:9000 [docs/dashboard.png]
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

const { screenshot, origin, host } = commandLine("dashboard.mjs", "docs/dashboard.png");

const foreign = [];
const problems = [];

/// Waits on the page; a wait that runs out says what the page shows.
const waitFor = waiter(async (page) => {
  const state = await page.evaluate(() => ({
    connection: document.getElementById("connection")?.textContent,
    errors: [...document.querySelectorAll(".error:not([hidden])")].map((node) => node.textContent),
    shown: [...document.querySelectorAll("#feed .text")].slice(0, 5).map((node) => node.textContent),
    current: document.getElementById("current-count")?.textContent,
    hour: document.getElementById("hour-count")?.textContent,
  }));
  return `page: ${JSON.stringify(state)}`;
});

/// How many messages in the list have exactly `text`.
function shownTimes(page, text) {
  return page.evaluate(
    (text) => [...document.querySelectorAll("#feed .message .text")].filter((node) => node.textContent === text).length,
    text,
  );
}

function count(page, id) {
  return page.evaluate((id) => Number(document.getElementById(id).textContent), id);
}

/// Posts through the page's form as it is filled in.
async function postThroughForm(page, text, hashtags) {
  await page.fill("#post-text", text);
  await page.fill("#post-tags", hashtags);
  const posted = await page.evaluate(() => Number(document.getElementById("post").dataset.posted ?? 0));
  await page.click("#post-submit");
  await waitFor(
    page,
    `the form to accept "${text}"`,
    (posted) =>
      Number(document.getElementById("post").dataset.posted ?? 0) > posted ||
      !document.getElementById("post-error").hidden,
    posted,
  );
  const error = await page.evaluate(() => {
    const node = document.getElementById("post-error");
    return node.hidden ? null : node.textContent;
  });
  if (error) fail(`the form showed an error for "${text}": ${error}`);
}

/// Posts over REST, as another client would.
async function postOverRest(user, text, hashtags) {
  const response = await fetch(`${origin}/message`, {
    method: "POST",
    headers: { Authorization: `Bearer ${Buffer.from(user).toString("base64")}`, "Content-Type": "application/json" },
    body: JSON.stringify({ text, hashtags }),
  });
  if (response.status !== 201) fail(`POST /message answered ${response.status}: ${await response.text()}`);
}

const browser = await launch();
let status = 0;
try {
  // The page's own sockets pass through, unless the test is cutting them.
  const sockets = [];
  let offline = false;
  const ownSocket = (ws) => {
    if (offline) return ws.close({ code: 1013, reason: "offline for the test" });
    ws.connectToServer();
    sockets.push(ws);
  };
  const context = await offlineContext(browser, { host, viewport: { width: 1280, height: 900 }, foreign, ownSocket });
  const page = await watchedPage(context, problems);

  const response = await page.goto(`${origin}/`, { timeout: STEP_TIMEOUT_MS });
  if (response.status() !== 200) fail(`GET / answered ${response.status()}`);
  const csp = response.headers()["content-security-policy"] ?? "";
  for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'"]) {
    if (!csp.split(/\s*;\s*/).includes(directive)) fail(`the page's CSP lacks ${directive}: ${JSON.stringify(csp)}`);
  }
  await waitFor(page, "the live connection", () => document.getElementById("connection").dataset.state === "live");
  await waitFor(page, "the chart to be drawn", () => document.querySelectorAll("#chart rect.bar").length === 60);

  // A post through the form, with a hashtag nobody used before (every
  // text below names it, so each is unique to this run).
  const tag = `dash${Date.now().toString(36)}`;
  const first = `Trying the live dashboard #${tag}`;
  await page.fill("#post-user", "dashboard");
  const token = await page.inputValue("#post-token");
  if (token !== Buffer.from("dashboard").toString("base64")) fail(`the token computed from the name is ${token}`);
  const before = await count(page, "hour-count");
  await postThroughForm(page, first, "live");
  await waitFor(page, "the posted message to appear in the list", (text) =>
    [...document.querySelectorAll("#feed .text")].some((node) => node.textContent === text), first);
  // The chart counts the post: in the current minute's bar, or, if the
  // minute turned just after it, in the bar before (the server sends an
  // ended minute's last count); either way the hour's total has it, and
  // the current bar shows the current count.
  await waitFor(
    page,
    `the chart to count the post (the hour counted ${before})`,
    (before) => {
      const hour = Number(document.getElementById("hour-count").textContent);
      const current = Number(document.getElementById("current-count").textContent);
      const bar = document.querySelector("#chart rect.bar.current");
      return hour === before + 1 && Number(bar?.dataset.count) === current;
    },
    before,
  );

  // The new hashtag in the trending list; clicked, it filters everything.
  await waitFor(page, `#${tag} in the trending list`, (tag) => document.querySelector(`#trending [data-tag="${tag}"]`), tag);
  await page.click(`#trending [data-tag="${tag}"]`);
  await waitFor(page, "the filter to apply", (tag) => document.getElementById("feed-scope").textContent === `#${tag}` && document.getElementById("chart-scope").textContent === `#${tag}`, tag);
  await waitFor(page, "the filtered list and chart", () => {
    const texts = [...document.querySelectorAll("#feed .text")];
    return texts.length === 1 && document.getElementById("hour-count").textContent === "1";
  });
  if (!page.url().endsWith(`#tag=${tag}`)) fail(`the address does not keep the filter: ${page.url()}`);

  // Filtered, the feed and the chart still follow: a post without the tag
  // stays out, one with it comes in and counts.
  const elsewhere = `Meanwhile, on another topic (${tag})`;
  await postOverRest("someone", elsewhere, ["elsewhere"]);
  const second = `A second post, seen through the filter (${tag})`;
  await postThroughForm(page, second, `${tag} live`);
  await waitFor(page, "the second post to appear in the filtered list", (text) =>
    [...document.querySelectorAll("#feed .text")].some((node) => node.textContent === text), second);
  await waitFor(page, "the filtered chart to count two posts", () => document.getElementById("hour-count").textContent === "2");
  if ((await shownTimes(page, elsewhere)) !== 0 || (await page.locator("#feed .message").count()) !== 2) {
    fail("the filtered list holds a message without the hashtag");
  }

  // Offline: the socket cut and refused while a message is posted, then
  // let through again. The page resumes after the last message it shows.
  offline = true;
  for (const ws of sockets.splice(0)) await ws.close({ code: 1012, reason: "cut by the test" });
  await waitFor(page, "the page to notice the cut", () => document.getElementById("connection").dataset.state === "reconnecting");
  const third = `Posted while the page was offline (${tag})`;
  await postOverRest("someone", third, [tag]);
  offline = false;
  await waitFor(page, "the live connection again", () => document.getElementById("connection").dataset.state === "live");
  await waitFor(page, "the message posted while offline to appear", (text) =>
    [...document.querySelectorAll("#feed .text")].some((node) => node.textContent === text), third);
  await waitFor(page, "the chart to count three posts", () => document.getElementById("hour-count").textContent === "3");
  // A moment for any duplicate to arrive, then each shown exactly once.
  await page.waitForTimeout(500);
  for (const text of [first, second, third]) {
    const times = await shownTimes(page, text);
    if (times !== 1) fail(`"${text}" is shown ${times} times`);
  }

  // Back to all hashtags for the picture.
  await page.click("#filter-clear");
  await waitFor(page, "the filter to clear", () => document.getElementById("feed-scope").textContent === "" && document.querySelectorAll("#feed .message").length >= 4);
  await page.evaluate(() => {
    document.activeElement?.blur();
    window.scrollTo(0, 0);
  });
  await page.mouse.move(1200, 880);
  await page.waitForTimeout(1_700); // the arrival highlight fades
  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: false });

  // A narrow window: one column, nothing wider than the screen.
  await page.setViewportSize({ width: 380, height: 800 });
  await waitFor(page, "one column", () => {
    const [chart, side] = ["chart-title", "post-title"].map((id) => document.getElementById(id).getBoundingClientRect());
    return side.top > chart.bottom && Math.abs(side.left - chart.left) < 30;
  });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) fail(`in a 380 px window the page is ${overflow} px too wide`);

  await verdict(page, foreign, problems);
  console.log(
    `browser test passed: the dashboard at ${origin}/ showed posts live in the list and the chart, ` +
      `filtered by #${tag}, resumed after a cut without duplicates, offline; screenshot in ${screenshot}`,
  );
} catch (error) {
  reportFailure(error, foreign, problems);
  status = 1;
} finally {
  await browser.close();
}
process.exit(status);
