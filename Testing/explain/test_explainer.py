"""``IExplainer``: the classifier prepared once, ``explain`` = ``run`` plus findings, parameters swapped without a
second preparation, and the refusals of its constructor."""

from __future__ import annotations

import numpy as np
import pytest

from IExplainLib.errors import InputError
from IExplainLib.explain import ExplainParams, IExplainer

FAST = {"n_steps": 2, "references": ["zero"], "smoothgrad_samples": 1, "max_iterations": 2, "high_threshold": 3.0}


@pytest.fixture(scope="module")
def explainer(classifier_file):
    return IExplainer(classifier_file, device="cpu", overrides=FAST)


def test_explain_is_run_on_the_ct_grid_with_a_findings_row_per_cluster(explainer, tiny_study):
    from IExplainLib.findings import label_findings

    volume = tiny_study.volume
    detection = explainer.explain(volume)
    _, segmentation = explainer.run(volume)
    assert detection.method == "iexplain" and detection.labelmap.same_grid(volume) and detection.heat.same_grid(volume)
    assert np.array_equal(detection.labelmap.array, segmentation.labelmap)  # deterministic: seeded references
    assert detection.iterations == int(segmentation.labelmap.max()) >= 1
    assert len(detection.findings) == label_findings(segmentation.labelmap > 0)[1]
    assert detection.summary["voxels"] == int((segmentation.labelmap > 0).sum())
    assert [s.name for s in detection.segments()] == [f"PE iteration {k}" for k in range(1, detection.iterations + 1)]


def test_parameters_come_from_the_card_then_the_overrides(explainer, classifier_file):
    assert explainer.params.n_steps == 2 and explainer.params.references == ["zero"]
    assert IExplainer(classifier_file, device="cpu").params.n_steps == ExplainParams().n_steps
    assert explainer.threshold == 0.0  # the card's; an override wins
    assert explainer.with_params(explainer.params.replace(classifier_threshold=0.4)).threshold == 0.4


def test_with_params_shares_the_prepared_model_and_changes_the_result(explainer, tiny_study):
    stricter = explainer.with_params(explainer.params.replace(max_iterations=1))
    assert stricter.model is explainer.model and stricter.params.max_iterations == 1
    assert explainer.params.max_iterations == 2  # the original is untouched
    assert stricter.explain(tiny_study.volume).iterations == 1


def test_parameters_whole_or_as_file_and_overrides_not_both(classifier_file):
    with pytest.raises(InputError, match="either whole"):
        IExplainer(classifier_file, ExplainParams(), device="cpu", overrides={"n_steps": 2})


def test_a_missing_or_wrong_model_file_is_refused_in_one_line(tmp_path, explainer):
    from IExplainLib.errors import IExplainError
    from IExplainLib.modelfile import save_model

    with pytest.raises(IExplainError, match="not found|No such|missing"):
        IExplainer(tmp_path / "absent.safetensors", device="cpu")
    wrong = tmp_path / "segmenter.safetensors"
    save_model(wrong, {"w": __import__("torch").zeros(1)}, {"kind": "segmenter", "architecture": "DynUNet"})
    with pytest.raises(IExplainError, match="classifier"):
        IExplainer(wrong, device="cpu")
