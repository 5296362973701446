"""A run's report files, written once from the typed report: report.json, report.md and report.html."""

from __future__ import annotations

from pathlib import Path

from quantflow.core.rundir import write_json_atomic, write_text_atomic
from quantflow.report.html import html_report
from quantflow.report.markdown import markdown
from quantflow.report.model import Report


def write_reports(folder: Path, report: Report) -> None:
    write_json_atomic(folder / "report.json", report.to_json())
    write_text_atomic(folder / "report.md", markdown(report))
    write_text_atomic(folder / "report.html", html_report(report, folder))
