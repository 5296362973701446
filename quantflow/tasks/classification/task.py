"""Classification: one row per image (see `dataset`); annotation-free mode labels images with FP32's top-1,
and the report lists the images whose top-1 class INT8 changes, with both labels and the true one."""

from __future__ import annotations

import numpy as np

from quantflow.core.task import TASKS, Task
from quantflow.tasks.classification.dataset import TOP_K, ClassificationDataset, Labels

CHANGES_LISTED = 50  # the report lists this many changed images; the count covers all


@TASKS.register("classification")
class ClassificationTask(Task):
    name = "classification"

    def pseudo_ground_truth(self, dataset: ClassificationDataset, rows: np.ndarray,
                            sizes: dict[int, tuple[int, int]], threshold: float) -> Labels:
        confident = rows[rows[:, 1 + TOP_K] >= threshold]
        return Labels({int(r[0]): int(r[1]) for r in confident}, list(dataset.names or []))

    def agreement(self, reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
        return {"top-1 agreement": float(np.mean(reference[:, 1] == other[:, 1])) if len(reference) else 1.0}

    def changes(self, dataset: ClassificationDataset, ground_truth: Labels, reference: np.ndarray,
                other: np.ndarray) -> dict | None:
        """The images whose top-1 differs between two passes over the same samples (rows in the same order)."""
        changed = np.flatnonzero(reference[:, 1] != other[:, 1])
        right = wrong = 0
        entries = []
        for index in changed:
            sample_id = int(reference[index, 0])
            truth = ground_truth.classes.get(sample_id)
            right += int(other[index, 1] == truth)
            wrong += int(reference[index, 1] == truth)
            if len(entries) < CHANGES_LISTED:
                entries.append({"sample": dataset.name_of(sample_id),
                                "reference": dataset.class_name(truth) if truth is not None else "—",
                                "FP32": f"{dataset.class_name(int(reference[index, 1]))} ({reference[index, 1 + TOP_K]:.2f})",
                                "INT8": f"{dataset.class_name(int(other[index, 1]))} ({other[index, 1 + TOP_K]:.2f})"})
        note = (f"{len(changed)} of {len(reference)} images change their top-1 class under INT8: {right} become "
                f"right, {wrong} become wrong" + (f"; the first {CHANGES_LISTED} are listed" if len(changed) >
                                                  CHANGES_LISTED else "") + ".")
        return {"title": "Top-1 changes", "note": note, "total": int(len(changed)), "entries": entries}
