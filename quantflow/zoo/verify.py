"""`quantflow zoo verify`: every file hashes as its manifest says, every model loads and scores as recorded."""

from __future__ import annotations

import json
from pathlib import Path

from quantflow.config import Config
from quantflow.errors import QuantflowError, UserInputError
from quantflow.provenance import file_sha256
from quantflow.workflow import Run
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
        config = Config.model_validate(settings, context={"base_dir": entry})
        run = Run(config)
    except (QuantflowError, ValueError) as exc:
        return [f"{entry.name}: cannot rebuild its evaluation ({str(exc).splitlines()[0]})"]
    ids, tolerance = manifest["verify"]["ids"], manifest["verify"]["tolerance"]
    irs = {precision: entry / info["path"] for precision, info in manifest["precisions"].items()}
    measured = evaluate_irs(run, irs, ids, speed=False)
    main = manifest["metric"]["main"]
    return [f"{entry.name}/{precision}: {main} on the {len(ids)} verify samples is {measured[precision]['value']:.6f}, "
            f"manifest.json says {info['quick_check']:.6f}"
            for precision, info in manifest["precisions"].items()
            if abs(measured[precision]["value"] - info["quick_check"]) > tolerance]


def verify_zoo(zoo: Path, report=print) -> list[str]:
    """All problems found; an entry whose files do not match is not evaluated (its models cannot be trusted)."""
    manifests = sorted(zoo.glob("*/*/manifest.json"))
    if not manifests:
        raise UserInputError(f"zoo: no entries (*/*/manifest.json) in {zoo}")
    problems = []
    for path in manifests:
        entry, manifest = path.parent, json.loads(path.read_text())
        found = file_problems(entry, manifest)
        found = found or score_problems(entry, manifest)
        report(f"{'ok' if not found else 'FAILED'} {entry.relative_to(zoo)}")
        problems += found
    return problems
