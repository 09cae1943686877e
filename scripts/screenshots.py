"""Take the README's screenshots: the top of each report page at 1280 px, in headless Chromium.

    python scripts/screenshots.py REPORTS_DIR RUN COMPARISON [--search SEARCH] [--out docs] [--height 900]

REPORTS_DIR holds the run folder RUN (with importance.html), the comparison folder COMPARISON, the
reports index, and with --search the search folder SEARCH. Writes report.png, importance.png, compare.png,
reports_index.png (and search.png) into --out.
Needs Playwright (``pip install -e '.[dev]'``) and Chromium (``apt-get install chromium``).
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def main() -> None:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reports", type=Path)
    p.add_argument("run")
    p.add_argument("comparison")
    p.add_argument("--search", help="a search folder in REPORTS_DIR: also search.png")
    p.add_argument("--out", type=Path, default=Path("docs"))
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=900)
    args = p.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise SystemExit("no Chromium found: apt-get install chromium")
    pages = {"report.png": args.reports / args.run / "index.html",
             "importance.png": args.reports / args.run / "importance.html",
             "compare.png": args.reports / args.comparison / "index.html",
             "reports_index.png": args.reports / "index.html"}
    if args.search:
        pages["search.png"] = args.reports / args.search / "search.html"
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=browser, args=["--no-sandbox", "--disable-gpu"])
        for name, path in pages.items():
            page = b.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(path.resolve().as_uri(), wait_until="load")
            page.screenshot(path=str(args.out / name))
            page.close()
            print(f"{args.out / name}: top of {path}")
        b.close()


if __name__ == "__main__":
    main()
