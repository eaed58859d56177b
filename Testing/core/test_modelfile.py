import json
from pathlib import Path

import numpy as np
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


# --- model cards are validated as a whole when read -----------------------------------------------------------------

BUNDLED = sorted((Path(__file__).resolve().parents[2] / "Resources" / "Models").glob("*.json"))


def _card_with(tmp_path, kind="classifier", **sections):
    """A real model file whose card carries ``sections`` (None removes one); returns the weights path."""
    path = save_model(tmp_path / "m.safetensors", small_net().state_dict(), {"kind": kind, "architecture": "test"})
    card_path = tmp_path / "m.json"
    card = json.loads(card_path.read_text())
    for name, value in sections.items():
        if value is None:
            card.pop(name, None)
        else:
            card[name] = value
    card_path.write_text(json.dumps(card))
    return path


@pytest.mark.parametrize("card", BUNDLED, ids=lambda path: path.name)
def test_every_bundled_card_still_loads(card):
    assert BUNDLED, "no bundled model cards found"
    loaded = read_card(card)
    assert loaded["kind"] in ("classifier", "segmenter", "reducer")
    assert isinstance(loaded["explain" if loaded["kind"] != "reducer" else "reducer"], dict)


@pytest.mark.parametrize("kind,sections,field", [
    ("classifier", {"explain": [1, 2]}, "'explain' must be a JSON object, found [1, 2]"),
    ("classifier", {"explain": {"max_iterations": "2"}}, "'explain.max_iterations' must be an integer"),
    ("classifier", {"explain": {"defect_check": 1}}, "'explain.defect_check' must be true or false"),
    ("classifier", {"explain": {"high_treshold": 3.0}}, "'explain.high_treshold' is unknown (did you mean"),
    ("classifier", {"explain": {"high_threshold": -1}}, "section 'explain' is invalid: explain parameters: "
                                                        "high_threshold must be > 0"),
    ("classifier", {"explain": {"neighbourhood": [15, 15]}}, "'explain.neighbourhood' must be a list of 3 integers"),
    ("classifier", {"spec": {"slices": 6}}, "section 'spec' is invalid: slices must be an odd number"),
    ("classifier", {"spec": {"input_size": True}}, "'spec.input_size' must be an integer, found true"),
    ("classifier", {"spec": {"hu_windows": [[100, 700, 3]]}}, "'spec.hu_windows' must be a list of lists of 2"),
    ("classifier", {"spec": {"threshold": 0.3}, "threshold": 0.5}, "'threshold' differs from 'spec.threshold'"),
    ("classifier", {"threshold": 1.5}, "'threshold' must be a number in [0, 1], found 1.5"),
    ("classifier", {"hu_windows": [[100, -5]]}, "'hu_windows' must be a list of [centre, width > 0]"),
    ("classifier", {"metrics": "good"}, "'metrics' must be a JSON object"),
    ("classifier", {"training": None, "sha256": "abc"}, "'sha256' must be 64 lower-case hexadecimal digits"),
    ("classifier", {"size_bytes": -1}, "'size_bytes' must be an integer >= 0"),
    ("classifier", {"format_version": 99}, "'format_version' is newer than this IExplain reads"),
    ("classifier", {"name": 7}, "'name' must be a string"),
    ("classifier", {"architecture": 3}, "'architecture' must be a string or a JSON object"),
    ("segmenter", {"spec": {"patch_size": [32, 48]}}, "'spec.patch_size' must be a list of 3 integers"),
    ("segmenter", {"spec": {"axes": "xyz"}}, "'spec.axes' must be \"zyx\""),
    ("segmenter", {"spec": {"filters": [4]}}, "section 'spec' is invalid: a DynUNet needs at least 2"),
])
def test_a_wrong_card_field_is_refused_in_one_line_naming_it(tmp_path, kind, sections, field):
    path = _card_with(tmp_path, kind, **sections)
    for load in (read_card, load_model_file):
        with pytest.raises(ModelFileError) as refused:
            load(path)
        message = str(refused.value)
        assert field in message and "\n" not in message and message.startswith(str(tmp_path / "m.json"))


def test_unknown_sections_are_kept_and_known_ones_still_read(tmp_path):
    candidates = {"detector": "blob", "sizes_mm": [3, 6], "nested": {"anything": None}}
    path = _card_with(tmp_path, candidates=candidates, explain={"high_threshold": 4.0, "classifier_threshold": None})
    card = read_card(path)
    assert card["candidates"] == candidates and card["explain"]["high_threshold"] == 4.0


def test_detect_refuses_a_malformed_explain_section_instead_of_running_with_defaults(tmp_path, capsys):
    import SimpleITK as sitk

    from IExplainLib.cli.main import main

    ct = tmp_path / "ct.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.full((8, 16, 16), -1000, np.int16)), str(ct))
    classifier = _card_with(tmp_path, explain=[1, 2])
    output = tmp_path / "pe.seg.nrrd"
    assert main(["detect", str(ct), "-o", str(output), "--classifier", str(classifier)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "model card field 'explain' must be a JSON object" in error
    assert not output.exists()


def test_detect_with_a_real_classifier_refuses_its_malformed_explain_section(tmp_path, capsys):
    """Issue 26, as reported: with ``"explain": [1, 2]`` in a real classifier's card, ``detect`` exited 0 after running
    with the paper defaults instead of the card's tuned settings. With a model that runs, the old code succeeds here,
    so this fails on it for the reported reason (not only for a different message)."""
    from IExplainLib.cli.main import main
    from IExplainLib.io import write_volume
    from IExplainLib.phantoms import make_study
    from Testing.evaluation.tiny_model import save_tiny_classifier

    classifier = save_tiny_classifier(tmp_path)
    card_path = classifier.with_suffix(".json")
    card = json.loads(card_path.read_text())
    card["explain"] = [1, 2]
    card_path.write_text(json.dumps(card))
    ct = write_volume(tmp_path / "ct.nrrd", make_study(8003, slices=8, size=64).volume)  # a CT angiogram phantom
    output = tmp_path / "pe.seg.nrrd"
    code = main(["detect", str(ct), "-o", str(output), "--classifier", str(classifier), "--device", "cpu",
                 "--ig-steps", "2", "--references", "zero", "--smoothgrad-samples", "1", "--max-iterations", "1",
                 "--no-filter"])
    error = capsys.readouterr().err
    assert code == 2 and not output.exists(), "it ran with the paper defaults"
    assert error.count("\n") == 1 and "model card field 'explain' must be a JSON object, found [1, 2]" in error
