"""`quantflow zoo verify`: every file hashes as its manifest says, every model loads and scores as recorded."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from quantflow.config import Config, format_validation_error
from quantflow.core.errors import QuantflowError, UserInputError, shown
from quantflow.core.provenance import file_sha256
from quantflow.pipeline.workflow import Run
from quantflow.zoo.entry import evaluate_irs


def file_problems(entry: Path, manifest: dict) -> list[str]:
    """Missing, changed and unlisted files of one entry."""
    problems = []
    for name, digest in manifest["files"].items():
        path = entry / name
        if not path.is_file():
            problems.append(f"{entry.name}/{name}: missing")
        elif file_sha256(path) != digest:
            problems.append(f"{entry.name}/{name}: sha256 differs from manifest.json")
    listed = set(manifest["files"]) | {"manifest.json"}
    problems += [f"{entry.name}/{p.relative_to(entry)}: not in manifest.json"
                 for p in sorted(entry.rglob("*")) if p.is_file() and str(p.relative_to(entry)) not in listed]
    return problems


def score_problems(entry: Path, manifest: dict) -> list[str]:
    """Re-evaluate the manifest's verify samples with each precision's IR and compare with the recorded value."""
    settings = manifest["config"]
    settings["model"] = {**settings["model"], "source": str(entry / manifest["precisions"]["FP32"]["path"]),
                         "inputs": {}, "outputs": []}
    settings["output"] = str(entry / ".verify")
    try:
        run = Run(Config.model_validate(settings, context={"base_dir": entry}))
    except ValidationError as exc:
        return [f"{entry.name}: cannot rebuild its evaluation ({format_validation_error(exc)})"]
    except QuantflowError as exc:
        return [f"{entry.name}: cannot rebuild its evaluation ({exc})"]
    ids, tolerance = manifest["verify"]["ids"], manifest["verify"]["tolerance"]
    irs = {precision: entry / info["path"] for precision, info in manifest["precisions"].items()}
    measured = evaluate_irs(run, irs, ids, speed=False)
    main = manifest["metric"]["main"]
    return [f"{entry.name}/{precision}: {main} on the {len(ids)} verify samples is {measured[precision]['value']:.6f}, "
            f"manifest.json says {info['quick_check']:.6f}"
            for precision, info in manifest["precisions"].items()
            if abs(measured[precision]["value"] - info["quick_check"]) > tolerance]


MANIFEST_KEYS = {"files": dict, "verify": dict, "precisions": dict, "config": dict, "metric": dict}


def read_manifest(path: Path, zoo: Path) -> dict:
    """A manifest.json as a dict with the sections verify reads; anything else is the user's to fix (exit 2)."""
    where = f"zoo: {shown(path.relative_to(zoo))}"
    if not path.is_file():
        raise UserInputError(f"{where}: expected a file, got a folder")
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserInputError(f"{where}: not a JSON file ({shown(exc)})") from None
    if not isinstance(manifest, dict):
        raise UserInputError(f"{where}: expected a JSON object")
    wrong = [key for key, kind in MANIFEST_KEYS.items() if not isinstance(manifest.get(key), kind)]
    if wrong:
        raise UserInputError(f"{where}: lacks {', '.join(wrong)} (not a manifest written by quantflow zoo build)")
    return manifest


def verify_zoo(zoo: Path, report=print) -> list[str]:
    """All problems found; an entry whose files do not match is not evaluated (its models cannot be trusted)."""
    manifests = sorted(zoo.glob("*/*/manifest.json"))
    if not manifests:
        raise UserInputError(f"zoo: no entries (*/*/manifest.json) in {zoo}")
    problems = []
    for path in manifests:
        entry, manifest = path.parent, read_manifest(path, zoo)
        found = file_problems(entry, manifest)
        found = found or score_problems(entry, manifest)
        report(f"{'ok' if not found else 'FAILED'} {entry.relative_to(zoo)}")
        problems += found
    return problems
