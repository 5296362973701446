"""Salient-object pieces: MAE, max F-measure and IoU@0.5 against PySODMetrics (the DUTS / ECSSD reference
code) and by hand, the foreground-map decoder's layouts and options, and the mask folder's refusals."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from py_sod_metrics import MAE, Fmeasure

from quantflow.core.decoder import OutputInfo
from quantflow.core.errors import UserInputError
from quantflow.preprocessing import Geometry
from quantflow.tasks.saliency.foreground_map import ForegroundMapDecoder
from quantflow.tasks.saliency.saliency_metric import SaliencyMetric, saliency_row
from quantflow.tasks.saliency.salient_masks import SalientMasks


def metric() -> SaliencyMetric:
    return SaliencyMetric(SaliencyMetric.Config(type="saliency"))


@pytest.mark.filterwarnings("ignore:This class will be removed")
def test_mae_and_max_f_equal_pysodmetrics() -> None:
    rng = np.random.default_rng(11)
    masks, predictions = [], []
    for index in range(8):
        mask = np.zeros((40, 50), np.uint8)
        if index != 3:  # image 3 has no foreground at all
            cv2.circle(mask, (int(rng.integers(10, 40)), int(rng.integers(10, 30))), int(rng.integers(5, 12)), 255, -1)
        mask = cv2.GaussianBlur(mask, (5, 5), 1.5)  # grey edges, as DUTS masks have
        noisy = np.clip(mask / 255 + rng.normal(0, 0.25, mask.shape), 0, 1)
        masks.append(mask)
        predictions.append(noisy)
    rows = np.concatenate([saliency_row(i + 1, p, m >= 128) for i, (p, m) in enumerate(zip(predictions, masks))])
    result = metric().evaluate(None, rows, list(range(1, 9)), per_item=True)
    mae, fmeasure = MAE(), Fmeasure(beta=0.3)
    for p, m in zip(predictions, masks):
        mae.step(p, m >= 128, normalize=False)
        fmeasure.step(p, m >= 128, normalize=False)
    assert result.summary["MAE"] == pytest.approx(mae.get_results()["mae"], rel=1e-12)
    assert result.summary["max F"] == pytest.approx(fmeasure.get_results()["fm"]["curve"].max(), rel=1e-12)
    ious = []
    for p, m in zip(predictions, masks):
        union = ((p >= 0.5) | (m >= 128)).sum()
        ious.append(((p >= 0.5) & (m >= 128)).sum() / union if union else 1.0)
    assert result.summary["IoU@0.5"] == pytest.approx(np.mean(ious), rel=1e-12)
    assert result.per_item[2] == pytest.approx(-np.abs(predictions[1] - (masks[1] >= 128)).mean())
    assert not result.higher_is_better and result.main == "MAE"


def test_metric_worked_out_by_hand() -> None:
    truth = np.array([[True, True, False, False]])
    predicted = np.array([[1.0, 0.4, 0.6, 0.0]])
    row = saliency_row(1, predicted, truth)
    result = metric().evaluate(None, row, [1])
    assert result.summary["MAE"] == pytest.approx((0 + 0.6 + 0.6 + 0) / 4)
    assert result.summary["IoU@0.5"] == pytest.approx(1 / 3)  # {0} ∩ vs {0, 1, 2}
    # At levels ⌊255 p⌋ = 255, 102, 153, 0: threshold 255 keeps pixel 0 alone: P = 1, R = 0.5, F = 1.3·0.5/(0.3+0.5)
    assert result.summary["max F"] == pytest.approx(1.3 * 0.5 / 0.8)


def decoder(shape: tuple[int, ...], **config) -> ForegroundMapDecoder:
    d = ForegroundMapDecoder(ForegroundMapDecoder.Config(type="foreground_map", **config))
    d.bind([OutputInfo(i, frozenset({f"d{i}"}), shape) for i in range(7)])
    return d


def test_decoder_picks_the_named_side_output_and_rescales() -> None:
    chosen = decoder((1, 1, 4, 4), output="d0")
    outputs = [np.full((1, 1, 4, 4), i / 10, np.float32) for i in range(7)]
    assert chosen.index == 0 and np.allclose(chosen.decode(outputs).values, 0.0)
    logits = decoder((1, 4, 4, 1), output="d2", scores="logits").decode(
        [np.zeros((1, 4, 4, 1), np.float32)] * 7)
    assert logits.values.shape == (4, 4) and np.allclose(logits.values, 0.5)
    ramp = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4) * 0.01 + 0.2
    rescaled = decoder((1, 1, 4, 4), output="d1", normalize="min_max").decode([ramp] * 7).values
    assert rescaled.min() == 0 and rescaled.max() == pytest.approx(1.0)
    with pytest.raises(UserInputError, match="several outputs for the foreground map"):
        decoder((1, 1, 4, 4))
    with pytest.raises(UserInputError, match="a foreground map has one channel"):
        d = ForegroundMapDecoder(ForegroundMapDecoder.Config(type="foreground_map"))
        d.bind([OutputInfo(0, frozenset({"x"}), (1, 3, 4, 4))])
    mapped = decoder((1, 1, 4, 4), output="d0").decode([np.ones((1, 1, 4, 4), np.float32)] * 7).to_original(
        Geometry((6, 10), (4, 4), (4 / 6, 0.4), (0.0, 0.0)))
    assert mapped.shape == (6, 10) and np.allclose(mapped, 1.0)


def test_mask_folder_refusals(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for stem in ("a", "b"):
        cv2.imwrite(str(tmp_path / "images" / f"{stem}.jpg"), np.zeros((6, 8, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "masks" / "a.png"), np.full((6, 8), 200, np.uint8))

    def make() -> SalientMasks:
        return SalientMasks(SalientMasks.Config(type="salient_masks", images=tmp_path / "images",
                                                masks=tmp_path / "masks"))

    with pytest.raises(UserInputError, match="dataset.masks: no mask b.png for image b.jpg"):
        make()
    cv2.imwrite(str(tmp_path / "masks" / "b.png"), np.zeros((8, 6), np.uint8))
    dataset = make()
    assert dataset.truth(1, (6, 8)).all()
    with pytest.raises(UserInputError, match="dataset.masks: b.png is 6x8 .* its image is 8x6"):
        dataset.check_sample(2)
