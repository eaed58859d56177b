import json

import pytest
import torch

from IExplainLib.errors import ModelFileError
from IExplainLib.modelfile import load_model_file, load_state_into, read_card, save_model


def small_net():
    return torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.ReLU(), torch.nn.Conv2d(3, 1, 1))


def test_round_trip_with_card(tmp_path):
    net = small_net()
    path = save_model(tmp_path / "m.safetensors", net.state_dict(),
                      {"kind": "classifier", "architecture": {"name": "test"}, "metrics": {"auroc": 0.9}})
    state, card = load_model_file(path, expected_kind="classifier")
    other = small_net()
    load_state_into(other, state, path)
    for a, b in zip(net.parameters(), other.parameters()):
        assert torch.equal(a, b)
    assert card["metrics"]["auroc"] == 0.9 and len(card["sha256"]) == 64
    assert read_card(tmp_path / "m.json")["kind"] == "classifier"


def test_refuses_pickle_truncated_wrong_kind_and_wrong_architecture(tmp_path):
    net = small_net()
    path = save_model(tmp_path / "m.safetensors", net.state_dict(), {"kind": "classifier", "architecture": {}})
    with pytest.raises(ModelFileError, match="segmenter is needed"):
        load_model_file(path, expected_kind="segmenter")
    with pytest.raises(ModelFileError, match="does not fit the architecture"):
        load_state_into(torch.nn.Linear(2, 2), load_model_file(path)[0], path)

    pickled = tmp_path / "p.safetensors"
    torch.save(net.state_dict(), pickled)
    (tmp_path / "p.json").write_text((tmp_path / "m.json").read_text())
    with pytest.raises(ModelFileError, match="pickle"):
        load_model_file(pickled)

    truncated = tmp_path / "t.safetensors"
    truncated.write_bytes(path.read_bytes()[:-40])
    card = json.loads((tmp_path / "m.json").read_text())
    card.pop("sha256")
    (tmp_path / "t.json").write_text(json.dumps(card))
    with pytest.raises(ModelFileError, match="safetensors"):
        load_model_file(truncated)


def test_checksum_mismatch_and_missing_card(tmp_path):
    path = save_model(tmp_path / "m", small_net().state_dict(), {"kind": "segmenter", "architecture": {}})
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        load_model_file(path)
    (tmp_path / "m.json").unlink()
    with pytest.raises(ModelFileError, match="card"):
        load_model_file(path)
