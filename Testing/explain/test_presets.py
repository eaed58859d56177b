"""Attribution presets: chosen by the device unless named, stated in the progress output, recorded in the findings
JSON; precedence defaults -> card -> preset -> --params -> flags."""

from __future__ import annotations

import json

import pytest
import torch

from IExplainLib.cli.main import main
from IExplainLib.errors import InputError
from IExplainLib.explain.params import ExplainParams, params_for_model
from IExplainLib.explain.presets import PRESETS, choose_preset


def test_paper_preset_is_the_defaults_and_fast_is_the_demos():
    defaults = ExplainParams()
    assert PRESETS["paper"] == {"n_steps": defaults.n_steps, "references": defaults.references,
                                "smoothgrad_samples": defaults.smoothgrad_samples}
    assert PRESETS["paper"]["n_steps"] >= 20 and len(PRESETS["paper"]["references"]) == 5
    assert PRESETS["fast"] == {"n_steps": 8, "references": ["zero", "blur"], "smoothgrad_samples": 2}
    from IExplainLib.demo import DEMO_PRESET
    assert DEMO_PRESET == "fast"


def test_the_device_chooses_when_the_user_does_not():
    assert choose_preset(None, torch.device("cpu")).name == "fast"
    assert choose_preset(None, torch.device("cuda", 1)).name == "paper"
    assert choose_preset(None, torch.device("cpu")).chosen_by == "device cpu"
    chosen = choose_preset("paper", torch.device("cpu"))
    assert chosen.name == "paper" and chosen.chosen_by == "--preset"
    with pytest.raises(InputError, match="unknown preset"):
        choose_preset("turbo", "cpu")


def test_precedence_card_then_preset_then_params_file_then_flags(tmp_path):
    card = {"explain": {"high_threshold": 3.75, "n_steps": 12}}
    params = params_for_model(card, preset="fast")
    assert params.high_threshold == 3.75 and params.n_steps == 8 and params.references == ["zero", "blur"]
    params_file = tmp_path / "p.json"
    params_file.write_text(json.dumps({**ExplainParams().to_dict(), "n_steps": 30}))
    assert params_for_model(card, params_file, preset="fast").n_steps == 30
    assert params_for_model(card, params_file, {"n_steps": 4}, preset="fast").n_steps == 4


def _findings(tmp_path, ct_file, classifier_file, extra, capsys):
    out = tmp_path / f"r{len(list(tmp_path.iterdir()))}.seg.nrrd"
    code = main([str(a) for a in ["detect", ct_file, "-o", out, "--classifier", classifier_file,
                                  "--max-iterations", "1", "--device", "cpu", *extra]])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(out.with_name(out.name.replace(".seg.nrrd", ".findings.json")).read_text()), captured.err


@pytest.fixture(scope="module")
def ct_file(tiny_study, tmp_path_factory):
    from IExplainLib.io import write_volume

    return write_volume(tmp_path_factory.mktemp("ct") / "study.nrrd", tiny_study.volume)


def test_detect_states_and_records_the_preset(ct_file, classifier_file, tmp_path, capsys):
    document, stderr = _findings(tmp_path, ct_file, classifier_file, [], capsys)
    assert document["preset"] == {"name": "fast", "chosen_by": "device cpu", "settings": PRESETS["fast"],
                                  "overridden": []}
    assert {k: document["params"][k] for k in PRESETS["fast"]} == PRESETS["fast"]
    assert "attribution preset fast (8 IG steps x 2 references" in stderr and "--preset paper to change" in stderr

    document, stderr = _findings(tmp_path, ct_file, classifier_file, ["--preset", "paper", "--ig-steps", "2"], capsys)
    assert document["preset"]["name"] == "paper" and document["preset"]["chosen_by"] == "--preset"
    assert document["preset"]["overridden"] == ["n_steps"]  # an explicit flag still wins over the preset
    assert document["params"]["n_steps"] == 2 and len(document["params"]["references"]) == 5
    assert "overridden by --params/flags: n_steps" in stderr
