"""Training end to end on tiny tube studies: the loss falls, the model file is valid, runs resume, outputs are kept."""

import io
import json
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from IExplainLib.classifier import ClassifierSpec, load_classifier, predict_slices, train_classifier
from IExplainLib.cli.main import main as cli_main
from IExplainLib.errors import InputError, OutputExistsError
from IExplainLib.modelfile import read_card
from IExplainLib.progress import Progress

FAST = dict(epochs=3, batch_size=8, lr=3e-3, warmup=2, device="cpu", samples_per_epoch=64)


def test_training_lowers_the_loss_and_writes_a_valid_model(tube_dataset, tmp_path, tiny_spec):
    out = tmp_path / "clf.safetensors"
    result = train_classifier(tube_dataset, out, tiny_spec, augment=False, seed=1, **FAST)
    losses = [h["train_loss"] for h in result["history"]]
    assert len(losses) == 3 and losses[-1] < 0.8 * losses[0]
    card = read_card(out)
    assert card["kind"] == "classifier" and card["architecture"] == tiny_spec.backbone
    assert card["spec"]["input_size"] == 32 and card["hu_windows"] == [[100.0, 700.0]]
    assert card["training"]["train_studies"] + card["training"]["validation_studies"] == 6
    assert card["metrics"]["validation"]["slices"] > 0
    assert card["threshold"] == card["spec"]["threshold"] == result["metrics"]["threshold"]
    loaded = load_classifier(out)
    assert not loaded.model.training and loaded.spec.threshold == card["threshold"]
    from IExplainLib.io import read_volume
    scores = predict_slices(loaded.model, read_volume(tube_dataset / "images" / "case-000.nii.gz"), loaded.spec)
    assert scores.shape == (12,)


def test_killed_run_resumes_from_last_checkpoint_and_continues_the_step_count(tube_dataset, tmp_path, tiny_spec):
    out = tmp_path / "clf.safetensors"
    checkpoint = tmp_path / "clf.checkpoint.pt"
    # "killed" at step 11: the last checkpoint is the one of step 10 (every 5 steps; 8 steps per epoch)
    stopped = train_classifier(tube_dataset, out, tiny_spec, checkpoint_every=5, stop_after_steps=11, **FAST)
    assert stopped["stopped"] and stopped["step"] == 11 and not out.exists()
    # the same call again resumes, even with another checkpoint interval (it does not change what is trained)
    resumed = train_classifier(tube_dataset, out, tiny_spec, stop_after_steps=13, **FAST)
    assert resumed["step"] == 13 and [h["step"] for h in resumed["history"]] == [8]
    finished = train_classifier(tube_dataset, out, tiny_spec, checkpoint_every=3, **FAST)
    assert finished["step"] == 24 and [h["step"] for h in finished["history"]] == [8, 16, 24]
    assert read_card(out)["training"]["steps"] == 24
    assert not checkpoint.exists()  # removed once the model is written: nothing is left to resume


def test_checkpoint_of_other_settings_is_refused_unless_restart(tube_dataset, tmp_path, tiny_spec):
    out = tmp_path / "clf.safetensors"
    train_classifier(tube_dataset, out, tiny_spec, stop_after_steps=9, **FAST)
    before = (tmp_path / "clf.checkpoint.pt").read_bytes()
    with pytest.raises(OutputExistsError, match=r"other settings \(config.epochs, config.lr\).*--restart"):
        train_classifier(tube_dataset, out, tiny_spec, **{**FAST, "epochs": 2, "lr": 1e-3})
    with pytest.raises(OutputExistsError, match=r"other settings \(spec.input_size\)"):
        train_classifier(tube_dataset, out, replace(tiny_spec, input_size=24), **FAST)
    assert (tmp_path / "clf.checkpoint.pt").read_bytes() == before  # refused runs leave the checkpoint as it was
    restarted = train_classifier(tube_dataset, out, tiny_spec, restart=True, **{**FAST, "epochs": 1})
    assert restarted["step"] == 8 and [h["step"] for h in restarted["history"]] == [8]


def test_resumed_run_matches_an_uninterrupted_one(tube_dataset, tmp_path, tiny_spec):
    whole = train_classifier(tube_dataset, tmp_path / "a.safetensors", tiny_spec, seed=2, **{**FAST, "epochs": 2})
    # killed one step after the epoch-1 checkpoint: resuming continues from step 8 with the same RNG and samples
    train_classifier(tube_dataset, tmp_path / "b.safetensors", tiny_spec, seed=2, stop_after_steps=9,
                     **{**FAST, "epochs": 2})
    resumed = train_classifier(tube_dataset, tmp_path / "b.safetensors", tiny_spec, seed=2, **{**FAST, "epochs": 2})
    assert resumed["history"][0]["train_loss"] == whole["history"][0]["train_loss"]
    assert np.isclose(whole["history"][-1]["train_loss"], resumed["history"][-1]["train_loss"], rtol=1e-4)


def test_cli_trains_and_refuses_to_overwrite(tube_dataset, tmp_path, capsys, monkeypatch):
    out = tmp_path / "cli.safetensors"
    args = ["train-classifier", str(tube_dataset), "--out", str(out), "--input-size", "32", "--epochs", "1",
            "--batch-size", "8", "--samples-per-epoch", "16", "--warmup", "1", "--device", "cpu",
            "--progress", "json", "--window", "100,700", "--window", "40,400"]
    monkeypatch.setattr(sys, "argv", ["iexplain"] + args)  # as the console script sees it
    assert cli_main(args) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert events[-1]["stage"] == "done" and any(e["stage"] == "train" for e in events)
    card = read_card(out)
    assert card["spec"]["hu_windows"] == [[100.0, 700.0], [40.0, 400.0]]
    recorded = card["training"]["command"]
    assert recorded.startswith(f"iexplain train-classifier {tube_dataset} ")  # the positional dataset first
    assert "--window 100,700 --window 40,400" in recorded and "--epochs 1" in recorded and "--lr 0.001" in recorded
    assert cli_main(args) == 2
    assert "exists" in capsys.readouterr().err
    assert cli_main(args[:-4] + ["--window", "100"]) == 2


def test_cli_rejects_missing_dataset(tmp_path, capsys):
    assert cli_main(["train-classifier", str(tmp_path / "nope"), "--out", str(tmp_path / "m")]) == 2
    assert "not found" in capsys.readouterr().err


def test_warm_start_begins_from_the_given_model_and_keeps_its_spec(tube_dataset, tmp_path, tiny_spec):
    from safetensors.torch import load_file

    first = tmp_path / "first.safetensors"
    train_classifier(tube_dataset, first, tiny_spec, seed=1, **FAST)
    second = tmp_path / "second.safetensors"
    # a vanishing learning rate: the weights stay at the start, which must be the first model's, not a new network's
    train_classifier(tube_dataset, second, None, init=first, seed=3, augment=False,
                     **{**FAST, "epochs": 1, "lr": 1e-12, "warmup": 0})
    before, after = load_file(first), load_file(second)
    weights = [k for k in before if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert all(np.allclose(before[k].numpy(), after[k].numpy(), atol=1e-6) for k in weights)
    card = read_card(second)
    assert card["training"]["initial_weights"] == str(first) and card["spec"]["input_size"] == 32
    # the lineage: the commands that made the first model, then this run's
    assert card["training"]["commands"][:-1] == read_card(first)["training"]["commands"]
    # a continued run draws its own slices: the first run's stream is 0, the continuation's 1 (same seed or not)
    assert read_card(first)["training"]["draw_phase"] == 0 and card["training"]["draw_phase"] == 1
    # input size, field of view and region may change (Testing/classifier/test_region.py); the slice count may not
    with pytest.raises(InputError, match="spec differs"):
        train_classifier(tube_dataset, tmp_path / "third.safetensors", ClassifierSpec(input_size=32, slices=5),
                         init=first, **FAST)


def test_a_warm_start_may_add_a_hu_window_and_starts_as_the_initial_model(tube_dataset, tmp_path, tiny_spec,
                                                                           make_tube_study):
    from dataclasses import replace

    from safetensors.torch import load_file

    from IExplainLib.classifier import build_classifier
    from IExplainLib.classifier.warm_start import initial_weights as _initial_weights

    first = tmp_path / "first.safetensors"
    train_classifier(tube_dataset, first, tiny_spec, seed=1, **FAST)
    two = replace(tiny_spec, hu_windows=[(100.0, 700.0), (500.0, 1000.0)])
    # the widened start computes what the initial model did, slice for slice (the added weights are zero)
    state, spec, _ = _initial_weights(first, two)
    widened = build_classifier(spec)
    widened.load_state_dict(state)
    one = load_classifier(first)
    volume, _ = make_tube_study(101)
    assert np.allclose(predict_slices(one.model, volume, one.spec), predict_slices(widened.eval(), volume, spec),
                       atol=1e-5)
    # and a run from it trains every input: the card has both windows, the stem takes both
    second = tmp_path / "second.safetensors"
    train_classifier(tube_dataset, second, two, init=first, seed=3, augment=False, **{**FAST, "epochs": 1})
    assert read_card(second)["hu_windows"] == [[100.0, 700.0], [500.0, 1000.0]]
    stem = load_file(second)["conv_stem.weight"]
    assert stem.shape[1] == 14 and stem[:, 7:].abs().sum() > 0
    # windows may be added after the model's own, not replace or reorder them
    with pytest.raises(InputError, match="windows may only be added"):
        train_classifier(tube_dataset, tmp_path / "third.safetensors",
                         replace(tiny_spec, hu_windows=[(500.0, 1000.0), (100.0, 700.0)]), init=first, **FAST)


def test_a_rerun_removes_what_a_killed_run_left_and_says_so(tube_dataset, tmp_path, tiny_spec):
    out = tmp_path / "clf.safetensors"
    (tmp_path / "clf.cache").mkdir()
    leftovers = [tmp_path / ".partial-0123abcd-clf.checkpoint.pt", tmp_path / "clf.cache" / ".partial-89abcdef-s.npy"]
    theirs = tmp_path / ".partial-0123abcd-other.safetensors"
    for path in (*leftovers, theirs):
        path.write_bytes(b"half a file")
    stream = io.StringIO()
    train_classifier(tube_dataset, out, tiny_spec, progress=Progress("json", stream=stream), **{**FAST, "epochs": 1})
    assert not any(path.exists() for path in leftovers) and theirs.exists() and out.exists()
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert sum(e.get("removed", 0) for e in events if e["stage"] == "resume") == 2
    assert not list((tmp_path / "clf.cache").glob(".partial-*"))  # the cache's own writes are atomic too


def test_cli_cpu_budget_ends_the_run_on_process_cpu_time(tube_dataset, tmp_path):
    out = tmp_path / "budget.safetensors"
    started = time.process_time()
    assert cli_main(["train-classifier", str(tube_dataset), "--out", str(out), "--input-size", "32", "--epochs",
                     "10000", "--batch-size", "4", "--samples-per-epoch", "16", "--warmup", "1", "--device", "cpu",
                     "--progress", "quiet", "--cpu-budget", "3"]) == 0
    assert time.process_time() - started < 3.0 + 15.0
    limit = read_card(out)["training"]["time_limit"]
    assert limit["stopped_by_deadline"] and limit["steps"] < limit["planned_steps"] == 10000 * 4


@pytest.mark.parametrize("value", ["0", "-1"])
def test_cli_refuses_a_budget_that_is_not_positive(tube_dataset, tmp_path, capsys, value):
    assert cli_main(["train-classifier", str(tube_dataset), "--out", str(tmp_path / "m.safetensors"),
                     "--cpu-budget", value]) == 2
    assert "--cpu-budget" in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()


def test_cli_cutout_chance_reaches_the_augmentation_and_is_checked(tube_dataset, tmp_path, capsys, monkeypatch):
    from argparse import Namespace

    from IExplainLib.cli.commands_classifier import _augment_from

    spec = ClassifierSpec(input_size=32, hu_windows=[(100.0, 700.0), (40.0, 400.0)])
    augment = _augment_from(Namespace(no_augment=False, cutout=0.0), spec)
    assert augment.cutout.p == 0.0 and augment.windows == 2 and augment.slices == spec.slices
    batch = torch.rand(4, 14, 32, 32)
    assert torch.equal(augment.cutout(batch), batch)  # no box at chance 0
    assert _augment_from(Namespace(no_augment=False, cutout=None), spec) is None  # the default recipe
    assert cli_main(["train-classifier", str(tube_dataset), "--out", str(tmp_path / "m.safetensors"),
                     "--cutout", "1.5"]) == 2
    assert "--cutout" in capsys.readouterr().err
    # a continued run (its spec comes from the --init model) takes --cutout too
    small = ["--epochs", "1", "--batch-size", "4", "--samples-per-epoch", "8", "--warmup", "1", "--device", "cpu",
             "--progress", "quiet"]
    first, second = tmp_path / "first.safetensors", tmp_path / "second.safetensors"
    assert cli_main(["train-classifier", str(tube_dataset), "--out", str(first), "--input-size", "32", *small]) == 0
    continued = ["train-classifier", str(tube_dataset), "--out", str(second), "--init", str(first), "--cutout", "0",
                 *small]
    monkeypatch.setattr(sys, "argv", ["iexplain"] + continued)  # the card records the command line
    assert cli_main(continued) == 0
    assert "--cutout 0" in read_card(second)["training"]["command"]


def test_a_continued_phase_draws_other_slices_than_its_parent_with_the_same_seed():
    from IExplainLib.classifier.sampling import BalancedDistributedSampler

    labels = np.r_[np.zeros(900), np.ones(100)]
    parent, again, child = (BalancedDistributedSampler(labels, 400, seed=0, stream=s) for s in (0, 0, 1))
    first = list(parent)
    assert first == list(again)  # a resumed run redraws exactly what it drew
    drawn = list(child)
    assert drawn != first and len(set(drawn) & set(first)) < 0.6 * len(set(first))
    assert abs(labels[drawn].mean() - 0.5) < 0.1  # still balanced
    legacy = np.random.default_rng([0, 0])  # stream 0 is the draw runs made before streams existed
    positives, negatives = np.flatnonzero(labels > 0.5), np.flatnonzero(labels < 0.5)
    is_positive = legacy.random(400) < 0.5
    expected = np.where(is_positive, legacy.choice(positives, 400), legacy.choice(negatives, 400))
    assert first == expected.tolist()


def test_an_unfit_backbone_is_refused_before_any_study_is_prepared(tube_dataset, tmp_path):
    from IExplainLib.errors import ModelFileError

    cache = tmp_path / "cache"
    with pytest.raises(ModelFileError, match="not a convolutional network"):
        train_classifier(tube_dataset, tmp_path / "clf.safetensors", ClassifierSpec(backbone="vit_tiny_patch16_224"),
                         epochs=1, device="cpu", cache_dir=cache)
    assert not cache.exists() and not (tmp_path / "clf.safetensors").exists()
