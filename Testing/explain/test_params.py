"""ExplainParams: paper defaults, JSON round trip, one-line refusals."""

from __future__ import annotations

import json

import pytest

from IExplainLib.errors import InputError
from IExplainLib.explain.params import ExplainParams


def test_paper_defaults_and_json_round_trip(tmp_path):
    params = ExplainParams()
    assert (params.low_ratio, params.neighbourhood, params.min_new_voxels, params.max_iterations) == \
        (0.5, (15, 15, 5), 50, 10)
    assert (params.window_sigma, params.min_cluster_voxels, params.max_center_distance_px) == (0.8, 100, 160.0)
    assert len(params.references) == 5 and params.quadrature == "gausslegendre"
    path = tmp_path / "params.json"
    path.write_text(params.replace(high_threshold=4.5, references=["zero"]).to_json())
    loaded = ExplainParams.from_json_file(path)
    assert loaded.high_threshold == 4.5 and loaded.references == ["zero"] and loaded.low_threshold == 2.25


@pytest.mark.parametrize("change, words", [
    ({"quadrature": "simpson"}, "quadrature"),
    ({"references": ["zero", "photo"]}, "unknown references"),
    ({"n_steps": 1, "quadrature": "riemann_trapezoid"}, "n_steps"),
    ({"low_ratio": 1.5}, "low_ratio"),
    ({"typo_field": 3}, "unknown explain parameters"),
])
def test_bad_parameters_are_refused_with_one_line(change, words):
    with pytest.raises(InputError, match=words) as caught:
        ExplainParams.from_dict({**ExplainParams().to_dict(), **change})
    assert "\n" not in str(caught.value)


def test_bad_json_file_is_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        ExplainParams.from_json_file(path)
    with pytest.raises(InputError, match="not found"):
        ExplainParams.from_json_file(tmp_path / "missing.json")
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(InputError, match="JSON object"):
        ExplainParams.from_json_file(path)


def test_model_card_threshold_applies_unless_overridden(tmp_path):
    import json

    from IExplainLib.explain.params import ExplainParams, params_for_model

    card = {"explain": {"high_threshold": 3.5, "not_a_parameter": 1}}
    assert params_for_model(card).high_threshold == 3.5
    assert params_for_model(card, overrides={"high_threshold": 7.0, "n_steps": None}).high_threshold == 7.0
    path = tmp_path / "params.json"
    path.write_text(json.dumps(ExplainParams(high_threshold=9.0).to_dict()))
    assert params_for_model(card, path).high_threshold == 9.0
    assert params_for_model(None).high_threshold == ExplainParams().high_threshold
