// A real browser against a running gateway: create a secret on the page, open the link in a
// second browser context, reveal it once, and see that it is gone. Run with
//   SHARER_URL=http://127.0.0.1:PORT npm run test:browser
// Screenshots of each view go to web/test-results/.

import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const RESULTS = join(dirname(dirname(fileURLToPath(import.meta.url))), "test-results");
const RPC_PATH = "/sharer.v1.SecretService/";
const GONE_MESSAGE = "This secret does not exist, has expired, or has already been revealed.";

// Unicode, CR LF, a tab, and spaces at both ends: everything that trimming or re-encoding breaks.
const SECRET = "  pässwörd 🔑\r\n\t end  ";

let baseUrl;
let browser;

before(async () => {
  baseUrl = process.env.SHARER_URL;
  if (!baseUrl) {
    throw new Error(
      "SHARER_URL is not set: start the gateway (with crypto and storage) and run " +
        "SHARER_URL=http://127.0.0.1:PORT npm run test:browser",
    );
  }
  baseUrl = baseUrl.replace(/\/+$/, "");
  await mkdir(RESULTS, { recursive: true });

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
});

/**
 * A page in a fresh context that records the RPCs it sends and fails the test on any
 * console error (a Content-Security-Policy violation shows up there) or uncaught exception.
 */
async function openPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 900, height: 760 }, ...options });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const rpcs = [];
  const problems = [];
  page.on("request", (request) => {
    if (new URL(request.url()).pathname.startsWith(RPC_PATH)) {
      rpcs.push(new URL(request.url()).pathname.slice(RPC_PATH.length));
    }
  });
  page.on("console", (message) => {
    if (message.type() === "error") {
      problems.push(message.text());
    }
  });
  page.on("pageerror", (error) => problems.push(String(error)));
  return { context, page, rpcs, problems };
}

async function screenshot(page, name) {
  await page.screenshot({ path: join(RESULTS, `${name}.png`), fullPage: true });
}

test("a secret made on the page is revealed exactly once, and only on request", async () => {
  const creator = await openPage({ permissions: ["clipboard-read", "clipboard-write"] });
  const { page } = creator;

  const response = await page.goto(`${baseUrl}/`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()["content-security-policy"] ?? "", /script-src 'self'/);
  await page.getByRole("heading", { name: "Create a one-time secret" }).waitFor();
  await screenshot(page, "1-create");

  // fill() sets the textarea's value as typing or pasting would; a textarea's value always
  // turns CR LF into LF, so the bytes sent (and later revealed) carry LF where SECRET has CR LF.
  const textarea = page.getByRole("textbox", { name: "Secret", exact: true });
  await textarea.fill(SECRET);
  const typed = await textarea.inputValue();
  assert.equal(typed, SECRET.replace(/\r\n/g, "\n"));

  await page.getByLabel("1 hour").check();
  const before = Date.now();
  await page.getByRole("button", { name: "Create link" }).click();
  const linkField = page.getByLabel("One-time link");
  await linkField.waitFor();
  const link = await linkField.inputValue();
  assert.match(link, new RegExp(`^${escapeRegExp(baseUrl)}/s#[A-Za-z0-9_-]{16,}$`));
  assert.deepEqual(creator.rpcs, ["CreateSecret"]);
  await page.getByRole("button", { name: "Copy" }).click();
  await page.getByText("Copied to the clipboard.").waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link);

  // The expiry shown is about an hour from now.
  const expires = Date.parse(await page.locator("#expires-at").getAttribute("datetime"));
  const hourFromNow = before + 3600 * 1000;
  assert.ok(Math.abs(expires - hourFromNow) < 120 * 1000, `expiry ${new Date(expires).toISOString()}`);
  assert.equal(await page.locator("#content").inputValue(), "", "the secret must not stay on the page");
  await screenshot(page, "2-created");
  assert.deepEqual(creator.problems, []);
  await creator.context.close();

  // A second person, in a context that shares nothing with the first.
  // It may read the clipboard, so the Copy button's result can be checked.
  const reader = await openPage({ permissions: ["clipboard-read", "clipboard-write"] });
  const readerPage = reader.page;

  // Opening the link, reloading it, and opening it in another tab must not spend the secret.
  await readerPage.goto(link);
  await readerPage.getByRole("button", { name: "Reveal secret" }).waitFor();
  await readerPage.reload();
  const preview = await reader.context.newPage();
  await preview.goto(link);
  await preview.getByRole("button", { name: "Reveal secret" }).waitFor();
  await preview.close();
  await readerPage.getByRole("button", { name: "Reveal secret" }).waitFor();
  assert.deepEqual(reader.rpcs, [], "opening the link alone must make no call");
  await screenshot(readerPage, "3-reveal-intro");

  await readerPage.getByRole("button", { name: "Reveal secret" }).click();
  const secretField = readerPage.getByRole("textbox", { name: "Secret", exact: true });
  await secretField.waitFor();
  const revealed = await secretField.inputValue();
  assert.equal(revealed, typed, "the revealed text must equal the text typed, whitespace and all");
  assert.deepEqual(reader.rpcs, ["RevealSecret"]);
  await readerPage.getByRole("button", { name: "Copy" }).click();
  await readerPage.getByText("Copied to the clipboard.").waitFor();
  assert.equal(await readerPage.evaluate(() => navigator.clipboard.readText()), typed);
  await readerPage.getByText("has now been deleted from the server").waitFor();
  await screenshot(readerPage, "4-revealed");

  // Hide clears it from the page.
  await readerPage.getByRole("button", { name: "Hide" }).click();
  await readerPage.getByText("The secret was cleared from this page.").waitFor();
  assert.equal(await readerPage.locator("#secret").inputValue(), "");

  // A second reveal, after a reload, is refused.
  await readerPage.reload();
  await readerPage.getByRole("button", { name: "Reveal secret" }).click();
  await readerPage.getByText(GONE_MESSAGE).waitFor();
  assert.equal(await readerPage.getByRole("button", { name: "Reveal secret" }).count(), 0);
  await screenshot(readerPage, "5-gone");
  assert.deepEqual(reader.rpcs, ["RevealSecret", "RevealSecret"]);
  assert.deepEqual(reader.problems, []);
  await reader.context.close();
});

test("empty and oversized secrets are refused on the page without a call", async () => {
  const { context, page, rpcs, problems } = await openPage();
  await page.goto(`${baseUrl}/`);
  const create = page.getByRole("button", { name: "Create link" });

  await create.click();
  await page.getByRole("alert").getByText("Write or paste a secret first").waitFor();
  await screenshot(page, "6-empty-error");

  // 64 KiB is accepted by the page; one byte more is not (ü is two bytes in UTF-8).
  await page.getByRole("textbox", { name: "Secret", exact: true }).fill("ü".repeat(32 * 1024) + "x");
  await create.click();
  await page.getByRole("alert").getByText("The secret is too large").waitFor();

  assert.deepEqual(rpcs, []);
  assert.deepEqual(problems, []);
  await context.close();
});

test("a link without a proper id says so and offers no reveal", async () => {
  const { context, page, rpcs, problems } = await openPage();
  await page.goto(`${baseUrl}/s`);
  await page.getByText("This link is incomplete or damaged").waitFor();
  assert.equal(await page.getByRole("button", { name: "Reveal secret" }).count(), 0);
  assert.deepEqual(rpcs, []);
  assert.deepEqual(problems, []);
  await context.close();
});

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
