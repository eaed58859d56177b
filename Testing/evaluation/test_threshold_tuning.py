"""Threshold sweep on cached synthetic heat maps, and the model-card update with its backup."""

import json

import numpy as np
import pytest
import torch

from IExplainLib.errors import InputError, ModelFileError
from IExplainLib.evaluation.model_card import record_high_threshold
from IExplainLib.evaluation.threshold_tuning import (CachedStudy, choose_threshold, default_grid, parse_grid,
                                                     sweep_thresholds)
from IExplainLib.findings import filter_findings
from IExplainLib.modelfile import load_model_file, model_paths, save_model
from .explainer_clustering import cluster_with_explainer


def synthetic_study():
    """Four emboli whose heat peaks are 10, 6, 3 and 1.5, and a small false blob at 5 near the corner."""
    truth = np.zeros((8, 64, 64), dtype=np.uint8)
    heat = np.zeros(truth.shape, dtype=np.float32)
    for index, (peak, (y, x)) in enumerate(zip((10.0, 6.0, 3.0, 1.5), ((20, 20), (20, 40), (40, 20), (40, 40))),
                                           start=1):
        truth[3:6, y - 2:y + 3, x - 2:x + 3] = index
        heat[3:6, y - 2:y + 3, x - 2:x + 3] = peak
    heat[1, 2, 2] = 5.0  # one voxel: below the size filter
    return CachedStudy.from_truth("synthetic", heat, truth)


def keep_large(mask, volume):
    return filter_findings(mask, min_voxels=20, max_center_distance_px=1000, reference_size=None)


def test_sweep_finds_the_largest_threshold_meeting_the_target():
    study = synthetic_study()
    rows = sweep_thresholds([study], [12, 8, 4, 2, 1], cluster_with_explainer, keep_large)
    assert [row["high_threshold"] for row in rows] == [1, 2, 4, 8, 12]
    sensitivities = [row["unfiltered"]["sensitivity"] for row in rows]
    assert sensitivities == [1.0, 0.75, 0.5, 0.25, 0.0]
    # the false blob (peak 5) is a cluster up to h = 4 and the filter removes it
    assert [row["unfiltered"]["fp"] for row in rows] == [1, 1, 1, 0, 0]
    assert all(row["filtered"]["fp"] == 0 for row in rows)
    assert rows[1]["filtered"]["sensitivity"] == 0.75
    chosen = choose_threshold(rows, 0.75)
    assert chosen["high_threshold"] == 2 and chosen["target_met"]
    assert choose_threshold(rows, 0.9)["high_threshold"] == 1
    unreachable = choose_threshold(rows[1:], 0.9)
    assert unreachable["high_threshold"] == 2 and not unreachable["target_met"]
    tied = [{**row, "unfiltered": {**row["unfiltered"], "sensitivity": 0.5}} for row in rows[:3]]
    assert choose_threshold(tied, 0.9)["high_threshold"] == 4  # equally sensitive: the fewest false clusters


def test_sweep_refuses_an_evaluation_set_without_emboli_and_bad_grids():
    empty = CachedStudy.from_truth("empty", np.ones((2, 8, 8)), np.zeros((2, 8, 8), dtype=np.uint8))
    with pytest.raises(InputError, match="no true PE"):
        sweep_thresholds([empty], [1.0], cluster_with_explainer, keep_large)
    assert parse_grid("8, 2,4,4") == [2.0, 4.0, 8.0]
    with pytest.raises(InputError):
        parse_grid("2,x")
    with pytest.raises(InputError):
        parse_grid("0,1")
    assert default_grid(8.0)[0] == 2.0 and default_grid(8.0)[-1] == 32.0


def make_classifier_file(tmp_path):
    path = tmp_path / "clf.safetensors"
    save_model(path, {"weight": torch.arange(4, dtype=torch.float32)},
               {"kind": "classifier", "architecture": "tiny", "spec": {"slices": 3},
                "explain": {"n_steps": 8}, "metrics": {"auroc": 0.9}})
    return path


def test_card_update_changes_only_the_threshold_and_keeps_a_backup(tmp_path):
    path = make_classifier_file(tmp_path)
    _, card_path = model_paths(path)
    before_text = card_path.read_text()
    before = json.loads(before_text)
    record_high_threshold(path, 3.5, {"target_sensitivity": 0.9, "seeds": [8000, 8009]})
    after = json.loads(card_path.read_text())
    backup = card_path.with_name("clf.json.bak")
    assert backup.read_text() == before_text
    assert after["explain"]["high_threshold"] == 3.5
    assert after["explain"]["n_steps"] == 8 and after["explain_tuning"]["seeds"] == [8000, 8009]
    assert set(after) == set(before) | {"explain_tuning"}
    for key in before:
        if key != "explain":
            assert after[key] == before[key], key
    load_model_file(path, "classifier")  # checksum still matches: the weights were not touched
    # a second tuning backs up the first tuned card
    record_high_threshold(path, 4.0)
    assert json.loads(backup.read_text())["explain"]["high_threshold"] == 3.5
    assert not list(tmp_path.glob(".partial-*"))


def test_card_update_refuses_a_segmenter_and_a_missing_card(tmp_path):
    segmenter = tmp_path / "seg.safetensors"
    save_model(segmenter, {"w": torch.zeros(1)}, {"kind": "segmenter", "architecture": "dynunet"})
    with pytest.raises(ModelFileError, match="segmenter"):
        record_high_threshold(segmenter, 2.0)
    assert not (tmp_path / "seg.json.bak").exists()
    with pytest.raises(ModelFileError, match="not found"):
        record_high_threshold(tmp_path / "missing.safetensors", 2.0)


def test_sweep_gives_each_study_its_ct_so_the_defect_check_runs_in_tuning():
    from IExplainLib.explain.params import ExplainParams
    from IExplainLib.finding_filters import keep_findings
    from IExplainLib.volume import Volume

    hu = np.full((24, 64, 64), -850, np.float32)   # lung, an opacified artery with a clot, bone beside soft tissue
    y, x = np.ogrid[:64, :64]
    hu[:, (y - 20) ** 2 + (x - 20) ** 2 <= 25] = 350
    hu[8:16, (y - 20) ** 2 + (x - 20) ** 2 <= 4] = 50
    hu[:, 40:56, 40:56] = 900
    hu[:, 42:54, 42:54] = 300
    hu[8:16, 44:48, 34:40] = 40
    truth = np.zeros(hu.shape, np.uint8)
    truth[8:16, (y - 20) ** 2 + (x - 20) ** 2 <= 4] = 1
    heat = np.zeros(hu.shape, np.float32)
    heat[6:18, 12:29, 12:29] = 10.0   # the blob around the clot
    heat[6:18, 42:50, 32:42] = 10.0   # soft tissue against the bone: not a filling defect
    study = CachedStudy.from_truth("clot", heat, truth, volume=Volume(hu, (0.7, 0.7, 1.0)))
    params = ExplainParams(min_cluster_voxels=10, location_filter="centre", max_center_distance_px=1000,
                           defect_check=True)
    rows = sweep_thresholds([study], [4], cluster_with_explainer, lambda mask, volume: keep_findings(mask, params,
                                                                                                   volume))
    assert rows[0]["unfiltered"]["tp"] == 1 and rows[0]["unfiltered"]["fp"] == 1
    assert rows[0]["filtered"]["tp"] == 1 and rows[0]["filtered"]["fp"] == 0
