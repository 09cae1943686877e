"""The reports in a real browser: Playwright drives Debian's Chromium (``.ci/run`` installs it when it is
missing). Every page opens without console errors, every image loads, nothing overflows the page at 1280
and 390 px, and the reports index sorts and filters."""

from __future__ import annotations

import shutil

import pytest

from conftest import FAST
from pipeline.cli.main import main

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(
    BROWSER is None,
    reason="no Chromium on this machine (apt-get install chromium): the reports were not checked in a browser",
)

PAGES = ["r1/index.html", "r1/importance.html", "c1/index.html", "index.html"]

# Elements whose right edge passes the viewport, except inside a box that scrolls or clips (wide tables scroll).
OVERFLOW = """() => {
  const W = document.documentElement.clientWidth, bad = [];
  if (document.documentElement.scrollWidth > W + 1) bad.push("page scrolls sideways: " + document.documentElement.scrollWidth);
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= W + 1) continue;
    let p = el.parentElement, inside = false;
    while (p && p !== document.body) {
      if (["auto", "scroll", "hidden"].includes(getComputedStyle(p).overflowX)) { inside = true; break; }
      p = p.parentElement;
    }
    if (!inside) bad.push(el.tagName.toLowerCase() + (el.className ? "." + el.className : "") + " ends at " + Math.round(r.right));
  }
  return bad.slice(0, 8);
}"""


@pytest.fixture(scope="module")
def reports(tmp_path_factory, tiny_csv):
    """A reports folder as users have it: a run with its importance report, a comparison, the index."""
    root = tmp_path_factory.mktemp("reports")
    small = list(FAST)
    small[small.index("--horizons") + 1] = "1,5"  # two horizons: rows per horizon, a forest panel each
    assert (
        main(
            [
                "run",
                "--data",
                str(tiny_csv),
                *small,
                "--ablation",
                "permute",
                "--permutation-repeats",
                "1",
                "--lag-repeats",
                "1",
                "--ig-windows",
                "10",
                "--out",
                str(root / "r1"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "compare",
                "--data",
                str(tiny_csv),
                "--features",
                "ohlcv,ohlcv+technical",
                "--horizons",
                "1,5",
                "--window",
                "5",
                "--hidden",
                "4",
                "--epochs",
                "1",
                "--folds",
                "1",
                "--seeds",
                "1",
                "--bootstrap",
                "0",
                "--no-progress",
                "--out",
                str(root / "c1"),
            ]
        )
        == 0
    )
    return root


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=BROWSER, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _open(browser, path, width: int, unfold: bool = False):
    """The page loaded at ``width`` px; ``unfold``: every folded section opened (what a reader sees after clicking)."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(path.as_uri(), wait_until="load")
    if unfold:
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    return page, problems


@pytest.mark.parametrize("width", [1280, 390])
def test_every_page_loads_cleanly_and_fits(reports, browser, width):
    for name in PAGES:
        page, problems = _open(browser, reports / name, width, unfold=True)
        images = page.evaluate("Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])")
        assert name == "index.html" or images, f"{name}: no figure"
        assert all(ok for _, ok in images), f"{name}: images that did not load: {[a for a, ok in images if not ok]}"
        assert page.evaluate(OVERFLOW) == [], f"{name} at {width} px overflows"
        assert problems == [], f"{name}: {problems}"
        page.close()


def test_pages_link_to_each_other_and_label_raw_keys(reports, browser):
    page, _ = _open(browser, reports / "r1/index.html", 1280, unfold=True)
    links = page.evaluate("Array.from(document.querySelectorAll('nav.top a')).map(a => a.getAttribute('href'))")
    assert links == ["../index.html", "importance.html"]
    # the answer comes first: one sentence per horizon, then the forest plot
    assert page.locator("ul.answer li").count() == 2
    assert page.locator("ul.answer li").first.inner_text().startswith("1-day direction:")
    # human labels, with the raw key one hover away
    assert page.locator('span.key[title="balanced_accuracy"]').first.inner_text() == "balanced accuracy"
    assert page.locator('span.key[title="direction_h5"]').first.inner_text() == "5-day direction"
    page.close()
    page, _ = _open(browser, reports / "r1/importance.html", 1280, unfold=True)
    assert page.evaluate("Array.from(document.querySelectorAll('nav.top a')).map(a => a.getAttribute('href'))") == [
        "../index.html",
        "index.html",
    ]
    page.close()
    page, _ = _open(browser, reports / "c1/index.html", 1280, unfold=True)
    assert page.locator("table.matrix tr").count() == 3  # header, ohlcv+technical, the comparator baseline
    page.close()


def test_reports_index_sorts_by_date_and_number_and_filters(reports, browser):
    page, _ = _open(browser, reports / "index.html", 1280)
    assert "1 run, 1 comparison and 0 searches" in page.inner_text("body")
    rows = "Array.from(document.querySelectorAll('#runs tbody tr'))"
    header = page.locator("#runs th")
    assert header.nth(0).inner_text() == "date"
    header.nth(0).click()
    dates = page.evaluate(f"{rows}.map(r => r.cells[0].dataset.sort)")
    assert dates == sorted(dates) and len(dates) == 4  # 2 horizons x (run + comparison)
    header.nth(0).click()
    assert page.evaluate(f"{rows}.map(r => r.cells[0].dataset.sort)") == sorted(dates, reverse=True)
    header.nth(5).click()  # h: numeric, so 1 < 5 (and 10 would sort after 5)
    assert page.evaluate(f"{rows}.map(r => parseInt(r.cells[5].innerText))") == [1, 1, 5, 5]
    page.fill("#filter", "h=5")
    shown = page.evaluate(f"{rows}.filter(r => r.style.display !== 'none').map(r => r.cells[5].innerText)")
    assert shown == ["5", "5"]
    page.fill("#filter", "compare")
    assert page.evaluate(f"{rows}.filter(r => r.style.display !== 'none').length") == 2
    page.fill("#filter", "")
    assert page.evaluate(f"{rows}.filter(r => r.style.display !== 'none').length") == 4
    page.close()


def test_report_pages_open_with_their_answer_within_three_screens(reports, browser):
    """The run report and the importance page open with the answer; their detail sections are folded (one click
    away), so each page ends within three screens of 900 px at 1280 px wide unless the reader unfolds more."""
    for name in ("r1/index.html", "r1/importance.html"):
        page, problems = _open(browser, reports / name, 1280)
        folded = page.evaluate("document.documentElement.scrollHeight")
        sections = page.locator("details.section").count()
        opened = page.evaluate(
            "(() => { document.querySelectorAll('details').forEach(d => d.open = true); "
            "return document.documentElement.scrollHeight })()"
        )
        assert folded <= 3 * 900, f"{name}: {folded} px folded"
        assert sections >= 3 and opened > folded + 900, f"{name}: {sections} folded sections, {opened} px open"
        assert problems == [], f"{name}: {problems}"
        page.close()
