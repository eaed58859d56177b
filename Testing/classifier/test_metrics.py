"""The classifier's validation figures: the shared slice metrics written in the model card's own key set."""

import math

import numpy as np
import pytest

from IExplainLib.classifier.metrics import card_slice_metrics, validation_metrics
from IExplainLib.slice_metrics import best_f1_threshold, slice_metrics

CARD_KEYS = ["auroc", "f1", "precision", "sensitivity", "tp", "fp", "fn", "threshold", "slices", "positive_slices"]


def test_card_keeps_the_key_set_and_order_cards_have_always_had():
    card = card_slice_metrics(slice_metrics([0.9, 0.6, 0.4, 0.7, 0.1], [1, 1, 1, 0, 0], 0.5))
    assert list(card) == CARD_KEYS  # existing cards and reports stay readable by the same keys
    assert (card["tp"], card["fp"], card["fn"]) == (2, 1, 1)
    assert card["precision"] == pytest.approx(2 / 3) and card["sensitivity"] == pytest.approx(2 / 3)
    assert card["f1"] == pytest.approx(2 / 3) and card["auroc"] == pytest.approx(4 / 6)
    assert card["slices"] == 5 and card["positive_slices"] == 3 and card["threshold"] == 0.5


def test_card_writes_undefined_auroc_as_nan_and_undefined_ratios_as_zero():
    card = card_slice_metrics(slice_metrics([0.1, 0.2], [0, 0], 0.5))
    assert math.isnan(card["auroc"])
    assert (card["f1"], card["precision"], card["sensitivity"]) == (0.0, 0.0, 0.0)


def test_validation_f1_is_the_f1_the_threshold_was_tuned_for_on_float32_scores():
    """Two adjacent float32 scores: the tuned cut is their exact midpoint, which rounds (half to even) to the lower,
    negative score in float32. Comparing in float32 called that negative positive (card F1 2/3 against a tuned 1.0);
    the shared metric compares in float64, the precision the cut was chosen in."""
    positive = np.float32(1 - 2.0 ** -24)
    negative = np.float32(1 - 2.0 ** -23)
    scores, labels = np.array([positive, negative], dtype=np.float32), np.array([1, 0], dtype=np.float32)
    threshold, tuned_f1 = best_f1_threshold(scores, labels)
    assert np.float32(threshold) == negative  # the case the test is about
    card = validation_metrics(scores, labels)
    assert card["f1"] == tuned_f1 == 1.0 and (card["tp"], card["fp"]) == (1, 0)
