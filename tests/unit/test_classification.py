"""Classification pieces: both dataset layouts and their refusals, the class-score decoder (logits,
probabilities, background class), top-k accuracy and per-class accuracy against scikit-learn, the per-image
margin worked out by hand, annotation-free labels and the list of changed images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, recall_score, top_k_accuracy_score

from quantflow.core.decoder import OutputInfo
from quantflow.core.errors import UserInputError
from quantflow.core.task import TASKS
from quantflow.preprocessing import Geometry
from quantflow.tasks.class_names import read_class_names
from quantflow.tasks.classification.accuracy import Accuracy
from quantflow.tasks.classification.class_folders import ClassFolders
from quantflow.tasks.classification.class_scores import ClassScoresDecoder
from quantflow.tasks.classification.dataset import TOP_K, ClassScores, Labels
from quantflow.tasks.classification.image_labels import ImageLabels


def write_image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((8, 10, 3), 90, np.uint8))
    return path


def decoder(count: int, **config) -> ClassScoresDecoder:
    d = ClassScoresDecoder(ClassScoresDecoder.Config(type="class_scores", **config))
    d.bind([OutputInfo(0, frozenset({"probabilities"}), (1, count))])
    return d


def rows_of(scores: np.ndarray, d: ClassScoresDecoder | None = None) -> np.ndarray:
    """Result rows of score vectors, ids 1..N, as the dataset lays them out."""
    d = d or decoder(count=scores.shape[1])
    dataset = ClassFolders.__new__(ClassFolders)
    return np.concatenate([dataset.rows(i + 1, d.decode([s[None]]), Geometry.identity(1, 1))
                           for i, s in enumerate(scores)])


def test_class_folders_follow_the_names_file_order(tmp_path: Path) -> None:
    for name in ("dog/b.jpg", "dog/a.png", "cat/c.jpg"):
        write_image(tmp_path / "val" / name)
    (tmp_path / "val" / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "classes.txt").write_text("dog\ncat\nbird\n")
    dataset = ClassFolders(ClassFolders.Config(type="class_folders", root=tmp_path / "val",
                                               classes=tmp_path / "classes.txt"))
    assert [dataset.name_of(i) for i in dataset.ids()] == ["cat/c.jpg", "dog/a.png", "dog/b.jpg"]
    assert dataset.ground_truth() == Labels({1: 1, 2: 0, 3: 0}, ["dog", "cat", "bird"])
    sorted_names = ClassFolders(ClassFolders.Config(type="class_folders", root=tmp_path / "val"))
    assert sorted_names.ground_truth() == Labels({1: 0, 2: 1, 3: 1}, ["cat", "dog"])
    with pytest.raises(UserInputError, match="decoder: the model scores 4 classes, but classes.txt names 3"):
        dataset.check_labels(range(4))
    (tmp_path / "classes.txt").write_text("dog\nbird\n")
    with pytest.raises(UserInputError, match="dataset.root: folder 'cat' is not a class in classes.txt"):
        ClassFolders(ClassFolders.Config(type="class_folders", root=tmp_path / "val", classes=tmp_path / "classes.txt"))


def test_labels_file_layout_and_its_refusals(tmp_path: Path) -> None:
    images = tmp_path / "images"
    for name in ("ILSVRC2012_val_00000001.JPEG", "ILSVRC2012_val_00000002.JPEG", "sub/x y.png"):
        write_image(images / name)
    (tmp_path / "names.txt").write_text("n01440764 tench, Tinca tinca\nn01443537 goldfish\n# comment\nn01484850 shark\n")
    labels = tmp_path / "val.txt"
    labels.write_text("ILSVRC2012_val_00000002.JPEG 2\nsub/x y.png n01443537 goldfish\nILSVRC2012_val_00000001.JPEG 0\n")

    def make(**extra) -> ImageLabels:
        return ImageLabels(ImageLabels.Config(type="image_labels", images=images, **extra))

    with pytest.raises(UserInputError, match="line 2: label 'goldfish' is neither a class index nor a class name"):
        make(labels=labels, classes=tmp_path / "names.txt")
    labels.write_text("ILSVRC2012_val_00000002.JPEG 2\nsub/x y.png 1\n\nILSVRC2012_val_00000001.JPEG 0\n")
    dataset = make(labels=labels, classes=tmp_path / "names.txt")
    assert [dataset.name_of(i) for i in dataset.ids()] == ["ILSVRC2012_val_00000002.JPEG", "sub/x y.png",
                                                         "ILSVRC2012_val_00000001.JPEG"]
    assert dataset.ground_truth().classes == {1: 2, 2: 1, 3: 0}
    assert dataset.class_name(1) == "n01443537 goldfish"
    for text, message in (("missing.JPEG 1\n", "line 1: missing.JPEG is not an image in"),
                          ("ILSVRC2012_val_00000001.JPEG 3\n", "line 1: class 3 is beyond the 3 classes"),
                          ("../names.txt 1\n", "line 1: ../names.txt is not an image in"),
                          ("ILSVRC2012_val_00000001.JPEG\n", "line 1: expected 'file label'"),
                          ("a.JPEG 1\nILSVRC2012_val_00000001.JPEG 0\nILSVRC2012_val_00000001.JPEG 1\n",
                           "line 1: a.JPEG is not an image")):
        labels.write_text(text)
        with pytest.raises(UserInputError, match=message):
            make(labels=labels, classes=tmp_path / "names.txt")
    free = make()
    assert not free.has_labels and len(free.ids()) == 2  # the folder's own images, sorted; sub-folders not read
    free.check_labels(range(3))
    assert free.names == ["0", "1", "2"]


def test_names_files(tmp_path: Path) -> None:
    path = tmp_path / "names.txt"
    path.write_text("0 background\n1 person\n")
    assert read_class_names(path, "dataset.classes") == ["background", "person"]
    path.write_text("1 person\n0 background\n")
    with pytest.raises(UserInputError, match="numbers its classes out of order"):
        read_class_names(path, "dataset.classes")
    path.write_text("cat\ncat\n")
    with pytest.raises(UserInputError, match="names class 'cat' twice"):
        read_class_names(path, "dataset.classes")
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(UserInputError, match="is not a text file"):
        read_class_names(path, "dataset.classes")


def test_decoder_turns_logits_and_probabilities_into_top5() -> None:
    logits = np.array([2.0, -1.0, 0.5, 3.0, 0.0, 1.0])
    expected = np.exp(logits) / np.exp(logits).sum()
    out = decoder(count=6).decode([logits[None]])
    np.testing.assert_array_equal(out.classes, [3, 0, 5, 2, 4])
    np.testing.assert_allclose(out.scores, expected[[3, 0, 5, 2, 4]], rtol=1e-12)
    same = decoder(count=6).decode([expected[None]])  # probabilities pass through unchanged
    np.testing.assert_allclose(same.scores, out.scores, rtol=1e-12)
    forced = decoder(count=6, scores="logits").decode([expected[None]])
    assert not np.allclose(forced.scores, out.scores)
    background = decoder(count=4, background_offset=1).decode([np.array([[0.7, 0.1, 0.15, 0.05]])])
    np.testing.assert_array_equal(background.classes, [1, 0, 2, -1, -1])  # dataset numbering, padded past 3 classes
    np.testing.assert_allclose(background.scores, [0.15, 0.1, 0.05, 0, 0])
    assert decoder(count=4, background_offset=1).class_labels() == range(3)
    conv_head = ClassScoresDecoder(ClassScoresDecoder.Config(type="class_scores"))
    conv_head.bind([OutputInfo(0, frozenset({"x"}), (1, 1000, 1, 1))])
    assert conv_head.class_labels() == range(1000)
    with pytest.raises(UserInputError, match="decoder.output: class scores are one value per class"):
        ClassScoresDecoder(ClassScoresDecoder.Config(type="class_scores", output="map")).bind(
            [OutputInfo(0, frozenset({"map"}), (1, 3, 8, 8))])
    with pytest.raises(UserInputError, match="background_offset: 2 leaves no class of the 2"):
        ClassScoresDecoder(ClassScoresDecoder.Config(type="class_scores", background_offset=2)).bind(
            [OutputInfo(0, frozenset({"x"}), (1, 2))])


def test_accuracy_equals_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    classes, count = 12, 300
    truth = rng.integers(0, classes, count)
    scores = rng.normal(size=(count, classes)) + 2.5 * np.eye(classes)[truth] * rng.uniform(0, 1, (count, 1))
    labels = Labels({i + 1: int(t) for i, t in enumerate(truth)}, [f"c{k}" for k in range(classes)])
    result = Accuracy(Accuracy.Config(type="accuracy")).evaluate(labels, rows_of(scores), list(range(1, count + 1)),
                                                                   per_item=True)
    everything = list(range(classes))
    assert result.summary["top-1"] == pytest.approx(top_k_accuracy_score(truth, scores, k=1, labels=everything))
    assert result.summary["top-5"] == pytest.approx(top_k_accuracy_score(truth, scores, k=5, labels=everything))
    predicted = scores.argmax(1)
    assert result.summary["mean class accuracy"] == pytest.approx(balanced_accuracy_score(truth, predicted))
    per_class = recall_score(truth, predicted, average=None, labels=everything)
    assert [result.breakdown[f"c{k}"] for k in everything] == pytest.approx(per_class.tolist())
    probabilities = np.exp(scores) / np.exp(scores).sum(1, keepdims=True)
    p_true = probabilities[np.arange(count), truth]
    in_top5 = (np.argsort(-scores, 1)[:, :TOP_K] == truth[:, None]).any(1)
    best_other = np.where(np.eye(classes)[truth] > 0, -1, probabilities).max(1)
    expected = np.where(in_top5, p_true, 0.0) - best_other
    assert [result.per_item[i + 1] for i in range(count)] == pytest.approx(expected.tolist(), abs=1e-12)
    assert ((np.array(list(result.per_item.values())) > 0) == (predicted == truth)).all()


def test_margin_and_subsets_by_hand() -> None:
    rows = np.array([[1, 0, 1, 2, -1, -1, 0.6, 0.3, 0.1, 0, 0],    # right: 0.6 - 0.3
                     [2, 2, 0, 1, -1, -1, 0.5, 0.4, 0.1, 0, 0],    # truth 0: 0.4 - 0.5
                     [3, 1, 2, 0, -1, -1, 0.9, 0.05, 0.05, 0, 0]])  # truth 0, third: 0.05 - 0.9
    labels = Labels({1: 0, 2: 0, 3: 0}, ["a", "b", "c"])
    metric = Accuracy(Accuracy.Config(type="accuracy"))
    result = metric.evaluate(labels, rows, [1, 2, 3], per_item=True)
    assert result.per_item == pytest.approx({1: 0.3, 2: -0.1, 3: -0.85})
    assert result.summary == pytest.approx({"top-1": 1 / 3, "top-5": 1.0, "mean class accuracy": 1 / 3})
    assert result.breakdown == {"a": pytest.approx(1 / 3), "b": None, "c": None}
    assert metric.evaluate(labels, rows, [2]).summary["top-1"] == 0.0
    unlabelled = metric.evaluate(Labels({}, []), rows, [1, 2, 3])
    assert unlabelled.summary["top-1"] is None


def test_annotation_free_labels_and_changes(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        write_image(tmp_path / "images" / name)
    dataset = ImageLabels(ImageLabels.Config(type="image_labels", images=tmp_path / "images"))
    dataset.check_labels(range(3))
    task = TASKS.get("classification", "test")()
    fp32 = np.array([[1, 0, 1, 2, -1, -1, 0.8, 0.1, 0.1, 0, 0], [2, 1, 0, 2, -1, -1, 0.4, 0.35, 0.25, 0, 0],
                     [3, 2, 0, 1, -1, -1, 0.9, 0.05, 0.05, 0, 0]], float)
    truth = task.pseudo_ground_truth(dataset, fp32, {}, 0.5)
    assert truth == Labels({1: 0, 3: 2}, ["0", "1", "2"])  # image 2's FP32 top-1 is below the threshold
    int8 = fp32.copy()
    int8[0, [1, 2, 6, 7]] = [1, 0, 0.5, 0.45]
    int8[1, [1, 2]] = [0, 1]
    changes = task.changes(dataset, truth, fp32, int8)
    assert changes["total"] == 2
    assert changes["entries"][0] == {"sample": "a.jpg", "reference": "0", "FP32": "0 (0.80)", "INT8": "1 (0.50)"}
    assert changes["entries"][1]["reference"] == "—"
    assert "2 of 3 images change their top-1 class under INT8: 0 become right, 1 become wrong" in changes["note"]
    assert task.agreement(fp32, int8) == {"top-1 agreement": pytest.approx(1 / 3)}


def test_decoded_rows_keep_the_layout() -> None:
    dataset = ClassFolders.__new__(ClassFolders)
    row = dataset.rows(7, ClassScores(np.array([3, 1, -1, -1, -1.0]), np.array([0.7, 0.3, 0, 0, 0])),
                       Geometry.identity(1, 1))
    assert row.shape == (1, 1 + 2 * TOP_K) and row[0, 0] == 7 and row[0, 1] == 3 and row[0, 6] == 0.7
