"""What a person sees of a report: the HTML file in a real browser (every plot loads, every
section of report.md is there, nothing outside the file) and the terminal at 80 columns (every
name whole, the significant comparisons shown), on the shipped results."""

import base64
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from membench.report.html import plot_images
from membench.report.model import build_report
from membench.report.render import render, write_report
from membench.report.terminal import print_report
from membench.store.results import load_suite_results
from membench.suite.tune import Point

pytestmark = pytest.mark.slow  # draws every plot; opens the report in headless Chromium

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
# Counts the images that decoded, once the page has loaded, into the title --dump-dom shows.
PROBE = (
    "<script>addEventListener('load', () => { const all = [...document.images]; "
    "document.title = 'loaded ' + all.filter(i => i.complete && i.naturalWidth > 0).length "
    "+ ' of ' + all.length; });</script>"
)


def shipped(name: str):
    found = load_suite_results(ROOT / "results" / name)
    return build_report(found.table, "exact_match", found.baseline, unused=found.unused)


def tuned_with_a_failure():
    """results/core with a tuning phase (two learning rates on copy) and one failed trial, so
    the Tuning and the Failed, cut off and missing sections show too."""
    found = load_suite_results(ROOT / "results" / "core-v1")
    table = found.table.copy()
    table.loc[0, ["status", "error"]] = ["failed", "RuntimeError: out of memory"]
    points = [{"lr": 0.0003}, {"lr": 0.001}]
    rows = [
        dict(task="copy", variant=v, seed=100 + s, point=Point(p), status="ok")
        | {"exact_match": 0.5 + 0.4 * (p["lr"] == 0.001) + 0.01 * s}
        for v in ("baseline", "mem5")
        for p in points
        for s in range(2)
    ]
    choices = [
        dict(task="copy", variant=v, point={"lr": 0.001}, score=0.905) for v in ("baseline", "mem5")
    ]
    tune = dict(metric="exact_match", margin=0.05, space={"lr": [0.0003, 0.001]}, points=points)
    tune |= dict(seeds=[100, 101], per=["task", "variant"], choices=choices)
    tuning = pd.DataFrame(rows)
    return build_report(table, "exact_match", found.baseline, tuning=tuning, tune=tune)


class Page(HTMLParser):
    """The headings, image sources and outside references of an HTML page."""

    def __init__(self, text: str):
        super().__init__()
        self.headings, self.images, self.links, self._heading = [], [], [], None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("h1", "h2", "h3"):
            self._heading = ""
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        self.links += [attrs[k] for k in ("href", "src") if k in attrs and tag != "img"]

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append(self._heading.strip())
            self._heading = None


@pytest.fixture(scope="module", params=["core-v1", "tuned"])
def written(request, tmp_path_factory):
    """A report written as write_report writes it (plots first), with report.md beside it."""
    out = tmp_path_factory.mktemp(request.param)
    report = shipped("core-v1") if request.param == "core-v1" else tuned_with_a_failure()
    write_report(report, out, formats=("md", "html"))
    return out


def md_headings(out: Path) -> list[str]:
    lines = (out / "report.md").read_text().splitlines()
    return [line.lstrip("#").strip() for line in lines if re.match(r"#{1,3} ", line)]


def test_html_is_one_file_with_every_plot_and_every_section(written):
    page = Page((written / "report.html").read_text())
    pngs = {p.name: p.read_bytes() for p in written.glob("*.png")}
    assert len(pngs) >= 4  # by task, curves, CD diagram, memory size
    embedded = sorted(base64.b64decode(src.split(",", 1)[1]) for src in page.images)
    assert embedded == sorted(pngs.values())  # each plot once, byte for byte
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert page.links == []  # nothing outside the file: it can be mailed
    headings = md_headings(written)
    assert {"Memory knockouts", "Attention: write, processing, read", "Method"} <= set(headings)
    assert [h for h in page.headings if h in headings] == headings  # same sections, same order
    if written.name.startswith("tuned"):
        assert {"Tuning", "Failed, cut off and missing"} <= set(headings)
        tuning = (written / "report.html").read_text().split("<h2>Tuning</h2>")[1]
        assert "alt='sensitivity.png'" in tuning.split("<h3>")[0]  # the plot in its section


def test_render_html_without_images_and_with_plots_drawn_in_memory():
    report = shipped("capacity")
    assert Page(render(report, "html")).images == []  # render(report, fmt) alone still works
    images = plot_images(report)  # for an HTML report printed, not written beside its plots
    assert "capacity.png" in images and all(png[:4] == b"\x89PNG" for png in images.values())
    html = render(report, "html", images=images)
    page = Page(html)
    assert (
        len(page.images) == len(images) and "Capacity against the baseline: copy" in page.headings
    )
    capacity = html.split("<h2>Capacity</h2>")[1].split("<h2>")[0]
    assert capacity.count("<img") == 1 and "alt='capacity.png'" in capacity


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium, chromium-browser or google-chrome")
def test_html_in_headless_chromium_loads_every_image_and_section(written, tmp_path):
    text = (written / "report.html").read_text()
    probed = tmp_path / "probed.html"
    probed.write_text(text.replace("</body>", PROBE + "</body>"))
    run = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    n = len(list(written.glob("*.png")))
    assert f"<title>loaded {n} of {n}</title>" in run.stdout, run.stdout[:300]
    headings = Page(run.stdout).headings
    assert all(h in headings for h in md_headings(written))


@pytest.mark.parametrize("name", ["core-v1", "capacity"])
def test_terminal_report_fits_80_columns_with_every_name_whole(name):
    report = shipped(name)
    console = Console(width=80, record=True)
    print_report(report, console)
    text = console.export_text()
    lines = text.splitlines()
    assert "…" not in text
    assert max(map(len, lines)) <= 80
    for label in [*report.tasks, *report.variants]:
        assert any(label in line for line in lines), label
    c = report.comparisons
    hidden = int((~c["significant"]).sum())
    lead = f"and {hidden} more" if c["significant"].any() else f"\n{hidden}"
    assert f"{lead} not significant: --all or report.md" in text
    for r in c[c["significant"]].itertuples():  # each significant row, with its numbers
        assert f"[{r.ci_low:.3f}, {r.ci_high:.3f}]" in text
        row = next(line for line in lines if line.startswith(f" {r.variant} ") and r.test in line)
        assert "<0.001" in row or f"{r.p_adjusted:.3f}" in row


def test_terminal_report_all_rows():
    report = shipped("core-v1")
    console = Console(width=80, record=True)
    print_report(report, console, all_rows=True)
    text = console.export_text()
    assert "more not significant" not in text and "…" not in text
    for r in report.comparisons.itertuples():
        assert f"[{r.ci_low:.3f}, {r.ci_high:.3f}]" in text or r.test == "identical"
    assert "needs ~" in text  # a note, as a footnote
