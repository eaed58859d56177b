"""``tune-threshold`` and ``ablation`` end to end with a tiny classifier on tiny phantoms (fast settings)."""

import json

import numpy as np
import pytest

from IExplainLib.cli.main import main
from IExplainLib.evaluation.explainer_runs import explain_for_ablation, first_iteration_cache, segment_at
from IExplainLib.explain import IExplainer
from IExplainLib.modelfile import load_model_file
from IExplainLib.phantoms import make_study
from .tiny_model import FAST_EXPLAIN, PHANTOM_ARGS, save_tiny_classifier


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    return save_tiny_classifier(tmp_path_factory.mktemp("model"))


def test_swept_first_iteration_equals_what_the_explainer_segments(classifier):
    explainer = IExplainer(classifier, device="cpu", overrides={"n_steps": 2, "references": ["zero"],
                                                                "smoothgrad_samples": 1, "max_iterations": 1})
    volume = make_study(8003, slices=8, size=64).volume
    cache = first_iteration_cache(explainer, volume)
    for h in (1.5, 3.0):
        at_h = explainer.with_params(explainer.params.replace(high_threshold=h))
        direct = explain_for_ablation(at_h, volume).unfiltered > 0
        assert np.array_equal(segment_at(cache, h, at_h.params), direct)
        assert direct.any()
    assert segment_at(cache, 2.0, explainer.params).sum() <= segment_at(cache, 1.0, explainer.params).sum()


def test_tune_threshold_cli_picks_per_rule_and_updates_card(classifier, tmp_path, capsys):
    card_path = classifier.with_suffix(".json")
    before = json.loads(card_path.read_text())
    report_path = tmp_path / "tuning.json"
    code = main(["tune-threshold", "--phantoms", "2", "--seed", "8001", "--classifier", str(classifier),
                 "--grid", "1,2,4,8", "--target-sensitivity", "0.5", "-o", str(report_path),
                 *PHANTOM_ARGS, *FAST_EXPLAIN])
    out = capsys.readouterr().out
    assert code == 0 and "<- chosen" in out
    report = json.loads(report_path.read_text())
    rows = report["sweep"]
    assert [row["high_threshold"] for row in rows] == [1, 2, 4, 8]
    meeting = [row["high_threshold"] for row in rows if (row["unfiltered"]["sensitivity"] or 0) >= 0.5]
    top = max((row["unfiltered"]["sensitivity"] or 0) for row in rows)
    expected = max(meeting) if meeting else max(row["high_threshold"] for row in rows
                                                if (row["unfiltered"]["sensitivity"] or 0) == top)
    assert report["chosen"]["high_threshold"] == expected
    assert report["chosen"]["target_met"] == bool(meeting)
    assert report["true_pes"] > 0
    after = json.loads(card_path.read_text())
    assert after["explain"]["high_threshold"] == expected
    assert after["explain_tuning"]["evaluation_set"]["seeds"] == [8001, 8002]
    assert json.loads(card_path.with_name(card_path.name + ".bak").read_text()) == before
    load_model_file(classifier, "classifier")  # weights and checksum untouched


def test_tune_threshold_refuses_held_out_seeds(classifier, capsys):
    code = main(["tune-threshold", "--phantoms", "2", "--seed", "9000", "--classifier", str(classifier),
                 *PHANTOM_ARGS, *FAST_EXPLAIN])
    err = capsys.readouterr().err
    assert code == 2 and "8000-8999" in err and len(err.strip().splitlines()) == 1


def test_ablation_cli_writes_json_png_and_tables(classifier, tmp_path, capsys):
    out_dir = tmp_path / "report"
    code = main(["ablation", "--phantoms", "2", "--seed", "9000", "--classifier", str(classifier),
                 "-o", str(out_dir), *PHANTOM_ARGS, *FAST_EXPLAIN])
    assert code == 0, capsys.readouterr().err
    report = json.loads((out_dir / "ablation.json").read_text())
    png = (out_dir / "ablation.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert "Table 2" in (out_dir / "ablation.md").read_text()
    assert report["held_out"] and report["evaluation_set"]["seeds"] == [9000, 9001]
    curves = report["fig4"]["curves"]
    assert [row["k"] for row in curves] == [1, 2]  # max_iterations from the card
    assert sum(report["fig4"]["histogram"]["studies"]) == report["studies"] == 2
    # cumulative unions only grow: unfiltered TP never drops with k
    tps = [row["unfiltered"]["tp"] for row in curves]
    assert tps == sorted(tps)
    first, best = report["table2_iterations"]
    assert best["f1"] >= first["f1"] and best["iteration"] == report["best_iteration"]
    unfiltered_best, filtered_best = report["table3_filtering"][:2]
    assert filtered_best["fp"] <= unfiltered_best["fp"]
    # a second run refuses to overwrite, before any explaining
    code = main(["ablation", "--phantoms", "2", "--classifier", str(classifier), "-o", str(out_dir),
                 *PHANTOM_ARGS, *FAST_EXPLAIN])
    assert code == 2 and "already exists" in capsys.readouterr().err
