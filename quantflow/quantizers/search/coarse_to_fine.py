"""The order of the search, coarsest and cheapest first; every candidate is judged by the task metric.

1. default: the fully quantized model. Done if it meets the target.
2. recipes: first the graph recipes, which need no calibration (the detection head's tail in float, the first
   and last groups), then other calibrations (each calibrated once), fully quantized; the calibration with the
   smallest drop becomes the base, and the graph recipes are tried on it too.
3. types: all groups feeding one kind of operation in float (all Multiply, all GroupConvolution, ...): where in
   the operation set the loss sits.
4. segments: the graph cut into contiguous stretches in topological order: where along the graph it sits.
5. bisection: groups ranked by what their type and segment recovered, ties broken by their rounding noise; the
   shortest prefix of that ranking that meets the target, by bisection on its length.
6. pruning: groups of the best set put back to INT8 in halving chunks, least promising first, while the target
   holds; fewer groups in float means more of the model runs in INT8.

Whenever the best candidate meets the target with at most SMALL_SET groups in float, the search goes straight to
pruning it (ranked by rounding noise). The judge raises BudgetSpent when the next pass would end after the
deadline; its best verdict stands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from quantflow.backends.openvino.quantizer_groups import QuantizerGroup
from quantflow.quantizers.search.judge import Base, Judge

SEGMENTS = 8
SMALL_SET = 16
SHAPE_TYPES = {"ShapeOf", "Unsqueeze", "Squeeze", "Reshape", "Transpose"}


def operation_kind(group: QuantizerGroup) -> str:
    """The computing operation types a group feeds; shape bookkeeping that rides along does not count."""
    types = sorted(set(group.types) - SHAPE_TYPES) or sorted(set(group.types))
    return "+".join(types)


def segments(count: int, parts: int = SEGMENTS) -> list[range]:
    """`parts` contiguous, near-equal stretches of `count` groups in graph order."""
    parts = max(1, min(parts, count))
    bounds = [round(k * count / parts) for k in range(parts + 1)]
    return [range(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def first_and_last(base: Base) -> frozenset[int]:
    return frozenset({0, len(base.groups) - 1}) if len(base.groups) > 2 else frozenset()


def groups_feeding(base: Base, operations: set[str]) -> frozenset[int]:
    """The groups that quantize any of `operations`."""
    return frozenset(g.index for g in base.groups if operations & set(g.operations))


def coarse_to_fine(judge: Judge, default: Base, recipes: Sequence[tuple[str, Callable[[], Base]]],
                   graph_recipes: Sequence[tuple[str, Callable[[Base], frozenset[int]]]],
                   signal: Callable[[Base], list[float]], calibration_seconds: float,
                   small_set: int = SMALL_SET) -> None:
    def settled(base: Base, rank: dict[int, int] | None = None) -> bool:
        """A set that meets the target and is small enough is pruned at once: about two passes per group cost
        less than localizing further."""
        best = judge.best
        if not (best.met and best.base is base and (rank is not None or len(best.reverted) <= small_set)):
            return False
        if rank is None:
            noise = signal(base)
            rank = {g: r for r, g in enumerate(sorted(best.reverted, key=lambda i: (-noise[i], i)))}
        prune(judge, base, best.reverted, rank)
        return True

    def graph(base: Base) -> None:
        chosen = [(name, choose(base)) for name, choose in graph_recipes]
        judge.batch([(base, groups, "recipe", f"{name} in float ({len(groups)})") for name, groups in chosen
                     if groups and len(groups) < len(base.groups)])

    fully = {default.name: judge(default, frozenset(), "default", "fully quantized")}
    if fully[default.name].met:
        return
    graph(default)
    if settled(default):
        return
    for name, calibrate in recipes:
        judge.check_time(calibration_seconds)
        recipe = calibrate()
        fully[name] = judge(recipe, frozenset(), "recipe", name)
        if fully[name].met:
            return
    base = min(fully.values(), key=lambda verdict: verdict.drop).base
    if base is not default:
        graph(base)
        if settled(base):
            return
    full, count = fully[base.name].drop, len(base.groups)
    gains = [0.0] * count

    kinds: dict[str, list[int]] = {}
    for group in base.groups:
        kinds.setdefault(operation_kind(group), []).append(group.index)
    by_type = [(kind, members) for kind, members in sorted(kinds.items(), key=lambda item: -len(item[1]))
               if len(members) < count]
    verdicts = judge.batch([(base, frozenset(members), "types", f"{kind} in float ({len(members)})")
                            for kind, members in by_type])
    for (_, members), verdict in zip(by_type, verdicts):
        for i in members:
            gains[i] += max(full - verdict.drop, 0.0)
    if settled(base):
        return
    stretches = [(k, stretch) for k, stretch in enumerate(segments(count)) if len(stretch) < count]
    verdicts = judge.batch([(base, frozenset(stretch), "segments",
                             f"segment {k + 1}: groups {stretch.start}-{stretch.stop - 1}") for k, stretch in stretches])
    for (_, stretch), verdict in zip(stretches, verdicts):
        for i in stretch:
            gains[i] += max(full - verdict.drop, 0.0)
    if settled(base):
        return

    noise = signal(base)
    order = sorted(range(count), key=lambda i: (-gains[i], -noise[i], i))
    low, high = 0, count  # every group in float is the FP32 model: it meets any target, but is no INT8 model
    while high - low > 1:
        middle = (low + high) // 2
        if judge(base, frozenset(order[:middle]), "bisection", f"first {middle} of {count} ranked").met:
            high = middle
        else:
            low = middle
    settled(base, {g: r for r, g in enumerate(order)})


def prune(judge: Judge, base: Base, reverted: frozenset[int], rank: dict[int, int]) -> None:
    """Complement reduction as in delta debugging: try chunks of the set back in INT8, halving the chunk size."""
    members = sorted(reverted, key=lambda g: -rank[g])  # least promising first
    size = max(1, len(members) // 2)
    while members:
        start = 0
        while start < len(members):
            chunk = set(members[start:start + size])
            kept = frozenset(m for m in members if m not in chunk)
            if judge(base, kept, "pruning", f"{len(chunk)} of {len(members)} back to INT8").met:
                members = [m for m in members if m not in chunk]
            else:
                start += size
        if size == 1:
            return
        size = max(1, size // 2)
