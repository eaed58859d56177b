"""``iexplain train-reducer``: the model file and its card, the threshold chosen on tuning phantoms (cached with
their truth record), and one-line refusals."""

from __future__ import annotations

import json

import pytest

from IExplainLib.candidates.proposals import DEFAULT_RULE, SESSION17_RULE
from IExplainLib.candidates.training_data import STUDY_FEATURE_NAMES
from IExplainLib.cli.main import main

SMALL = ["--size", "128", "--slices", "32", "--epochs", "2", "--progress", "quiet"]


def test_the_card_records_supervision_threshold_and_tuning(tmp_path):
    out, cache = tmp_path / "r.safetensors", tmp_path / "cache"
    args = ["train-reducer", "--phantoms", "2", "--seed", "3000", "--tune-phantoms", "1", "--tune-seed", "8003",
            "-o", str(out), "--cache", str(cache), *SMALL]
    assert main(args) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    # the default is the shipped architecture, which reads the hand features and the rings around each candidate
    assert card["kind"] == "reducer" and card["reducer"]["architecture"] == "rings-mlp"
    assert card["reducer"]["features"] == list(STUDY_FEATURE_NAMES)
    assert card["training"]["supervision"] == "slice labels only (mil)"
    assert card["metrics"]["tuning"]["studies"] == 1 and card["threshold"] == card["metrics"]["tuning"]["threshold"]
    assert card["training"]["command"].startswith("iexplain train-reducer")
    assert card["training"]["config"]["bag_leak"] == 0.5  # the shipped reducer's leak is the default
    assert card["training"]["config"]["bag_sharpness"] == 0.5  # and its soft maximum over each bag (24e)
    assert card["candidates"]["rule"] == DEFAULT_RULE.as_dict()  # the detector finds candidates by this rule
    cached = sorted(p.name for p in cache.iterdir())
    assert "tune-phantom-8003-128-32.truth.json" in cached and "phantom-3000-128-32.npz" in cached
    assert json.loads((cache / "rule.json").read_text()) == {**DEFAULT_RULE.as_dict(),
                                                            "features": list(STUDY_FEATURE_NAMES)}
    # the same command again reads every study from the cache and writes the same card figures
    assert main(args + ["--overwrite"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["metrics"] == card["metrics"]


def test_a_cache_of_another_candidate_rule_is_refused_and_left_as_it_was(tmp_path, capsys):
    out, cache = tmp_path / "r.safetensors", tmp_path / "cache"
    cache.mkdir()
    (cache / "phantom-3000-128-32.npz").write_bytes(b"session-17 candidates")
    args = ["train-reducer", "--phantoms", "1", "-o", str(out), "--cache", str(cache), *SMALL]
    assert main(args) == 2
    assert "recorded no rule; give a new --cache folder" in capsys.readouterr().err
    (cache / "rule.json").write_text(json.dumps(SESSION17_RULE.as_dict()))
    assert main(args) == 2
    assert "holds candidates of another rule" in capsys.readouterr().err
    # the same rule without the ring columns (session 21's first caches): refused too, not read with missing columns
    (cache / "rule.json").write_text(json.dumps(DEFAULT_RULE.as_dict()))
    assert main(args) == 2
    assert "holds candidates of another rule" in capsys.readouterr().err
    assert (cache / "phantom-3000-128-32.npz").read_bytes() == b"session-17 candidates" and not out.exists()


def test_the_bag_leak_and_pooling_are_trained_with_and_recorded(tmp_path, capsys):
    out = tmp_path / "r.safetensors"
    assert main(["train-reducer", "--phantoms", "2", "--seed", "3000", "--bag-leak", "0.3", "--bag-sharpness", "max",
                 "-o", str(out), *SMALL]) == 0
    config = json.loads(out.with_suffix(".json").read_text())["training"]["config"]
    assert config["bag_leak"] == 0.3 and config["bag_sharpness"] is None  # 'max': the bag's best candidate
    with pytest.raises(SystemExit):
        main(["train-reducer", "--phantoms", "1", "--bag-sharpness", "0", "-o", str(tmp_path / "x.safetensors")])
    assert "--bag-sharpness: must be a positive number or 'max'" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--phantoms", "2", "--seed", "8000"], "below 8000"),
    (["--phantoms", "1", "--tune-phantoms", "1", "--tune-seed", "9000"], "within 8000-8999"),
    ([], "give either a DATASET or --phantoms N"),
    (["--phantoms", "1", "--threshold", "2"], "--threshold must be in [0, 1]"),
    (["--phantoms", "1", "--architecture", "transformer"], "unknown reducer architecture"),
    (["--phantoms", "1", "--bag-leak", "1"], "--bag-leak must be in [0, 1)"),
])
def test_bad_settings_are_refused_in_one_line(flags, message, tmp_path, capsys):
    out = tmp_path / "r.safetensors"
    assert main(["train-reducer", "-o", str(out), *SMALL, *flags]) == 2  # the last of a repeated flag wins
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_real_anatomy_ct_angiograms_train_and_tune_beside_phantoms(real_ct, tmp_path):
    out, cache = tmp_path / "r.safetensors", tmp_path / "cache"
    args = ["train-reducer", "--phantoms", "1", "--seed", "3000", "--real-anatomy", "1", "--real-anatomy-slices", "16",
            "--tune-real-anatomy", "1", "--real-ct", str(real_ct), "-o", str(out), "--cache", str(cache), *SMALL]
    assert main(args) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["data"]["real_anatomy"]["seeds"] == [5000, 5000]
    assert card["training"]["data"]["tuning_real_anatomy"]["seeds"] == [8100, 8100]
    assert card["metrics"]["tuning"]["studies"] == 1  # the real-anatomy tuning study chose the threshold
    cached = sorted(p.name for p in cache.iterdir())
    assert {"phantom-3000-128-32.npz", "real-anatomy-5000-16.npz", "tune-real-anatomy-8100-16.npz",
            "tune-real-anatomy-8100-16.truth.json"} <= set(cached)


def test_real_anatomy_without_the_real_ct_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "r.safetensors"
    assert main(["train-reducer", "--real-anatomy", "1", "--real-ct", str(tmp_path / "absent"), "-o", str(out),
                 *SMALL]) == 2
    assert "real-anatomy studies need the real chest CT" in capsys.readouterr().err
    assert not out.exists()
