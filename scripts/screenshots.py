"""Take the README's screenshots: the top of each report page at 1280 px, in headless Chromium.

    python scripts/screenshots.py REPORTS_DIR RUN COMPARISON [--search SEARCH] [--mlflow] [--out docs] [--height 900]

REPORTS_DIR holds the run folder RUN (with importance.html), the comparison folder COMPARISON, the
reports index, and with --search the search folder SEARCH. Writes report.png, importance.png, compare.png,
reports_index.png (and search.png) into --out. With --mlflow, also mlflow.png: ``mlflow ui`` started on
REPORTS_DIR/mlflow.db (runs made with --track), its runs table with the nested runs expanded and a few of
featureproof's metric columns shown.
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
    p.add_argument("--mlflow", action="store_true", help="also mlflow.png from REPORTS_DIR/mlflow.db")
    p.add_argument("--out", type=Path, default=Path("docs"))
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=900)
    args = p.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise SystemExit("no Chromium found: apt-get install chromium")
    pages = {
        "report.png": args.reports / args.run / "index.html",
        "importance.png": args.reports / args.run / "importance.html",
        "compare.png": args.reports / args.comparison / "index.html",
        "reports_index.png": args.reports / "index.html",
    }
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
        if args.mlflow:
            mlflow_runs(b, args.reports / "mlflow.db", args.out / "mlflow.png")
        b.close()


MLFLOW_COLUMNS = [
    "h1.accuracy",
    "h1.accuracy.ci_low",
    "h1.accuracy.ci_high",
    "h1.edge",
    "h1.edge.p_holm",
    "h1.vs_comparator.p_holm",
    "edge",
    "pbo",
    "h1.skill",
]


def mlflow_runs(browser, db: Path, out: Path, port: int = 5055) -> None:
    """The MLflow UI's runs table of the featureproof experiment in ``db``: the assistant panel closed, a few
    featureproof columns chosen, every parent run expanded."""
    import subprocess
    import sys
    import time
    import urllib.request

    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{db.resolve()}"
    exp = MlflowClient(uri).get_experiment_by_name("featureproof")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        page = browser.new_page(viewport={"width": 1700, "height": 880})
        page.goto(f"http://127.0.0.1:{port}/#/experiments/{exp.experiment_id}/runs", wait_until="load")
        page.wait_for_timeout(12000)
        page.locator('button[aria-label="Close"]').first.click()  # the assistant side panel
        page.locator('[data-testid="column-selection-dropdown"]').first.click()
        page.wait_for_timeout(1000)
        menu = page.locator('[role="dialog"]').last
        for name in ("Dataset", "Source", "Models"):
            menu.get_by_text(name, exact=True).first.click()
        box = page.get_by_placeholder("Search columns")
        for name in MLFLOW_COLUMNS:
            box.fill(name)
            page.wait_for_timeout(400)
            menu.get_by_text(name, exact=True).first.click()
        page.keyboard.press("Escape")
        expand = '[data-component-id$="runnamecellrenderer.tsx_46"]'  # the + beside a parent run
        for k in range(page.locator(expand).count()):
            page.locator(expand).nth(k).click()
            page.wait_for_timeout(800)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out))
        page.close()
        print(f"{out}: the MLflow runs table of {db}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
