"""quantflow never replaces or deletes what it did not write: an output that is, holds or sits inside an input, a
file, or a folder quantflow did not write is refused before any work starts, with one line naming the key and
the path, and every file the user had is still there, byte for byte. Each case runs the CLI on a copy of the
shipped sample (configs/ssd.yml and datasets/shapes) in tmp_path, so nothing in the repository is at risk."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from quantflow.core.output_safety import is_run_folder
from tests.conftest import ROOT, assert_user_error, run_cli

QUICK = ["evaluation.max_images=20", "calibration.subset_size=20", "evaluation.speed.enabled=false"]
POT = ROOT / "tests" / "data" / "pot"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's project: configs/ssd.yml beside datasets/shapes/, as in the repository, plus the POT pair."""
    root = tmp_path / "project"
    (root / "configs").mkdir(parents=True)
    shutil.copy(ROOT / "configs" / "ssd.yml", root / "configs" / "ssd.yml")
    shutil.copytree(ROOT / "datasets" / "shapes", root / "datasets" / "shapes")
    shutil.copytree(POT, root / "pot")
    (root / "notes.txt").write_text("the user's own notes\n")
    (root / "mine").mkdir()
    (root / "mine" / "thesis.tex").write_text("the user's own work\n")
    return root


def tree(folder: Path) -> dict[str, str]:
    """Every file (sha256) and folder under `folder`, by relative name."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
            for p in sorted(folder.rglob("*"))}


def refused(project: Path, *args: str, fragments: tuple[str, ...]) -> None:
    """Run the CLI in `project`: exit 2, one error line naming `fragments`, and not one file changed or added."""
    before = tree(project.parent)
    result = run_cli(*args, cwd=project)
    assert_user_error(result, *fragments)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert tree(project.parent) == before


def quantize(*overrides: str) -> list[str]:
    return ["quantize", "--config", "configs/ssd.yml", *(arg for o in overrides for arg in ("--set", o))]


def test_output_that_is_the_config_folder_is_refused(project: Path) -> None:
    """`--set` paths are relative to the working directory (the project here), as every command-line path is."""
    refused(project, *quantize("output=configs"), fragments=(
        f"output {project / 'configs'}: is the folder of the input --config {project / 'configs' / 'ssd.yml'}",))


def test_output_that_is_the_dataset_image_folder_is_refused(project: Path) -> None:
    images = project / "datasets" / "shapes" / "val"
    refused(project, *quantize("output=datasets/shapes/val"), fragments=(f"output {images}: is the input "
                                                                             "dataset.images",))


@pytest.mark.parametrize("output", [".", "datasets", str(Path("/"))])
def test_output_that_contains_the_config_or_the_dataset_is_refused(project: Path, output: str) -> None:
    refused(project, *quantize(f"output={output}"), fragments=("output ", ": contains the input "))


def test_output_that_is_an_existing_file_is_refused(project: Path) -> None:
    refused(project, *quantize("output=notes.txt"), fragments=(f"output {project / 'notes.txt'}: is a file",))


def test_output_that_is_a_foreign_folder_is_refused(project: Path) -> None:
    refused(project, *quantize("output=mine"), fragments=(
        f"output {project / 'mine'}: is a folder quantflow did not write", "expected a new or empty folder"))


def test_output_inside_the_savedmodel_folder_is_refused(project: Path) -> None:
    model = project / "datasets" / "shapes" / "model" / "saved_model"
    refused(project, *quantize("output=datasets/shapes/model/saved_model/run"), fragments=(
        f"output {model / 'run'}: lies inside the input folder model.source {model}",))


def test_output_under_a_file_is_refused(project: Path) -> None:
    refused(project, *quantize("output=notes.txt/run"), fragments=(
        f"output {project / 'notes.txt' / 'run'}: lies under the file {project / 'notes.txt'}",))


def test_output_that_cannot_be_created_is_refused(project: Path) -> None:
    """Under /proc nothing can be created (even as root, whom write permission checks do not stop)."""
    before = tree(project.parent)
    result = run_cli(*quantize("output=/proc/quantflow/run"), cwd=project)
    assert_user_error(result, "output /proc/quantflow/run: cannot be created")
    assert tree(project.parent) == before


def test_import_pot_onto_its_own_pot_file_is_refused(project: Path) -> None:
    pot = project / "pot" / "ssd_mobilenet_v2_coco_default.json"
    refused(project, "import-pot", str(pot), "-o", str(pot), fragments=(f"-o {pot}: is the input POT.json",))


def test_import_pot_onto_its_ac_file_is_refused(project: Path) -> None:
    pot, ac = project / "pot" / "ssd_mobilenet_v2_coco_default.json", project / "pot" / "ssd_mobilenet_v2_coco.yml"
    refused(project, "import-pot", str(pot), "-o", str(ac), fragments=(f"-o {ac}: is the input ", "engine.config"))


def test_import_pot_onto_a_folder_is_refused(project: Path) -> None:
    pot = project / "pot" / "ssd_mobilenet_v2_coco_default.json"
    refused(project, "import-pot", str(pot), "-o", str(project / "mine"), fragments=(
        f"-o {project / 'mine'}: is a folder",))


def test_import_pot_onto_a_foreign_file_is_refused(project: Path) -> None:
    pot = project / "pot" / "ssd_mobilenet_v2_coco_default.json"
    refused(project, "import-pot", str(pot), "-o", str(project / "notes.txt"), fragments=(
        f"-o {project / 'notes.txt'}: exists and quantflow import-pot did not write it",))


def test_import_pot_replaces_its_own_earlier_output(project: Path) -> None:
    pot, out = project / "pot" / "ssd_mobilenet_v2_coco_default.json", project / "configs" / "imported.yml"
    for _ in range(2):
        result = run_cli("import-pot", str(pot), "-o", str(out), cwd=project)
        assert result.returncode == 0, result.stderr
    assert out.read_text().startswith("# Imported by `quantflow import-pot`")
    assert sorted(p.name for p in out.parent.iterdir()) == ["imported.yml", "ssd.yml"]  # no .imported.yml.*.tmp


def test_zoo_that_is_the_config_folder_is_refused(project: Path) -> None:
    configs = project / "configs"
    refused(project, "zoo", "build", "configs/ssd.yml", "--zoo", "configs", fragments=(
        f"--zoo {configs}: is the folder of the input CONFIG {configs / 'ssd.yml'}",))


def test_zoo_that_is_a_file_is_refused(project: Path) -> None:
    refused(project, "zoo", "build", "configs/ssd.yml", "--zoo", "notes.txt", fragments=(
        f"--zoo {project / 'notes.txt'}: is a file",))


def test_zoo_that_is_a_foreign_folder_is_refused(project: Path) -> None:
    refused(project, "zoo", "build", "configs/ssd.yml", "--zoo", "mine", fragments=(
        f"--zoo {project / 'mine'}: is a folder quantflow did not write",))


def test_zoo_inside_the_dataset_is_refused(project: Path) -> None:
    images = project / "datasets" / "shapes" / "val"
    refused(project, "zoo", "build", "configs/ssd.yml", "--zoo", "datasets/shapes/val/zoo", fragments=(
        f"--zoo {images / 'zoo'}: lies inside the input folder dataset.images of configs/ssd.yml {images}",))


@pytest.mark.parametrize("assignment, fragment", [("evaluation.max_images", "expected key.path=value"),
                                                  ("evaluation.max_images=[1", "malformed YAML")])
def test_zoo_build_with_a_bad_set_leaves_nothing(project: Path, assignment: str, fragment: str) -> None:
    refused(project, "zoo", "build", "configs/ssd.yml", "--zoo", "new/zoo", "--set", assignment,
            fragments=("--set evaluation.max_images", fragment))


def test_zoo_entry_in_the_place_of_a_foreign_folder_fails_and_keeps_it(project: Path) -> None:
    """A zoo quantflow built whose `detection/ssd-shapes` is someone else's folder: that entry fails (exit 4)
    with the reason, before any build, and the folder is kept as it was."""
    zoo = project / "zoo"
    (zoo / "detection" / "ssd-shapes").mkdir(parents=True)
    (zoo / "detection" / "ssd-shapes" / "plan.txt").write_text("not a zoo entry\n")
    (zoo / "index.json").write_text(json.dumps({"schema": "quantflow.zoo/1", "rows": []}))
    before = tree(zoo / "detection")
    result = run_cli("zoo", "build", "configs/ssd.yml", "--zoo", "zoo", cwd=project)
    assert result.returncode == 4, result.stderr
    assert "detection/ssd-shapes exists and is not a zoo entry (no manifest.json); nothing replaced" in result.stderr
    assert "Traceback" not in result.stderr
    assert tree(zoo / "detection") == before
    assert sorted(p.name for p in zoo.iterdir()) == ["detection", "index.json", "index.md"]  # no .lock, .building


def test_zoo_build_whose_entries_all_fail_leaves_no_zoo(project: Path) -> None:
    before = tree(project.parent)
    result = run_cli("zoo", "build", "configs/ssd.yml", "--zoo", "new/zoo", "--set", "model.name=bad/name",
                     cwd=project)
    assert result.returncode == 4, result.stderr
    assert tree(project.parent) == before


@pytest.mark.parametrize("marker", [{"schema": "quantflow.run/1"}, {"schema": "quantflow.run/2"},
                                    {"config_hash": "0" * 64, "versions": {"quantflow": "0.0.9"}}])
def test_run_folders_of_every_report_version_are_recognised(tmp_path: Path, marker: dict) -> None:
    """Run folders written before the typed report (schema /1, or no schema at all) stay replaceable."""
    (tmp_path / "report.json").write_text(json.dumps(marker))
    assert is_run_folder(tmp_path)
    (tmp_path / "report.json").write_text(json.dumps({"schema": "someone.else/1"}))
    assert not is_run_folder(tmp_path)
