"""`quantflow list`: every provider with its keys, from the providers' own configs; the README's provider
tables are its markdown output."""

from __future__ import annotations

import re

import pytest

from quantflow.listing import KINDS
from tests.conftest import ROOT, run_cli

BEGIN, END = "<!-- quantflow list --format markdown -->\n", "<!-- end -->\n"


@pytest.fixture(scope="module")
def listing() -> str:
    result = run_cli("list")
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_list_shows_every_built_in_with_its_keys(listing: str, kind: str) -> None:
    registry = KINDS[kind].providers()
    assert f"{kind}: " in listing
    for name in registry.names():
        provider = registry.get(name, "test")
        assert f"\n  {name} ({provider.__module__}): " in listing, name
        block = listing.split(f"\n  {name} ({provider.__module__}): ", 1)[1].split("\n\n", 1)[0]
        keys = re.findall(r"^    ([\w.]+): ", block, flags=re.MULTILINE)
        for field in provider.Config.model_fields:
            if field != KINDS[kind].key:
                assert any(key == field or key.startswith(f"{field}.") for key in keys), f"{name}.{field}"


def test_list_one_kind_shows_types_defaults_and_descriptions() -> None:
    result = run_cli("list", "decoders")
    assert result.returncode == 0, result.stderr
    assert "datasets:" not in result.stdout
    assert "    anchors: path (required)  .npy [A, 4] anchors (cy, cx, h, w) normalized to the input." in result.stdout
    assert "    score_activation: none | sigmoid | softmax = none  Applied to class scores;" in result.stdout
    assert "    scale_factors: [float, float, float, float] = [10.0, 10.0, 5.0, 5.0]\n" in result.stdout


def test_markdown_tables_escape_choices() -> None:
    result = run_cli("list", "quantizers", "--format", "markdown")
    assert result.returncode == 0, result.stderr
    assert "| `preset` | performance \\| mixed | `performance` | performance: symmetric activations; mixed: " \
           "asymmetric. |" in result.stdout
    assert "| `ignored_scope.auto` | list[detection_head] | `[]` |" in result.stdout


def test_readme_config_reference_is_the_generated_markdown() -> None:
    result = run_cli("list", "--format", "markdown")
    assert result.returncode == 0, result.stderr
    readme = (ROOT / "README.md").read_text()
    assert readme.count(BEGIN) == 1 and readme.count(END) >= 1
    held = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    assert held == result.stdout, "README.md is out of date: regenerate it with `quantflow list --format markdown`"


def test_unknown_kind_is_refused() -> None:
    result = run_cli("list", "widgets")
    assert result.returncode == 2 and "invalid choice: 'widgets'" in result.stderr
