"""The data a reproduce run learns from: phantoms by role and seed range, or a dataset folder (dataset.json or the
RSPECT layout) split into training, finetuning and tuning studies."""


import numpy as np
import pytest

from IExplainLib.cli.main import main
from IExplainLib.errors import InputError
from IExplainLib.reproduce import ReproduceOptions, Reproduction, scale_for
from IExplainLib.reproduce.scale import explain_batch_size
from IExplainLib.reproduce.studies import dataset_studies, make_phantoms, of_role, phantom_plan


def test_phantom_plan_keeps_roles_apart_from_each_other_and_from_the_quality_seeds():
    plan = phantom_plan({"train": 3, "finetune": 2, "tune": 2})
    seeds = {role: [seed for r, seed, _ in plan if r == role] for role in ("train", "finetune", "tune")}
    assert seeds == {"train": [0, 1, 2], "finetune": [7000, 7001], "tune": [8000, 8001]}
    assert all(seed < 9000 for _, seed, _ in plan)  # the quality sets start at 9000
    assert [positive for _, _, positive in plan] == [True, False, False, True, False, True, False]


def test_phantoms_are_made_in_parallel_with_their_truth():
    studies, summary = make_phantoms({"train": 2, "tune": 1}, slices=8, size=32, workers=2)
    assert [s.id for s in studies] == ["phantom-0", "phantom-1", "phantom-8000"]
    assert summary["made"] == {"train": 2, "finetune": 0, "tune": 1} and summary["workers"] == 2
    first = studies[0]
    assert first.load().shape == (8, 32, 32) and first.load_truth().any()  # forced positive
    assert first.slice_labels.shape == (8,) and first.classifier_source().slice_labels is first.slice_labels


@pytest.fixture(scope="module")
def rspect(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "rspect"
    assert main(["synth", str(root), "--studies", "4", "--slices", "8", "--size", "32", "--progress", "quiet"]) == 0
    return root


def test_a_dataset_with_voxel_labels_gives_finetuning_and_tuning_studies_first(rspect):
    studies, summary = dataset_studies(rspect, {"finetune": 1, "tune": 1})
    assert summary["made"] == {"train": 2, "finetune": 1, "tune": 1} and summary["voxel_labelled"] == 4
    tune = of_role(studies, "tune")[0]
    assert tune.has_truth and tune.load_truth().shape == tune.load().shape
    train = of_role(studies, "train")[0]
    assert train.classifier_source().slice_labels is not None


def test_rspect_without_voxel_labels_trains_on_every_study_and_tunes_on_phantoms(rspect, tmp_path):
    import shutil

    bare = tmp_path / "rspect-bare"
    shutil.copytree(rspect, bare)
    (bare / "dataset.json").unlink()  # RSPECT as published: train.csv and the DICOM series only
    shutil.rmtree(bare / "truth")
    studies, summary = dataset_studies(bare, {"finetune": 1, "tune": 1})
    assert summary["layout"] == "rspect" and summary["made"] == {"train": 4, "finetune": 0, "tune": 0}
    labels = of_role(studies, "train")[0].slice_labels
    assert labels is not None and set(np.unique(labels)) <= {0.0, 1.0}
    run = Reproduction(ReproduceOptions(tmp_path / "run", scale_for("toy"), 1.0, device="cpu", data=bare,
                                        phases=("data",)))
    report = run.run()
    data = report["phases"]["data"]["result"]
    assert data["made"]["train"] == 4 and data["tune_phantoms"]["made"]["tune"] == 1
    assert [s.id for s in of_role(run.studies, "tune")] == ["phantom-8000"]


def test_too_few_training_studies_are_refused(tmp_path, rspect):
    with pytest.raises(InputError, match="fewer than 2"):
        dataset_studies(rspect, {"finetune": 2, "tune": 1})


def test_large_classifiers_explain_in_fewer_rows_per_pass():
    assert explain_batch_size("iexplain_efficientnetv2_tiny", 128) == 64
    assert explain_batch_size("tf_efficientnetv2_s", 384) == 32
    assert explain_batch_size("tf_efficientnetv2_l", 512) == 4


def test_workers_nobody_waits_for_are_stopped_before_training_starts():
    # a worker busy for a minute (as a phantom still being made when the data phase ends) is stopped at once
    import concurrent.futures as futures
    import multiprocessing
    import time

    from IExplainLib.reproduce.studies import _shut_down

    pool = futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"))
    busy = pool.submit(time.sleep, 60)
    while not busy.running():
        time.sleep(0.05)
    worker = next(iter(pool._processes.values()))
    started = time.monotonic()
    assert _shut_down(pool) == 1
    assert time.monotonic() - started < 15 and not worker.is_alive()
