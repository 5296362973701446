"""POT configs (with their Accuracy Checker config) → a quantflow config.

`quantflow import-pot POT.json [--ac AC.yml] [--data-root DIR] -o quantflow.yml` is for users of OpenVINO's
removed Post-training Optimization Tool. `import_pot` maps plain dicts and lists what it could not map;
`import_pot_files` reads the files as POT did (JSON with comments, or YAML), and writes the result atomically
with that list as comments at its top. Paths in the POT file are relative to it; AC data paths are kept as
written (AC resolved them against its command-line roots) or put under `--data-root`.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path, PurePath
from typing import Any, Callable

import yaml

from quantflow.core.errors import UserInputError, shown
from quantflow.core.output_safety import IMPORT_HEADER, check_import_output
from quantflow.core.rundir import write_text_atomic
from quantflow.importers import Where, leftovers, required_list, required_mapping, under, unmapped
from quantflow.importers.accuracy_checker import first_entry, import_model

log = logging.getLogger(__name__)

# POT's accuracy-aware algorithm reverts one ranked layer per step, as NNCF's accuracy control (its successor) does;
# its parameters map one to one there.
ALGORITHMS = {"DefaultQuantization": "default", "AccuracyAwareQuantization": "nncf_accuracy_control"}
TARGET_DEVICES = {"ANY", "CPU", "GPU", "CPU_SPR"}
PRESETS = {"performance": "performance", "mixed": "mixed", "symmetric": "performance"}
# POT itself ran `accuracy` (alias `asymmetric`) as `mixed` on CPU, GPU and ANY; NNCF has no asymmetric preset.
PRESETS_RUN_AS_MIXED = {"accuracy", "asymmetric"}
POT_ANNOTATION_CONF_THRESHOLD = 0.6


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bool(value: Any) -> bool:
    return isinstance(value, bool)


def _non_negative(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _fraction(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


# POT parameter → (quantflow section, key, check, what the check wants)
Copy = tuple[str, str, Callable[[Any], bool], str]
DEFAULT_PARAMS: dict[str, Copy] = {
    "stat_subset_size": ("calibration", "subset_size", _positive_int, "a positive integer"),
    "seed": ("calibration", "seed", _int, "an integer"),
    "use_fast_bias": ("quantization", "fast_bias_correction", _bool, "true or false"),
    "fast_bias_correction": ("quantization", "fast_bias_correction", _bool, "true or false"),
}
ACCURACY_AWARE_PARAMS: dict[str, Copy] = {
    **DEFAULT_PARAMS,
    "maximal_drop": ("quantization", "max_drop", _non_negative, "a number ≥ 0"),
    "drop_type": ("quantization", "drop_type", lambda v: v in ("absolute", "relative"), "absolute or relative"),
    "max_iter_num": ("quantization", "max_iterations", _positive_int, "a positive integer"),
    "ranking_subset_size": ("quantization", "ranking_subset_size", _positive_int, "a positive integer"),
    "tune_hyperparams": ("quantization", "tune_hyperparams", _bool, "true or false"),
}
PARAM_REASONS = {
    "range_estimator": "not mapped: quantflow keeps NNCF's range estimation for the preset",
    "weights": "not mapped: quantflow keeps NNCF's weight quantization settings for the preset",
    "activations": "not mapped: quantflow keeps NNCF's activation quantization settings for the preset",
    "use_layerwise_tuning": "not mapped: quantflow has no layer-wise fine-tuning",
    "shuffle_data": "not mapped: quantflow always draws a seeded random calibration subset (calibration.seed)",
    "metric_subset_ratio": "not mapped: quantflow ranks layers on ranking_subset_size images",
    "convert_to_mixed_preset": "not mapped: quantflow keeps the preset during the search; try preset: mixed",
    "metrics": "not mapped: quantflow judges the drop on its one metric",
    "annotation_conf_threshold": "no effect without annotation_free: true",
}
COMPRESSION_REASONS = {"inplace_statistics": "no effect: NNCF collects statistics its own way",
                       "dump_intermediate_model": "not mapped: quantflow writes the FP32 and INT8 models only"}
ENGINE_REASONS = {"stat_requests_number": "no effect: quantflow sets its own inference requests",
                  "eval_requests_number": "no effect: quantflow sets its own inference requests"}


def import_pot(pot: dict, ac: dict | None = None, *, data_root: str | None = None, pot_root: str | None = None,
               pot_name: str = "POT config", ac_name: str = "AC config") -> tuple[dict, list[str]]:
    """A quantflow config (plain dict) from a POT config and the AC config its engine names, and one line for
    every setting that was not carried over as is.

    `pot_root` prefixes relative POT paths (the POT file's folder as seen from the written config);
    `data_root` prefixes AC's data paths. Bad input raises UserInputError naming the file and the key.
    """
    top = Where(pot_name)
    if not isinstance(pot, dict):
        raise UserInputError(f"{pot_name}: expected a JSON object at the top level")
    model, notes = _model(required_mapping(pot, "model", top), top / "model", pot_root)
    compression = required_mapping(pot, "compression", top)
    quantization, calibration, pseudo_labels, more = _compression(compression, top / "compression")
    notes += more
    engine = pot.get("engine", {})
    if not isinstance(engine, dict):
        raise UserInputError(f"{top / 'engine'}: expected a mapping")
    images, more = _engine(engine, top / "engine", pot_root)
    notes += more
    entry, entry_at, more = _ac_model(engine, top / "engine", ac, ac_name, simplified=images is not None)
    notes += more
    sections, more = import_model(entry, entry_at, data_root, pseudo_label_threshold=pseudo_labels,
                                  fallback_images=images)
    notes += more
    if images is not None:
        calibration["images"] = images
    else:
        notes.append(unmapped(top / "engine" / "type", "accuracy_checker", "POT calibrated on the evaluation "
                              "images; so does quantflow (with a warning) until calibration.images names others"))
    notes += leftovers(pot, {"model", "engine", "compression"}, top)
    evaluation = sections.pop("evaluation", None)
    config = {"model": model, **sections, "calibration": calibration, "quantization": {"openvino": quantization}}
    if evaluation:
        config["evaluation"] = evaluation
    config["output"] = f"../runs/{model['name']}"
    return config, notes


def _model(section: dict, where: Where, pot_root: str | None) -> tuple[dict, list[str]]:
    """POT's IR → model.name and model.source; OpenVINO reads the weights next to the .xml."""
    if "cascade" in section:
        raise UserInputError(f"{where / 'cascade'}: cascaded models are not supported; import each model alone")
    xml = section.get("model")
    if not isinstance(xml, str) or not xml:
        raise UserInputError(f"{where / 'model'}: required key is missing (the model .xml)")
    given = str(section.get("model_name") or PurePath(xml).stem)
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", given).strip("-") or PurePath(xml).stem
    notes = []
    if name != given:
        notes.append(unmapped(where / "model_name", given, f"renamed {name}: quantflow names files and folders by it"))
    weights, expected = section.get("weights"), PurePath(xml).with_suffix(".bin")
    if weights is not None and os.path.normpath(str(weights)) != os.path.normpath(str(expected)):
        notes.append(unmapped(where / "weights", weights, f"not mapped: OpenVINO reads {expected.name} next to the "
                              ".xml; copy or rename the weights there"))
    notes += leftovers(section, {"model_name", "model", "weights"}, where)
    return {"name": name, "source": under(pot_root, xml)}, notes


def _compression(compression: dict, where: Where) -> tuple[dict, dict, float | None, list[str]]:
    """The one quantization algorithm → quantization.openvino and calibration; also the pseudo-label threshold
    when POT's accuracy-aware search ran annotation-free."""
    algorithms = required_list(compression, "algorithms", where)
    for index, algorithm in enumerate(algorithms):
        if algorithm.get("name") not in ALGORITHMS:
            raise UserInputError(f"{where / 'algorithms' / index / 'name'}: unknown algorithm "
                                 f"{algorithm.get('name')!r}; quantflow imports {', '.join(ALGORITHMS)}")
    notes = [unmapped(where / "algorithms" / index, algorithm["name"], "not imported: quantflow runs one "
                      "quantization algorithm") for index, algorithm in enumerate(algorithms[1:], start=1)]
    algorithm, at = algorithms[0], where / "algorithms" / 0
    params = algorithm.get("params", {})
    if not isinstance(params, dict):
        raise UserInputError(f"{at / 'params'}: expected a mapping")
    notes += leftovers(algorithm, {"name", "params"}, at)
    quantization: dict[str, Any] = {"algorithm": ALGORITHMS[algorithm["name"]]}
    calibration: dict[str, Any] = {}
    aware = quantization["algorithm"] == "nncf_accuracy_control"
    notes += _copy_params(params, at / "params", ACCURACY_AWARE_PARAMS if aware else DEFAULT_PARAMS,
                          {"quantization": quantization, "calibration": calibration})
    if "stat_subset_size" not in params:
        notes.append(unmapped(at / "params" / "stat_subset_size", None, "POT calibrated on the whole dataset; "
                              "quantflow on calibration.subset_size images (300)"))
    notes += _preset(params, at / "params", quantization)
    notes += _target_device(compression, where, quantization)
    for section, section_at in ((compression, where), (params, at / "params")):
        notes += _model_type(section, section_at, quantization)
    if "ignored" in params:
        quantization["ignored_scope"], more = _ignored(params["ignored"], at / "params" / "ignored")
        notes += more
    handled = {*(ACCURACY_AWARE_PARAMS if aware else DEFAULT_PARAMS), "preset", "model_type", "ignored"}
    pseudo_labels = None
    if aware:
        pseudo_labels, more_handled, more = _accuracy_aware_extras(params, at / "params")
        handled |= more_handled
        notes += more
    notes += leftovers(params, handled, at / "params", PARAM_REASONS)
    notes += leftovers(compression, {"algorithms", "target_device", "model_type"}, where, COMPRESSION_REASONS)
    return quantization, calibration, pseudo_labels, notes


def _copy_params(params: dict, where: Where, table: dict[str, Copy], sections: dict[str, dict]) -> list[str]:
    """Copy each parameter of `table` that passes its check; list the ones that do not."""
    notes = []
    for key, (section, target, check, wanted) in table.items():
        if key not in params:
            continue
        if check(params[key]):
            sections[section][target] = params[key]
        else:
            notes.append(unmapped(where / key, params[key], f"not mapped: expected {wanted}"))
    return notes


def _preset(params: dict, where: Where, quantization: dict) -> list[str]:
    preset = str(params.get("preset", "performance")).lower()
    if preset in PRESETS:
        quantization["preset"] = PRESETS[preset]
        return []
    if preset in PRESETS_RUN_AS_MIXED:
        quantization["preset"] = "mixed"
        return [unmapped(where / "preset", params["preset"], "mapped to mixed, as POT itself ran it on CPU, GPU "
                         "and ANY (NNCF has no fully asymmetric preset)")]
    return [unmapped(where / "preset", params["preset"], "not mapped: quantflow has performance and mixed")]


def _target_device(compression: dict, where: Where, quantization: dict) -> list[str]:
    device = compression.get("target_device", "ANY")  # POT's default
    if device in TARGET_DEVICES:
        quantization["target_device"] = device
        return []
    return [unmapped(where / "target_device", device, "not mapped: NNCF has no such target (VPU and GNA are gone); "
                     "quantflow's default CPU is used")]


def _model_type(section: dict, where: Where, quantization: dict) -> list[str]:
    """POT wrote `model_type` at the compression level (newer) or among the parameters (older)."""
    if "model_type" not in section:
        return []
    value = section["model_type"]
    if value is None or str(value).lower() == "none":
        return []
    if str(value).lower() == "transformer":
        quantization["model_type"] = "transformer"
        return []
    return [unmapped(where / "model_type", value, "not mapped: quantflow knows transformer only")]


def _ignored(ignored: Any, where: Where) -> tuple[dict, list[str]]:
    """POT's ignored scope → names and types; operations matched by attributes are listed instead."""
    if not isinstance(ignored, dict):
        raise UserInputError(f"{where}: expected a mapping with scope and operations")
    scope: dict[str, list[str]] = {}
    notes = []
    names = ignored.get("scope", [])
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        scope["names"] = names
    else:
        notes.append(unmapped(where / "scope", names, "not mapped: expected a list of operation names"))
    types = []
    for index, operation in enumerate(ignored.get("operations") or []):
        if isinstance(operation, dict) and set(operation) == {"type"} and isinstance(operation["type"], str):
            types.append(operation["type"])
        else:
            notes.append(unmapped(where / "operations" / index, operation, "not mapped: quantflow ignores "
                                  "operations by name, pattern or type, not by attributes"))
    if types:
        scope["types"] = types
    notes += leftovers(ignored, {"scope", "operations"}, where,
                       {"skip_model": "not mapped: cascaded models are not supported"})
    return scope, notes


def _accuracy_aware_extras(params: dict, where: Where) -> tuple[float | None, set[str], list[str]]:
    """annotation_free and base_algorithm: the accuracy-aware parameters that are more than a copy."""
    pseudo_labels, notes = _annotation_free(params, where)
    handled = {"annotation_free", "base_algorithm"}
    if pseudo_labels is not None:
        handled.add("annotation_conf_threshold")
    if params.get("base_algorithm", "DefaultQuantization") != "DefaultQuantization":
        notes.append(unmapped(where / "base_algorithm", params["base_algorithm"],
                              "not mapped: quantflow's search starts from default quantization"))
    return pseudo_labels, handled, notes


def _annotation_free(params: dict, where: Where) -> tuple[float | None, list[str]]:
    """POT's annotation-free accuracy-aware search → quantflow's image_folder dataset, whose pseudo labels are
    the FP32 detections scoring at least the same threshold."""
    if params.get("annotation_free") is not True:
        if params.get("annotation_free") not in (None, False):
            return None, [unmapped(where / "annotation_free", params["annotation_free"], "not mapped: expected true "
                                   "or false")]
        return None, []
    threshold = params.get("annotation_conf_threshold", POT_ANNOTATION_CONF_THRESHOLD)
    if _fraction(threshold):
        return float(threshold), []
    reason = f"not mapped: expected a number in [0, 1]; POT's default {POT_ANNOTATION_CONF_THRESHOLD} is used"
    return POT_ANNOTATION_CONF_THRESHOLD, [unmapped(where / "annotation_conf_threshold", threshold, reason)]


def _engine(engine: dict, where: Where, pot_root: str | None) -> tuple[str | None, list[str]]:
    """The image folder of POT's simplified engine (None for the AC engine; a file pattern becomes its folder),
    and the engine settings nothing else reads."""
    kind = engine.get("type", "accuracy_checker")
    handled = {"type", "config", "name", "launchers", "datasets"} | ({"data_source"} if kind == "simplified" else set())
    notes = leftovers(engine, handled, where, ENGINE_REASONS)
    if kind == "accuracy_checker":
        return None, notes
    if kind != "simplified":
        raise UserInputError(f"{where / 'type'}: {kind!r} is not supported; quantflow calibrates on real images "
                             "(type accuracy_checker or simplified)")
    source = engine.get("data_source")
    if not isinstance(source, str) or not source:
        raise UserInputError(f"{where / 'data_source'}: required key is missing (the images folder)")
    parts = PurePath(source).parts
    cut = next((i for i, part in enumerate(parts) if any(c in part for c in "*?[")), len(parts))
    folder = str(PurePath(*parts[:cut])) if cut else "."
    if cut < len(parts):
        notes.append(unmapped(where / "data_source", source, f"not mapped: quantflow takes every image in {folder}"))
    return under(pot_root, folder), notes


def _ac_model(engine: dict, where: Where, ac: dict | None, ac_name: str,
              simplified: bool) -> tuple[dict, Where, list[str]]:
    """The AC model entry: from the AC file (`--ac` or engine.config), else the launchers and datasets written
    into the engine section itself."""
    inline = {key: engine[key] for key in ("name", "launchers", "datasets") if key in engine}
    if ac is not None:
        if not isinstance(ac, dict):
            raise UserInputError(f"{ac_name}: expected a YAML mapping at the top level")
        entry, at, notes = first_entry(ac, "models", Where(ac_name))
        notes += leftovers(ac, {"models"}, Where(ac_name), {"global_definitions": "not read: copy the dataset's "
                                                            "entry from the definitions file into the config"})
        if "launchers" in inline or "datasets" in inline:
            notes.append(unmapped(where, sorted(inline), f"not used: the launchers and datasets of {ac_name} are"))
        return entry, at, notes
    if "launchers" in inline or "datasets" in inline:
        return inline, where, []
    if simplified:
        raise UserInputError(f"{where / 'type'}: simplified describes no model outputs; pass an Accuracy Checker "
                             "config with --ac (its launcher adapter gives the decoder, its dataset the preprocessing)")
    raise UserInputError(f"{where}: no Accuracy Checker config (engine.config, or launchers and datasets); "
                         "pass one with --ac")


def _strip_json_comments(text: str) -> str:
    """POT read its JSON with jstyleson: // and /* */ comments and trailing commas are allowed."""
    string = r'"(?:\\.|[^"\\])*"'
    text = re.sub(rf"{string}|//[^\n]*|/\*[\s\S]*?\*/",
                  lambda m: m[0] if m[0].startswith('"') else "\n" * m[0].count("\n"), text)
    return re.sub(rf"{string}|,(?=\s*[}}\]])", lambda m: m[0] if m[0].startswith('"') else "", text)


def read_config_file(path: Path, what: str) -> dict:
    """A POT (JSON with comments, or YAML) or AC (YAML) config as a dict; bad input names the file."""
    if not path.is_file():
        raise UserInputError(f"{what}: file not found: {path}")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise UserInputError(f"{path}: not a text file") from None
    if path.suffix.lower() in (".yml", ".yaml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
            raise UserInputError(f"{path}:{where} malformed YAML: {getattr(exc, 'problem', exc)}") from None
    else:
        try:
            data = json.loads(_strip_json_comments(text))
        except json.JSONDecodeError as exc:
            raise UserInputError(f"{path}: line {exc.lineno}, column {exc.colno}: malformed JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a mapping at the top level")
    return data


class _Flow(dict):
    """A mapping written on one line, as the shipped configs write preprocessing steps."""


class _Dumper(yaml.SafeDumper):
    """Block mappings, one-line lists of scalars and steps: the layout of the configs in configs/."""

    def represent_list(self, data: list) -> yaml.Node:
        flow = all(not isinstance(item, (dict, list)) for item in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)

    def represent_flow(self, data: _Flow) -> yaml.Node:
        return self.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


_Dumper.add_representer(list, _Dumper.represent_list)
_Dumper.add_representer(_Flow, _Dumper.represent_flow)


def render(config: dict, notes: list[str], sources: list[Path]) -> str:
    """The config as YAML under a header naming its sources and listing, as comments, what was not mapped."""
    header = [f"{IMPORT_HEADER} from {' and '.join(str(s) for s in sources)}.",
              "# Check the paths and the list below, then run `quantflow check --config` on this file."]
    if notes:
        header += ["#", f"# Not carried over as is ({len(notes)}):", *(f"#   - {note}" for note in notes)]
    steps = [{name: _Flow(params) if isinstance(params, dict) else params for name, params in step.items()}
             for step in config["preprocessing"]]
    body = yaml.dump({**config, "preprocessing": steps}, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=120)
    return "\n".join(header) + "\n" + body


def import_pot_files(pot_path: Path, output: Path, ac_path: Path | None = None,
                     data_root: Path | None = None) -> list[str]:
    """Read a POT config and its AC config (`ac_path`, else the engine's `config` relative to the POT file),
    write the quantflow config atomically at `output`, log and return what was not mapped. Before writing,
    `output` is checked: it never replaces the sources, a folder or a file import-pot did not write."""
    pot = read_config_file(pot_path, "POT.json")
    ac, ac_key = None, "--ac"
    if ac_path is None and isinstance(pot.get("engine"), dict) and isinstance(pot["engine"].get("config"), str):
        ac_path, ac_key = pot_path.parent / Path(pot["engine"]["config"]).expanduser(), f"{pot_path}: engine.config"
    if ac_path is not None:
        ac = read_config_file(ac_path, ac_key)
    config, notes = import_pot(pot, ac, data_root=str(data_root.resolve()) if data_root else None,
                               pot_root=os.path.relpath(pot_path.resolve().parent, output.resolve().parent),
                               pot_name=str(pot_path), ac_name=str(ac_path or "AC config"))
    check_import_output(output, [("POT.json", pot_path), *([(ac_key, ac_path)] if ac_path else [])])
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(output, render(config, notes, [p for p in (pot_path, ac_path) if p is not None]))
    except OSError as exc:
        raise UserInputError(f"-o {shown(output)}: cannot be written: {exc.strerror or exc}") from None
    for note in notes:
        log.warning("%s", note)
    return notes
