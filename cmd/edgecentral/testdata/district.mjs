// Drives Debian's chromium through edgecentral's district page: loads it,
// opens every node, prints {"ready":..}; on a line from stdin waits until
// the summary changes (the page polls), switches to Chinese and prints the
// result. node cmd/edgecentral/testdata/district.mjs URL
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../../../scripts/browser/package.json"));
const { chromium } = require("playwright-core");
const exe = process.env.CHROMIUM || ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].find((p) => existsSync(p));
const browser = await chromium.launch({ executablePath: exe, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");
try {
  const page = await browser.newPage({ locale: "en-US" });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(process.argv[2], { waitUntil: "domcontentloaded" });
  await page.waitForSelector("body[data-loaded='1']", { timeout: 15000 });
  const snapshot = async () => {
    await page.$$eval("details", (ds) => ds.forEach((d) => { d.open = true; }));
    return {
      summary: await page.textContent("#sum"),
      nodes: await page.$$eval("[data-path]", (els) => els.map((e) => ({ path: e.dataset.path, level: e.dataset.level, online: +e.dataset.online, offline: +e.dataset.offline }))),
      text: await page.textContent("#tree"),
    };
  };
  const first = await snapshot();
  say({ ready: true, ...first });
  const rl = readline.createInterface({ input: process.stdin });
  for await (const _ of rl) break;
  rl.close();
  await page.waitForFunction((s) => document.getElementById("sum").textContent !== s, first.summary, { timeout: 15000 });
  const after = await snapshot();
  await page.selectOption("#lang", "zh-CN");
  await page.waitForFunction(() => document.getElementById("title").textContent === "区级视图", null, { timeout: 5000 });
  await page.waitForTimeout(500);
  say({ after, zh: await snapshot(), errors });
} catch (e) {
  say({ error: String(e) });
} finally {
  await browser.close();
  process.exit(0);
}
