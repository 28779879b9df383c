// Drives Debian's chromium through the status page like a technician:
// (log in,) see devices, an active alert and the sync state, press
// Acknowledge, and save screenshots.
//
//   node edge/status/testdata/browser.mjs URL OUTDIR [PREFIX]
//   env: EDGEGW_PASSWORD (log in through the form), CHROMIUM (browser path),
//        MIN_DEVICES (default 1), ALERT_RULE (acknowledge an alert of this
//        rule, default any), ALERT_WAIT_MS (how long to wait for a firing
//        alert, default 30000), EXPECT_ACK ("acknowledged", the default, or
//        "resolved": the alert resolves before the click lands)
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
const alertRule = process.env.ALERT_RULE || "";
const alertWait = Number(process.env.ALERT_WAIT_MS || "30000");
const expectAck = process.env.EXPECT_ACK || "acknowledged";

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

  // An active, firing alert with an Acknowledge button (of ALERT_RULE).
  const firing = "tr.alert[data-state='firing']" + (alertRule ? `[data-rule="${alertRule}"]` : "") + " button[data-alert]";
  await page.waitForSelector(firing, { timeout: alertWait });
  const alert = await page.$eval(firing, (b) => b.dataset.alert);
  result.alert = alert;

  const sync = await page.$eval("#sync", (e) => e.innerText);
  if (!/Central/.test(sync) || !/Backlog/.test(sync) || !/events/.test(sync)) throw new Error("sync state not shown: " + sync);
  result.sync = sync.replace(/\s+/g, " ").trim();
  const store = await page.$eval("#store", (e) => e.innerText);
  if (!/Used/.test(store)) throw new Error("store not shown: " + store);

  await page.screenshot({ path: path.join(outDir, prefix + ".png"), fullPage: true });

  // Press Acknowledge like a technician. The next poll shows the alert
  // acknowledged, or gone when its rule resolves on acknowledgement (or,
  // with EXPECT_ACK=resolved, because it resolved before the click).
  await page.click(`button[data-alert="${alert.replace(/"/g, '\\"')}"]`);
  await page.waitForFunction((id) => {
    const rows = [...document.querySelectorAll("tr.alert")].filter((r) => r.querySelector("button")?.dataset.alert === id);
    return rows.length === 0 || rows.every((r) => r.dataset.state === "acknowledged");
  }, alert, { timeout: 15000 });
  await page.waitForSelector("#toast", { state: "visible", timeout: 5000 });
  result.toast = await page.$eval("#toast", (e) => e.textContent);
  const wantToast = expectAck === "resolved" ? "Alert already resolved: nothing to acknowledge" : "Alert acknowledged";
  if (result.toast !== wantToast) throw new Error(`toast says: ${result.toast} (want: ${wantToast})`);
  result[expectAck] = alert;
  await page.screenshot({ path: path.join(outDir, prefix + "-acked.png"), fullPage: true });

  if (external.length) throw new Error("page loaded from elsewhere: " + external.join(", "));
  // The 404 of acknowledging an alert that resolved is the answer the page
  // handles; chromium logs every 4xx response as a console error.
  const unexpected = consoleErrors.filter((m) => !(expectAck === "resolved" && /status of 404/.test(m)));
  if (unexpected.length) throw new Error("console errors: " + unexpected.join(" | "));
  result.screenshots = [prefix + ".png", prefix + "-acked.png"];
  console.log(JSON.stringify(result));
} catch (e) {
  console.error("browser test failed:", e.message);
  console.error(JSON.stringify(result));
  process.exitCode = 1;
} finally {
  await browser.close();
}
