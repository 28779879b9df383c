// Drives Debian's chromium through the status page of a real gateway while
// the test (cmd/edgegw/banners_browser_test.go) breaks and mends things.
// It reads commands on stdin, one per line, and answers each with one JSON
// line on stdout ({"ok":true,...} or {"ok":false,"error":...}):
//
//   banner CHECK [SUBJECT] [TIMEOUT_MS]   wait until a banner of CHECK (about SUBJECT) shows
//   gone CHECK [TIMEOUT_MS]              wait until no banner of CHECK shows
//   lang en|zh-CN                        pick the language with the page's switch
//   shot NAME                            save OUTDIR/NAME.png
//   quit
//
//   node cmd/edgegw/testdata/banners.mjs URL OUTDIR
import { createRequire } from "node:module";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../../../scripts/browser/package.json"));
const { chromium } = require("playwright-core");

const [url, outDir] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });
const exe = process.env.CHROMIUM || ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].find((p) => existsSync(p));
const browser = await chromium.launch({
  executablePath: exe, headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic"],
});
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
await page.goto(url, { waitUntil: "domcontentloaded" });
await page.waitForSelector("body[data-loaded='1']", { timeout: 20000 });
say({ ok: true, ready: true });

const banners = () => page.$$eval("#banners .fault", (els) => els.map((e) => ({
  check: e.dataset.check, subjects: (e.dataset.subjects || "").split(" ").filter(Boolean), level: e.className.replace("fault ", ""),
  text: e.querySelector("b")?.textContent || "", small: e.querySelector("small")?.textContent || "" })));

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  const [cmd, ...args] = line.trim().split(/\s+/);
  try {
    if (cmd === "quit") break;
    if (cmd === "banner" || cmd === "gone") {
      const check = args[0];
      const subject = cmd === "banner" && args[1] && !/^\d+$/.test(args[1]) ? args[1] : "";
      const timeout = Number(args.find((a) => /^\d+$/.test(a)) || "30000");
      const deadline = Date.now() + timeout;
      let found = [];
      for (;;) {
        found = (await banners()).filter((b) => b.check === check && (!subject || b.subjects.includes(subject)));
        if (cmd === "banner" ? found.length > 0 : found.length === 0) break;
        if (Date.now() > deadline) throw new Error(`${cmd} ${check} ${subject}: not so after ${timeout} ms; banners: ${JSON.stringify(await banners())}`);
        await page.waitForTimeout(250);
      }
      say({ ok: true, banners: await banners(), found });
    } else if (cmd === "lang") {
      await page.selectOption("#lang", args[0]);
      await page.waitForFunction((l) => document.documentElement.lang === l, args[0], { timeout: 10000 });
      await page.waitForTimeout(2500); // one refresh in the new language
      say({ ok: true, lang: args[0], banners: await banners(), title: await page.textContent("#devices-title") });
    } else if (cmd === "shot") {
      await page.screenshot({ path: path.join(outDir, args[0] + ".png"), fullPage: true });
      say({ ok: true });
    } else {
      throw new Error("unknown command " + cmd);
    }
  } catch (e) {
    say({ ok: false, error: String(e), pageErrors: errors });
  }
}
await browser.close();
