// Opens a samplernn report in headless Chromium, as a user would from disk, and checks from
// the page's DOM that every <audio> element loads its file and every <img> has a nonzero
// natural size. Saves a screenshot.
//
//   node tests/browser/check-report.mjs logdir/aamgen/report.html screenshot.png
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [page_path, screenshot] = process.argv.slice(2);
if (!page_path || !screenshot) {
  console.error("usage: check-report.mjs REPORT.html SCREENSHOT.png");
  process.exit(2);
}
const browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "srnn-chromium-")), {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  await page.goto(pathToFileURL(resolve(page_path)).href, { waitUntil: "load" });
  const result = await page.evaluate(async () => {
    const audio = [...document.querySelectorAll("audio")];
    // Every player must reach HAVE_METADATA (its file was found and decoded), not error.
    const states = await Promise.all(audio.map((a) => new Promise((done) => {
      if (a.readyState >= 1) return done({ src: a.src, ok: true });
      a.addEventListener("loadedmetadata", () => done({ src: a.src, ok: true }), { once: true });
      a.addEventListener("error", () => done({ src: a.src, ok: false }), { once: true });
      a.load();
      setTimeout(() => done({ src: a.src, ok: a.readyState >= 1 }), 10000);
    })));
    const images = [...document.querySelectorAll("img")].map((i) => ({ src: i.src, ok: i.complete && i.naturalWidth > 0 && i.naturalHeight > 0 }));
    return { audio: states, images, svgs: document.querySelectorAll("svg").length };
  });
  await page.screenshot({ path: screenshot, fullPage: true });
  const bad = [...result.audio, ...result.images].filter((x) => !x.ok);
  console.log(`audio ${result.audio.length}, images ${result.images.length}, charts ${result.svgs}, failed ${bad.length}`);
  for (const b of bad) console.log(`did not load: ${b.src}`);
  // An empty count passes the per-element checks vacuously: a report has clips, spectrograms
  // and the metric charts (inline SVG), so each must be there.
  const counts = { "audio players": result.audio.length, images: result.images.length, charts: result.svgs };
  for (const [what, n] of Object.entries(counts)) {
    if (n === 0) console.log(`no ${what} in the page`);
  }
  process.exitCode = bad.length === 0 && Object.values(counts).every((n) => n > 0) ? 0 : 1;
} finally {
  await browser.close();
}
