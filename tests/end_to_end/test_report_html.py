"""report.html in a real browser: every chart renders, and the page logs no error or warning.

Headless Chromium (Debian's ``chromium``, installed by ``.ci/run``) opens the
page from a file, with networking features off, runs it for a virtual-time
budget and dumps the DOM. The page records what happened in its status
element (charts rendered, everything logged to the console, uncaught errors);
the test reads that record and checks each chart container holds an SVG.
The page needs no network: its libraries are inlined (test_report.py checks
there is no external URL to load).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

import hpdream_analysis as ha
from hpdream_analysis import _html
from tests.analysis.test_charts import synthetic_study

#: Figures of a report (dashboard, convergence, experiments, categories, timeline,
#: personal bests, success rate, dry streaks, after failure, entropy, breadth).
FIGURES = 11
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        f"no headless Chromium on PATH (looked for {', '.join(BROWSERS)}); "
        "install Debian's chromium package (.ci/run does) to run this test"
    )


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM of ``page`` after Chromium ran it for a while, with no network in use."""
    command = [
        browser(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-extensions",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # any name lookup fails: nothing can be fetched
        f"--user-data-dir={profile}",
        "--virtual-time-budget=30000",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


class Charts(HTMLParser):
    """The status element's attributes, and which chart containers hold an ``svg``."""

    def __init__(self) -> None:
        super().__init__()
        self.status: dict[str, str | None] = {}
        self.containers: dict[str, bool] = {}
        self.stack: list[tuple[str, str | None]] = []  # (tag, chart id of the container)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id") == _html.STATUS_ID:
            self.status = a
        chart = None
        if _html.CHART_CLASS in (a.get("class") or "").split():
            chart = a.get("id")
            self.containers[str(chart)] = False
        elif self.stack:
            chart = self.stack[-1][1]
        if tag in ("svg", "canvas") and chart is not None:
            self.containers[chart] = True
        if tag not in _VOID:
            self.stack.append((tag, chart))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break


_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "wbr",
}


def check_page(page: Path, profile: Path, figures: int) -> None:
    dom = dump_dom(page, profile)
    parsed = Charts()
    parsed.feed(dom)
    status = parsed.status
    assert status.get("data-done") == "1", "the page did not finish rendering"
    errors = json.loads(status.get("data-errors") or "null")
    assert errors == [], f"the page logged: {errors}"
    assert status.get("data-charts") == status.get("data-rendered") == str(figures)
    assert len(parsed.containers) == figures
    empty = [name for name, drawn in parsed.containers.items() if not drawn]
    assert not empty, f"charts without an svg or canvas: {empty}"
    # interactive: vega-embed put its menu next to each chart
    assert len(re.findall(r'class="vega-actions"', dom)) == figures


@pytest.mark.slow
def test_report_html_renders_every_chart_offline(tmp_path: Path) -> None:
    browser()
    study = synthetic_study(("alpha", "beta", "gamma"), runs=2, experiments=25, seed=7)
    page = ha.write_report(study, tmp_path / "report", formats=())
    check_page(page, tmp_path / "profile", FIGURES)


@pytest.mark.slow
@pytest.mark.shared
def test_corpus_report_renders_in_a_browser(corpus_dir: Path, tmp_path: Path) -> None:
    browser()
    page = ha.write_report([corpus_dir], tmp_path / "report", formats=())
    check_page(
        page, tmp_path / "profile", len(re.findall(r'class="hpdream-chart"', page.read_text()))
    )


def test_a_failing_chart_is_caught(tmp_path: Path) -> None:
    """The check itself can fail: a page with a broken spec is reported, not passed."""
    browser()
    broken = _html.chart_container(
        "bad", {"mark": "nonsense-mark", "data": {"values": []}}, title="Bad", caption=""
    )
    good = _html.chart_container(
        "good",
        {
            "mark": "point",
            "data": {"values": [{"x": 1}]},
            "encoding": {"x": {"field": "x", "type": "quantitative"}},
        },
        title="Good",
        caption="",
    )
    page = tmp_path / "page.html"
    page.write_text(_html.page("test", broken + good), encoding="utf-8")
    dom = dump_dom(page, tmp_path / "profile")
    parsed = Charts()
    parsed.feed(dom)
    assert parsed.status.get("data-done") == "1"
    assert parsed.status.get("data-rendered") == "1" and parsed.status.get("data-charts") == "2"
    errors = json.loads(parsed.status.get("data-errors") or "[]")
    assert any("chart-bad" in e["message"] for e in errors)
    assert parsed.containers == {"chart-bad": False, "chart-good": True}
