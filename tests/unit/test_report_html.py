"""report.html as a reader sees it: every section report.md has, losses and gains in their colours whichever way
the metric goes, one number format per chart, pictures with captions and colour bars, nothing fetched, and one
page opened in a real headless browser."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

from quantflow.core.geometry import Geometry
from quantflow.core.task import TASKS
from quantflow.report.charts import GAIN, LOSS
from quantflow.report.html import html_report
from quantflow.report.markdown import markdown
from quantflow.report.model import Curve, Pictures, Report
from quantflow.tasks.stereo.disparity import Disparity
from tests.browser import check_page
from tests.unit.reports import make_report
from tests.unit.test_report_model import full_report
from tests.unit.test_stereo import stereo, write_pair

SVG_NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}  # names, never fetched
VOID = {"img", "meta", "br", "hr", "link", "input"}


class Page(HTMLParser):
    """What the checks read: headings, figures (with their image, colour bar and caption), every bar's group id
    and fill, the text drawn in each chart, and the classes of table cells."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.h2: list[str] = []
        self.figures: list[dict] = []
        self.bars: dict[str, str] = {}  # SVG group id → fill of the shape in it
        self.svg_text: list[str] = []
        self.cells: list[tuple[str, str]] = []  # (class, text) of every table cell
        self._open: list[str] = []
        self._group: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes, parents = dict(attrs), list(self._open)
        if tag not in VOID:
            self._open.append(tag)
        if tag == "figure":
            self.figures.append({"img": 0, "svg": 0, "caption": ""})
        elif tag in ("img", "svg") and "figure" in parents and "svg" not in parents:
            self.figures[-1][tag] += 1
        elif tag == "g" and re.search(r"-(loss|gain)-\d+$", attributes.get("id", "")):
            self._group = attributes["id"]
        elif tag == "path" and self._group:
            self.bars[self._group] = re.search(r"fill: (#\w+)", attributes["style"]).group(1)
            self._group = None
        elif tag in ("td", "th"):
            self.cells.append((attributes.get("class") or "", ""))

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self._open.pop()

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        if not self._open:
            return
        if self._open[-1] == "h2":
            self.h2.append(data.strip())
        elif self._open[-1] == "figcaption":
            self.figures[-1]["caption"] += data.strip()
        elif self._open[-1] == "text" and "svg" in self._open:
            self.svg_text.append(data.strip())
        elif self._open[-1] in ("td", "th"):
            self.cells[-1] = (self.cells[-1][0], self.cells[-1][1] + data)


def with_breakdown(report: Report, deltas: dict[str, float]) -> Report:
    report.results["FP32"].breakdown = dict.fromkeys(deltas, 0.5)
    report.results["INT8"].breakdown = {name: 0.5 + delta for name, delta in deltas.items()}
    return report


def detection(higher_is_better: bool = True) -> Report:
    curve = Curve(recall=[0.0, 0.5, 1.0], precision=[1.0, 0.9, 0.2])
    report = make_report(["AP", "AP50"], "AP", {"AP": 0.5, "AP50": 0.7}, {"AP": 0.49, "AP50": 0.71},
                         higher_is_better)
    for name in ("FP32", "INT8"):
        report.results[name].curves = {"IoU 0.50": curve, "IoU 0.75": curve}
    return with_breakdown(report, {"circle": 0.0021, "square": -0.00902, "star": -0.0002054})


def stereo_pictures(folder: Path) -> Pictures:
    """The stereo task's own pictures (disparity maps, their difference and error, with colour scales) of two
    pairs whose INT8 disparity is off by 2 px in one patch; 0 in the truth means no ground truth there."""
    data = folder / "data"
    for index in range(2):
        truth = np.tile(np.linspace(4.0, 40.0, 128), (96, 1))
        truth[:8] = 0
        write_pair(data, f"00000{index}_10.png", truth, kitti=True)
    for sub, kitti_name in (("left", "image_2"), ("right", "image_3"), ("disp", "disp_occ_0")):
        (data / sub).rename(data / kitti_name)
    dataset = stereo("kitti", data)

    def decode(name: str, sample_id: int):
        disparity = dataset.truth(sample_id, (96, 128)).copy()
        if name == "INT8":
            disparity[40:70, 80:120] += 2.0
        return Disparity(disparity), Geometry.identity(96, 128)

    task = TASKS.get("stereo", "test")()
    entries = task.pictures(decode, dataset, [1, 2], folder / "maps")
    return Pictures(title=task.pictures_title, note=task.pictures_note, entries=entries)


def test_every_section_of_report_md_is_a_section_of_the_page(tmp_path: Path) -> None:
    report = full_report(tmp_path)
    with_breakdown(report, {"circle": 0.01})
    report.changes = report.changes.model_validate({"title": "Top-1 changes", "note": "n", "total": 1, "entries": [
        {"sample": "a.jpg", "reference": "cat", "FP32": "cat (0.6)", "INT8": "dog (0.5)"}]})
    text, lines = html_report(report, tmp_path), markdown(report).splitlines()
    page = Page(text)
    headings = [line[3:] for line in lines if line.startswith("## ")]
    assert len(headings) == 8 and set(headings) <= set(page.h2), set(headings) - set(page.h2)
    assert {"Accuracy", "Speed"} <= set(page.h2)
    table_cells = {cell.strip() for line in lines if line.startswith("| ") for cell in line.strip("|").split(" | ")}
    assert not table_cells - {cell for _, cell in page.cells}, "every table of report.md is on the page"
    for expected in ("FakeQuantize nodes in the INT8 model: 7", "calibration ids: 1–2", "<code>conv9</code>",
                     "reached: <b>yes</b>", "Kept in floating point: 1 of 9", "<li><code>conv1</code> (Convolution)",
                     "mixing value ranges in one tensor: boxes", "config sha256 <code>" + "c" * 64,
                     "How it was measured: not measured", "FP32 reference: evaluated in this run", "pair0"):
        assert expected in text, expected


def test_losses_and_gains_take_their_colours_whichever_way_the_metric_goes(tmp_path: Path) -> None:
    for higher_is_better, losses in ((True, {"square", "star"}), (False, {"circle"})):
        page = Page(html_report(detection(higher_is_better), tmp_path))
        names = ["circle", "square", "star"]
        expected = {f"breakdown-{'loss' if name in losses else 'gain'}-{i}": LOSS if name in losses else GAIN
                    for i, name in enumerate(names)}
        assert page.bars == expected
        deltas = [cell for cell in page.cells if cell[1] in ("+0.0021", "-0.0090", "-0.0002")]
        assert [c for c, _ in deltas] == [f"num {'loss' if n in losses else 'gain'}" for n in names]
        accuracy_delta = next(c for c, text in page.cells if text == "-0.0100")  # Δ AP of INT8
        assert accuracy_delta == ("num gain" if not higher_is_better else "num loss")


def test_chart_labels_share_one_number_format_and_axes_say_which_way_is_better(tmp_path: Path) -> None:
    page = Page(html_report(detection(), tmp_path))
    assert {"+0.0021", "−0.0090", "−0.0002"} <= set(page.svg_text)  # not −0.00902 next to −0.0002054
    assert not [t for t in page.svg_text if re.fullmatch(r"[+−]\d\.\d{5,}", t)]
    assert {"AP change, INT8 − FP32 (higher is better)", "INT8 worse", "INT8 better", "recall", "precision",
            "FP32 IoU 0.50", "INT8 IoU 0.75", "latency, ms (median) — lower is better",
            "throughput, inferences/s — higher is better"} <= set(page.svg_text)
    lower = Page(html_report(detection(higher_is_better=False), tmp_path))
    assert "AP change, INT8 − FP32 (lower is better)" in lower.svg_text


def test_pictures_have_captions_and_colour_bars_and_nothing_is_fetched(tmp_path: Path) -> None:
    report = make_report(["EPE"], "EPE", {"EPE": 1.0}, {"EPE": 1.2}, higher_is_better=False,
                         pictures=stereo_pictures(tmp_path).model_dump())
    text = html_report(report, tmp_path)
    assert text == html_report(report, tmp_path), "the same report gives the same page"
    pictures = [f for f in Page(text).figures if f["img"]]
    assert [f["caption"] for f in pictures] == ["FP32 disparity", "INT8 disparity", "INT8 − FP32", "INT8 error"] * 2
    assert all(f["img"] == 1 and f["svg"] == 1 for f in pictures), "each map has its colour bar"
    scales = report.pictures.entries[0].scales
    assert scales["fp32_disparity"].high == scales["int8_disparity"].high == 40.0
    assert (scales["int8_error"].colormap, scales["int8_error"].high) == ("inferno", 3.0)
    assert "|INT8 − ground truth|, px" in Page(text).svg_text
    assert text.count("data:image/png;base64,") >= 8 and 'src="maps/' not in text
    assert set(re.findall(r"https?://[^\s\"'<>)]+", text)) <= SVG_NAMESPACES


def test_a_page_with_every_kind_of_chart_and_picture_opens_cleanly_in_a_browser(tmp_path: Path) -> None:
    report = detection()
    report.pictures = stereo_pictures(tmp_path)
    (tmp_path / "report.html").write_text(html_report(report, tmp_path))
    shot = check_page(tmp_path / "report.html", tmp_path / "shots")
    assert shot.stat().st_size > 10_000


def test_keypoint_errors_are_marked_the_way_errors_go_under_a_higher_is_better_ap(tmp_path: Path) -> None:
    """Pose: AP is higher-is-better, its per-keypoint pixel errors lower-is-better; a growing error is a loss."""
    report = with_breakdown(make_report(["AP"], "AP", {"AP": 0.8}, {"AP": 0.79}), {"nose": 0.25, "left_eye": -0.5})
    for name in ("FP32", "INT8"):
        report.results[name].breakdown_label = ("keypoint", "mean error px")
        report.results[name].breakdown_higher_is_better = False
    page = Page(html_report(report, tmp_path))
    assert [c for c, text in page.cells if text in ("+0.2500", "-0.5000")] == ["num loss", "num gain"]
    assert not page.bars  # FP32 and INT8 side by side, not change bars: no part is drawn as a loss or a gain

