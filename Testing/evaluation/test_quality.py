"""``iexplain quality``: the fixed held-out sets, the quick run end to end on tiny real models, and its refusals."""

import json

import numpy as np
import pytest
import torch

from IExplainLib.cli.main import main
from IExplainLib.evaluation.finding_metrics import match_findings, match_findings_strict, voxel_overlap
from IExplainLib.evaluation.quality_sets import (FULL_SETS, QUICK_SETS, QualitySet, check_held_out,
                                                  real_ct_root)
from IExplainLib.findings import label_findings
from IExplainLib.modelfile import save_model
from .tiny_model import save_tiny_classifier

FAST_IG = ["--ig-steps", "2", "--references", "zero", "--smoothgrad-samples", "1", "--device", "cpu"]


def save_tiny_segmenter(folder):
    """An untrained DynUNet on a coarse 8 mm grid whose low threshold marks nearly everything: one huge finding
    that touches every clot (a hit for the paper's matching, a miss for strict matching)."""
    from IExplainLib.segmenter.spec import ARCHITECTURE, SegmenterSpec, build_network, portable_state_dict

    torch.manual_seed(0)
    spec = SegmenterSpec(filters=(4, 8, 8), patch_size=(8, 32, 32), inplane_spacing_mm=8.0, threshold=0.01)
    path = folder / "tiny-segmenter.safetensors"
    save_model(path, portable_state_dict(build_network(spec)), {"kind": "segmenter", "architecture": ARCHITECTURE,
                                                                "spec": spec.to_card()})
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return save_tiny_classifier(folder), save_tiny_segmenter(folder)


@pytest.fixture(scope="module")
def quick_run(models, tmp_path_factory):
    out = tmp_path_factory.mktemp("quality")
    classifier, segmenter = models
    code = main(["quality", "--quick", "--classifier", str(classifier), "--segmenter", str(segmenter),
                 "--json", str(out / "q.json"), "--markdown", str(out / "q.md"), "--progress", "quiet", *FAST_IG])
    assert code == 0
    return json.loads((out / "q.json").read_text()), (out / "q.md").read_text()


def test_the_sets_are_fixed_held_out_and_disjoint():
    for sets in (FULL_SETS, QUICK_SETS):
        check_held_out(sets)
        assert [item.name for item in sets] == ["synthetic", "real-anatomy", "negative", "no-contrast"]
    full = {item.name: item for item in FULL_SETS}
    assert full["synthetic"].size == 512 and full["synthetic"].negative_seeds  # PE-negative ones included
    assert full["negative"].positive_seeds == () and len(full["negative"].negative_seeds) == 3
    for quick in QUICK_SETS:  # the quick sets are subsets of the full ones
        assert set(quick.seeds) <= set(full[quick.name].seeds)
    with pytest.raises(ValueError, match="held-out"):
        check_held_out((QualitySet("x", "synthetic", "", positive_seeds=(8500,)),))
    with pytest.raises(ValueError, match="twice"):
        check_held_out((QualitySet("x", "synthetic", "", positive_seeds=(9300,), negative_seeds=(9300,)),))


def _pooled(rows, method, key):
    return {name: sum(row[method][key][name] if key else row[method][name] for row in rows)
            for name in (("tp", "fp", "fn") if key else ("findings", "predicted_voxels", "intersection_voxels",
                                                          "truth_voxels"))}


def test_quick_report_structure_and_internal_consistency(quick_run):
    report, markdown = quick_run
    assert report["format"] == "iexplain-quality" and report["quick"] is True
    assert report["strict_share"] == 0.10 and report["explain_params"]["n_steps"] == 2
    # the preset is chosen as detect chooses it (by device), and the flags that changed it are named
    assert report["preset"]["name"] == "fast" and report["preset"]["chosen_by"] == "device cpu"
    assert "n_steps" in report["preset"]["overridden"] and report["ig_preset"] == "custom"
    real_ct = (real_ct_root() / "popi_4dct_phase00_chest_ct").is_dir()
    for item in report["sets"]:
        if item["skipped"]:
            assert not real_ct and item["kind"] in ("real-anatomy", "real-ct")
            continue
        rows = item["per_study"]
        assert item["studies"] == len(rows) == len(item["definition"]["positive_seeds"]) + \
            len(item["definition"]["negative_seeds"]) or item["kind"] == "real-ct"
        assert item["true_pes"] == sum(row["true_pes"] for row in rows)
        assert item["slice"]["slices"] == sum(row["shape_zyx"][0] for row in rows)
        assert item["slice"]["positives"] == sum(row["positive_slices"] for row in rows)
        iexplain, segmenter = item["iexplain"], item["segmenter"]
        assert iexplain["shipped"] == iexplain["iterations"][-1]["filtered"]
        assert [row["k"] for row in iexplain["iterations"]] == list(range(1, len(iexplain["iterations"]) + 1))
        for method, block in (("iexplain", iexplain["shipped"]), ("segmenter", segmenter)):
            per_study = [{**row, "iexplain": row["iexplain"]["filtered"]} for row in rows]
            for matching in ("intersection", "strict"):
                assert {k: block[matching][k] for k in ("tp", "fp", "fn")} == _pooled(per_study, method, matching)
                assert block[matching]["tp"] + block[matching]["fn"] == item["true_pes"]
            assert {k: block[k] for k in ("findings", "predicted_voxels", "intersection_voxels", "truth_voxels")} \
                == _pooled(per_study, method, None)
            assert block["strict"]["tp"] <= block["intersection"]["tp"]
            assert block["strict"]["fp"] >= block["intersection"]["fp"]
            total = block["predicted_voxels"] + block["truth_voxels"]
            assert block["dice"] == (None if total == 0 else 2 * block["intersection_voxels"] / total)
        negatives = [row for row in rows if row["true_pes"] == 0]
        assert item["negative_studies"] == len(negatives)
        if negatives:
            expected = np.mean([row["iexplain"]["filtered"]["findings"] for row in negatives])
            assert iexplain["fp_per_negative_study"] == pytest.approx(expected, abs=1e-3)
        for row in negatives:  # on a study without emboli every finding is a false positive, under both rules
            for block in (row["iexplain"]["filtered"], row["segmenter"]):
                assert block["intersection"]["fp"] == block["strict"]["fp"] == block["findings"]
        assert f"Set `{item['name']}`" in markdown
    names = [entry["case"] for entry in report["negative_studies"]]
    assert "phantom-9304" in names and "phantom-9500" in names
    if real_ct:
        block = report["no_contrast"]
        assert block["case"] == "popi_4dct_phase00_chest_ct"
        # 8 slices hold too few lung vessels for the contrast check to decide (the whole series is tested in
        # Testing/core/test_contrast_check.py); the report carries what the check said
        assert block["warning_check_available"] is True and block["not_ctpa_warning"] is bool(block["warnings"])
        assert "CT without arterial contrast" in markdown
    assert "paper / strict" in markdown


def test_quick_numbers_are_what_detect_writes_scored_on_the_masks(quick_run, models):
    """Rerun both methods on two quick studies through ``detect``'s own functions, score the masks directly."""
    from IExplainLib.explain import IExplainer
    from IExplainLib.explain.params import params_for_model
    from IExplainLib.modelfile import read_card
    from IExplainLib.phantoms import make_study
    from IExplainLib.segmenter.inference import Segmenter

    report, _ = quick_run
    classifier, segmenter = models
    rows = {row["case"]: row for item in report["sets"] if not item["skipped"] for row in item["per_study"]}
    params = params_for_model(read_card(classifier), overrides={"n_steps": 2, "references": ["zero"],
                                                                "smoothgrad_samples": 1})
    for seed, negative in ((9300, False), (9304, True)):
        study = make_study(seed, slices=8, size=64, negative=negative)
        row = rows[f"phantom-{seed}"]
        assert row["true_pes"] == len(study.emboli) and (row["true_pes"] == 0) == negative
        iexplain = IExplainer(classifier, params, "cpu").explain(study.volume).labelmap.array
        mask = Segmenter(segmenter, device="cpu").explain(study.volume).labelmap.array
        for block, prediction in ((row["iexplain"]["filtered"], iexplain), (row["segmenter"], mask)):
            assert block["findings"] == label_findings(prediction)[1]
            paper = match_findings(prediction, study.truth)
            strict = match_findings_strict(prediction, study.truth, 0.10)
            assert (block["intersection"]["tp"], block["intersection"]["fp"], block["intersection"]["fn"]) == \
                (paper.tp, paper.fp, paper.fn)
            assert (block["strict"]["tp"], block["strict"]["fp"], block["strict"]["fn"]) == \
                (strict.tp, strict.fp, strict.fn)
            assert block["dice"] == voxel_overlap(prediction, study.truth).dice
    # the segmenter marks nearly the whole phantom: it touches both emboli (paper: 2 TP) but is no detection
    seg = rows["phantom-9300"]["segmenter"]
    assert seg["intersection"]["tp"] == rows["phantom-9300"]["true_pes"] and seg["strict"]["tp"] == 0


def _one_line_error(capsys, args):
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("iexplain quality: error:")
    return err


def test_refusals_are_one_line(models, tmp_path, capsys):
    classifier, segmenter = models
    err = _one_line_error(capsys, ["quality", "--quick", "--classifier", str(tmp_path / "missing.safetensors"),
                                   "--segmenter", str(segmenter)])
    assert "missing.safetensors not found" in err
    err = _one_line_error(capsys, ["quality", "--quick", "--classifier", str(classifier),
                                   "--segmenter", str(tmp_path / "nope.safetensors")])
    assert "segmenter" in err and "not found" in err
    err = _one_line_error(capsys, ["quality", "--quick", "--classifier", str(segmenter), "--segmenter",
                                   str(segmenter), *FAST_IG])
    assert "is a segmenter model, but a classifier is needed" in err
    err = _one_line_error(capsys, ["quality", "--quick", "--classifier", str(classifier), "--segmenter",
                                   str(classifier), *FAST_IG])
    assert "is a classifier model, but a segmenter is needed" in err
    err = _one_line_error(capsys, ["quality", "--quick", "--classifier", str(classifier), "--segmenter",
                                   str(segmenter), "--strict-share", "0", *FAST_IG])
    assert "--strict-share" in err
    existing = tmp_path / "exists.json"
    existing.write_text("{}")
    err = _one_line_error(capsys, ["quality", "--quick", "--classifier", str(classifier), "--segmenter",
                                   str(segmenter), "--json", str(existing)])
    assert "already exists" in err


def test_sets_option_scores_only_the_sets_asked_for(models, quick_run, tmp_path, capsys):
    classifier, segmenter = models
    out = tmp_path / "part.json"
    assert main(["quality", "--quick", "--classifier", str(classifier), "--segmenter", str(segmenter),
                 "--sets", "synthetic,negative", "--json", str(out), "--progress", "quiet", *FAST_IG]) == 0
    part = {item["name"]: item for item in json.loads(out.read_text())["sets"]}
    whole = {item["name"]: item for item in quick_run[0]["sets"]}
    assert list(part) == list(whole)  # every set is listed, in the same order
    assert part["real-anatomy"]["skipped"] and part["no-contrast"]["skipped"]
    assert "--sets" in part["real-anatomy"]["skipped"]
    for name in ("synthetic", "negative"):  # the same studies scored the same way as in the full run
        assert not part[name]["skipped"]
        timeless = [{k: v for k, v in item[name]["iexplain"].items() if k != "seconds_per_study"}
                    for item in (part, whole)]
        assert timeless[0] == timeless[1]
    err = _one_line_error(capsys, ["quality", "--quick", "--classifier", str(classifier), "--segmenter",
                                   str(segmenter), "--sets", "synthetic,lungs", *FAST_IG])
    assert "--sets" in err and "lungs" in err


def test_quality_reads_the_inner_answers_of_detects_own_run(models):
    """``observed``: the detector the study step runs, with what its ``explain`` computed on the way kept (here
    iExplain's segments before the filters), the same model and the same findings as the plain detector."""
    from IExplainLib.evaluation.quality_run import observed
    from IExplainLib.explain import IExplainer
    from IExplainLib.explain.params import params_for_model
    from IExplainLib.modelfile import read_card
    from IExplainLib.phantoms import make_study
    from IExplainLib.study_step import StudyStep

    classifier, _ = models
    params = params_for_model(read_card(classifier), overrides={"n_steps": 2, "references": ["zero"],
                                                                "smoothgrad_samples": 1})
    explainer = IExplainer(classifier, params, "cpu")
    watched, seen = observed(explainer, "run")
    assert watched.model is explainer.model and "run" not in vars(explainer)  # nothing reloaded, original untouched
    study = make_study(9300, slices=8, size=64)
    result = StudyStep(watched, classifier, params)(None, volume=study.volume)
    explanation, segmentation = seen.value
    assert np.array_equal(segmentation.labelmap, result.detection.labelmap.array)
    # the segments before the filters are those the findings document counts
    assert result.document["summary"]["voxels_before_filter"] == int((segmentation.unfiltered > 0).sum()) > 0
    assert explanation.probabilities.shape == (study.volume.shape[0],)
    assert np.array_equal(explainer.explain(study.volume).labelmap.array, result.detection.labelmap.array)
