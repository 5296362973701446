"""Judging candidates: each is a set of quantizer groups put back in float on one calibrated base model, scored
by the task metric on the search split. The judge keeps the best candidate of the whole search, records every
evaluation as a step and enforces the time budget before a pass starts, not after it."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from quantflow.backends.openvino.quantizer_groups import QuantizerGroup, in_float
from quantflow.backends.openvino.runner import compile_exact
from quantflow.backends.openvino.shipping import model_from_bytes, model_to_bytes
from quantflow.quantizers.accuracy_target import accuracy_drop, compress_weights
from quantflow.quantizers.base import ValidationData

log = logging.getLogger(__name__)


class BudgetSpent(Exception):
    """The next pass would end after the deadline."""


@dataclass
class Base:
    """One calibration of the model (default settings or a recipe), quantized with uncompressed weights."""

    name: str
    model: object
    groups: list[QuantizerGroup]
    shifted: dict[str, np.ndarray]


def candidate_model(base: Base, reverted: frozenset[int]):
    """The model a candidate stands for, as the search delivers it and as its saved IR computes: the groups in
    float, the other weights folded into int8 constants, in a copy that shares no constant memory with the base
    or other candidates. Compiled in a process that has compiled candidates sharing those constants, OpenVINO's
    CPU plugin was seen to compute a later candidate differently (segmentation sample: mIoU 0.3604 instead of the
    0.3574 a fresh process and the saved IR give), so the verdict depended on the search's history."""
    folded = compress_weights(in_float(base.model, [base.groups[i] for i in sorted(reverted)], base.shifted))
    return model_from_bytes(*model_to_bytes(folded))


@dataclass(frozen=True)
class Verdict:
    base: Base
    reverted: frozenset[int]
    score: float
    drop: float
    met: bool


@dataclass
class Judge:
    validation: ValidationData
    reference: float
    max_drop: float
    drop_type: str
    deadline: float
    on_step: Callable[[dict], None] = lambda step: None
    steps: list[dict] = field(default_factory=list)
    best: Verdict | None = None
    budget_spent: bool = False
    _seen: dict[tuple[str, frozenset[int]], Verdict] = field(default_factory=dict)
    batches: list[int] = field(default_factory=list)  # sizes of the candidate batches scored at once (on Ray)
    _scored: dict[tuple[str, frozenset[int]], float] = field(default_factory=dict)  # scored by `batch`, not judged
    _slowest_pass: float = 0.0
    _started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self._started

    def check_time(self, extra_seconds: float = 0.0) -> None:
        """Raise BudgetSpent when `extra_seconds` and then a pass as slow as the slowest so far would end after
        the deadline."""
        if time.perf_counter() + extra_seconds + self._slowest_pass > self.deadline:
            self.budget_spent = True
            raise BudgetSpent

    def better(self, verdict: Verdict) -> bool:
        """Meeting the target beats missing it; among those that meet it, fewer groups in float win; among those
        that miss, the smaller drop wins. A candidate with every group in float never wins: it is no INT8 model."""
        best = self.best
        if len(verdict.reverted) == len(verdict.base.groups):
            return best is None  # every group in float is the FP32 model, not a quantized one
        if best is None or len(best.reverted) == len(best.base.groups):
            return True
        if verdict.met != best.met:
            return verdict.met
        if verdict.met:
            return (len(verdict.reverted), verdict.drop) < (len(best.reverted), best.drop)
        return (verdict.drop, len(verdict.reverted)) < (best.drop, len(best.reverted))

    def batch(self, candidates: list[tuple[Base, frozenset[int], str, str]]) -> list[Verdict]:
        """Judge candidates none of which depends on another's verdict. Where the validation scores several
        models at once (on a cluster), they are scored together first; verdicts are then recorded one by one in
        the order given, exactly as when they are judged one after another, so the search takes the same path."""
        if self.validation.score_many is not None:
            fresh: dict[tuple[str, frozenset[int]], tuple[Base, frozenset[int]]] = {}
            for base, reverted, _, _ in candidates:
                if (base.name, reverted) not in self._seen:
                    fresh.setdefault((base.name, reverted), (base, reverted))
            if fresh:
                if self.steps:
                    self.check_time()
                started = time.perf_counter()
                models = [candidate_model(base, reverted) for base, reverted in fresh.values()]
                scores = self.validation.score_many(models, list(self.validation.ids))
                self._slowest_pass = max(self._slowest_pass, time.perf_counter() - started)
                self._scored.update(zip(fresh, scores))
                self.batches.append(len(fresh))
        return [self(*candidate) for candidate in candidates]

    def _score(self, base: Base, reverted: frozenset[int]) -> float:
        model = candidate_model(base, reverted)
        if self.validation.score_many is not None:
            return self.validation.score_many([model], list(self.validation.ids))[0]
        compiled = compile_exact(model, self.validation.device)
        score, _ = self.validation.score(compiled, list(self.validation.ids), per_item=False)
        del compiled, model
        gc.collect()  # compiled models hold their weights; release them before the next candidate
        return score

    def __call__(self, base: Base, reverted: frozenset[int], phase: str, candidate: str) -> Verdict:
        key = (base.name, reverted)
        if key in self._seen:
            return self._seen[key]
        if key in self._scored:
            score = self._scored.pop(key)
        else:
            if self.steps:
                self.check_time()
            started = time.perf_counter()
            score = self._score(base, reverted)
            self._slowest_pass = max(self._slowest_pass, time.perf_counter() - started)
        drop = accuracy_drop(self.reference, score, self.drop_type)
        verdict = Verdict(base, reverted, score, drop, drop <= self.max_drop)
        accepted = self.better(verdict)
        if accepted:
            self.best = verdict
        self._seen[key] = verdict
        step = {"step": len(self.steps), "phase": phase, "candidate": candidate, "base": base.name,
                "metric": self.validation.shown(score), "drop": drop, "in_float": len(reverted),
                "met": verdict.met, "accepted": accepted, "reverted_group": [], "elapsed_s": self.elapsed()}
        self.steps.append(step)
        self.on_step(step)
        log.debug("search step %d (%s: %s): drop %+.5f with %d groups in float%s", step["step"], phase, candidate,
                 drop, len(reverted), " - best so far" if accepted else "")
        return verdict
