"""Opens a samplernn report in headless Chromium, as a user would from disk, and checks from
the page's DOM that every <audio> element loads its file and every <img> has a nonzero natural
size. Saves a screenshot. Playwright (PyPI, in the project's venv) drives Debian's Chromium.

    .venv/bin/python tests/peers/check-report.py logdir/aamgen/report.html screenshot.png
"""
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"

# Runs in the page: waits for every player to reach HAVE_METADATA (its file was found and
# decoded) or fail, and reports each image's natural size.
PROBE = """async () => {
  const audio = [...document.querySelectorAll("audio")];
  const states = await Promise.all(audio.map((a) => new Promise((done) => {
    if (a.readyState >= 1) return done({ src: a.src, ok: true });
    a.addEventListener("loadedmetadata", () => done({ src: a.src, ok: true }), { once: true });
    a.addEventListener("error", () => done({ src: a.src, ok: false }), { once: true });
    a.load();
    setTimeout(() => done({ src: a.src, ok: a.readyState >= 1 }), 10000);
  })));
  const images = [...document.querySelectorAll("img")].map(
      (i) => ({ src: i.src, ok: i.complete && i.naturalWidth > 0 && i.naturalHeight > 0 }));
  return { audio: states, images, svgs: document.querySelectorAll("svg").length };
}"""


def main(argv):
    if len(argv) != 3:
        print("usage: check-report.py REPORT.html SCREENSHOT.png", file=sys.stderr)
        return 2
    page_path, screenshot = Path(argv[1]).resolve(), argv[2]
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: install Debian's chromium (scripts/install-deps.sh)", file=sys.stderr)
        return 2
    with sync_playwright() as p, tempfile.TemporaryDirectory(prefix="srnn-chromium-") as profile:
        browser = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page()
            page.goto(page_path.as_uri(), wait_until="load")
            result = page.evaluate(PROBE)
            page.screenshot(path=screenshot, full_page=True)
        finally:
            browser.close()
    bad = [x for x in result["audio"] + result["images"] if not x["ok"]]
    print(f"audio {len(result['audio'])}, images {len(result['images'])}, charts {result['svgs']}, failed {len(bad)}")
    for b in bad:
        print(f"did not load: {b['src']}")
    # An empty count passes the per-element checks vacuously: a report has clips, spectrograms
    # and the metric charts (inline SVG), so each must be there.
    counts = {"audio players": len(result["audio"]), "images": len(result["images"]), "charts": result["svgs"]}
    for what, n in counts.items():
        if n == 0:
            print(f"no {what} in the page")
    return 0 if not bad and all(counts.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
