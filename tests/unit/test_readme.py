"""The README's commands are real: setup is two commands and CI runs the second as written; every `quantflow`
command it shows parses, and the configs and files it names exist."""

from __future__ import annotations

import re
import shlex

import pytest

from quantflow.cli import _parser
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def test_setup_is_two_commands_and_ci_runs_the_second() -> None:
    setup = README.split("## Setup", 1)[1].split("\n## ", 1)[0]
    blocks = [block.strip() for block in bash_blocks(setup)]
    assert len(blocks) == 2 and all("\n" not in block for block in blocks)
    assert blocks[0].endswith("quantflow quantize --config configs/ssd.yml")
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == blocks[1]


COMMANDS = [line.split("#")[0].strip() for block in bash_blocks(README) for line in block.splitlines()
            if line.startswith("quantflow ")]


@pytest.mark.parametrize("line", COMMANDS)
def test_every_quantflow_command_parses_and_names_existing_files(line: str) -> None:
    words = shlex.split(line)[1:]
    args = _parser().parse_args(words)
    config = getattr(args, "config", None)
    if config and not str(config).startswith("imported/"):  # the import-pot example writes that one first
        assert (ROOT / config).is_file(), config
    pot = getattr(args, "pot", None)
    if pot:
        assert (ROOT / pot).is_file(), pot
