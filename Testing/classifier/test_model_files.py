"""Model files: a saved classifier loads back bit for bit; wrong architecture, truncation and pickles are refused."""

import json

import pytest
import torch

from IExplainLib.classifier import ClassifierSpec, build_classifier, load_classifier
from IExplainLib.errors import ModelFileError
from IExplainLib.modelfile import save_model


def _save(path, spec, model=None):
    model = model or build_classifier(spec)
    card = {"kind": "classifier", "architecture": spec.backbone, "spec": spec.to_dict()}
    save_model(path, model.state_dict(), card)
    return model


def test_round_trip_gives_the_same_outputs(tmp_path):
    spec = ClassifierSpec(input_size=32, threshold=0.37)
    model = _save(tmp_path / "m.safetensors", spec).eval()
    loaded = load_classifier(tmp_path / "m.safetensors")
    x = torch.rand(2, 7, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded.model(x))
    assert loaded.spec == spec and loaded.threshold == 0.37


def test_wrong_architecture_refused(tmp_path):
    spec = ClassifierSpec(input_size=32)
    _save(tmp_path / "m.safetensors", spec)
    card_path = tmp_path / "m.json"
    card = json.loads(card_path.read_text())
    card["spec"]["backbone"] = card["architecture"] = "tf_efficientnetv2_b0"
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelFileError, match="does not fit the architecture"):
        load_classifier(tmp_path / "m.safetensors")


def test_other_channel_count_refused(tmp_path):
    _save(tmp_path / "m.safetensors", ClassifierSpec(input_size=32))
    card = json.loads((tmp_path / "m.json").read_text())
    card["spec"]["hu_windows"] = [[100, 700], [40, 400]]
    (tmp_path / "m.json").write_text(json.dumps(card))
    with pytest.raises(ModelFileError):
        load_classifier(tmp_path / "m.safetensors")


def test_truncated_file_refused(tmp_path):
    _save(tmp_path / "m.safetensors", ClassifierSpec(input_size=32))
    weights = tmp_path / "m.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelFileError):
        load_classifier(weights)


def test_pickle_refused(tmp_path):
    spec = ClassifierSpec(input_size=32)
    _save(tmp_path / "m.safetensors", spec)
    torch.save(build_classifier(spec).state_dict(), tmp_path / "m.safetensors")  # a pickle under the right name
    with pytest.raises(ModelFileError, match="pickle"):
        load_classifier(tmp_path / "m.safetensors")


def test_segmenter_file_refused_as_classifier(tmp_path):
    spec = ClassifierSpec(input_size=32)
    save_model(tmp_path / "s.safetensors", build_classifier(spec).state_dict(),
               {"kind": "segmenter", "architecture": "DynUNet"})
    with pytest.raises(ModelFileError, match="segmenter"):
        load_classifier(tmp_path / "s.safetensors")
