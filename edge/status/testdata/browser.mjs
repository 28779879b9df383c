// Drives Debian's chromium through the status page like a technician:
// (log in,) see devices, an active alert and the sync state, press
// Acknowledge, and save screenshots.
//
//   node edge/status/testdata/browser.mjs URL OUTDIR [PREFIX]
//   env: EDGEGW_PASSWORD (log in through the form), CHROMIUM (browser path),
//        MIN_DEVICES (default 1)
//
// playwright-core comes from scripts/browser (npm install there; it never
// downloads a browser). Prints a JSON summary; exits non-zero on failure.
import { createRequire } from "node:module";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../../../scripts/browser/package.json"));
const { chromium } = require("playwright-core");

const [url, outDir, prefix = "status-page"] = process.argv.slice(2);
if (!url || !outDir) {
  console.error("usage: browser.mjs URL OUTDIR [PREFIX]");
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
const exe = process.env.CHROMIUM || ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].find((p) => existsSync(p));
const minDevices = Number(process.env.MIN_DEVICES || "1");

const browser = await chromium.launch({
  executablePath: exe,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic"],
});
const result = {};
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(new URL(url).origin)) external.push(r.url()); });
  const consoleErrors = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));

  await page.goto(url, { waitUntil: "domcontentloaded" });
  if (process.env.EDGEGW_PASSWORD) {
    await page.waitForSelector("#login", { state: "visible", timeout: 10000 });
    await page.screenshot({ path: path.join(outDir, prefix + "-login.png") });
    await page.fill("#pw", process.env.EDGEGW_PASSWORD);
    await page.click("#login button[type=submit]");
    result.loggedIn = true;
  }
  await page.waitForSelector("body[data-loaded='1']", { timeout: 15000 });

  const devices = await page.$$eval("tr.device", (rows) => rows.map((r) => ({ id: r.dataset.device, online: r.dataset.online === "true", text: r.innerText })));
  if (devices.length < minDevices) throw new Error(`expected at least ${minDevices} devices, page shows ${devices.length}`);
  result.devices = devices.length;
  result.online = devices.filter((d) => d.online).length;

  // An active, firing alert with an Acknowledge button.
  await page.waitForSelector("tr.alert[data-state='firing'] button[data-alert]", { timeout: 30000 });
  const alert = await page.$eval("tr.alert[data-state='firing'] button[data-alert]", (b) => b.dataset.alert);
  result.alert = alert;

  const sync = await page.$eval("#sync", (e) => e.innerText);
  if (!/Central/.test(sync) || !/Backlog/.test(sync) || !/events/.test(sync)) throw new Error("sync state not shown: " + sync);
  result.sync = sync.replace(/\s+/g, " ").trim();
  const store = await page.$eval("#store", (e) => e.innerText);
  if (!/Used/.test(store)) throw new Error("store not shown: " + store);

  await page.screenshot({ path: path.join(outDir, prefix + ".png"), fullPage: true });

  // Press Acknowledge like a technician. The next poll shows the alert
  // acknowledged, or gone when its rule resolves on acknowledgement.
  await page.click(`button[data-alert="${alert.replace(/"/g, '\\"')}"]`);
  await page.waitForFunction((id) => {
    const rows = [...document.querySelectorAll("tr.alert")].filter((r) => r.querySelector("button")?.dataset.alert === id);
    return rows.length === 0 || rows.every((r) => r.dataset.state === "acknowledged");
  }, alert, { timeout: 15000 });
  result.acknowledged = alert;
  await page.waitForSelector("#toast", { state: "visible", timeout: 5000 });
  result.toast = await page.$eval("#toast", (e) => e.textContent);
  if (result.toast !== "Alert acknowledged") throw new Error("toast says: " + result.toast);
  await page.screenshot({ path: path.join(outDir, prefix + "-acked.png"), fullPage: true });

  if (external.length) throw new Error("page loaded from elsewhere: " + external.join(", "));
  if (consoleErrors.length) throw new Error("console errors: " + consoleErrors.join(" | "));
  result.screenshots = [prefix + ".png", prefix + "-acked.png"];
  console.log(JSON.stringify(result));
} catch (e) {
  console.error("browser test failed:", e.message);
  console.error(JSON.stringify(result));
  process.exitCode = 1;
} finally {
  await browser.close();
}
