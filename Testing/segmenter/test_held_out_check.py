"""The Table 4/5 report refuses a test set that shares studies with the training data, and only then."""

import pytest

from IExplainLib.errors import InputError
from IExplainLib.phantoms import make_study, write_dataset
from IExplainLib.evaluation.segmenter_report import check_held_out


def tiny_dataset(folder, seeds):
    return write_dataset(folder, [make_study(seed, slices=8, size=64) for seed in seeds], layout="nifti")


def test_same_case_names_from_other_seeds_are_held_out(tmp_path):
    train = tiny_dataset(tmp_path / "train", [1, 2])
    test = tiny_dataset(tmp_path / "test", [9000, 9001])  # also named case-000, case-001
    check_held_out([train], test)


def test_a_study_in_both_sets_is_refused(tmp_path):
    train = tiny_dataset(tmp_path / "train", [1, 2])
    test = tiny_dataset(tmp_path / "test", [2, 9001])
    with pytest.raises(InputError, match="also in the test set"):
        check_held_out([train], test)
