"""``iexplain reproduce``: the CPU dry run at toy scale end to end (the suite's guard against the command rotting
between lent GPUs), its refusals, and a phase that fails or runs short of time without losing the finished ones."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from IExplainLib.cli.main import main
from IExplainLib.modelfile import load_model_file
from IExplainLib.reproduce import Phase, ReproduceOptions, Reproduction, scale_for
from IExplainLib.reproduce.pipeline import NO_REDUCER
from IExplainLib.reproduce.report import build_report, format_markdown


PROJECT = Path(__file__).resolve().parents[2]
# What the lent GPU machine lacks and benchmarks/device/run.sh does not carry: the dry run must not need them.
ABSENT_ON_DEVICE = ("SimpleITK", "nibabel", "nrrd", "highdicom", "slicerio")
WITHOUT_MODULES = """
import importlib.abc, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in %r:
            raise ModuleNotFoundError(f"No module named {name!r} (absent on the GPU device)")
sys.meta_path.insert(0, Absent())
from IExplainLib.cli.main import main
sys.exit(main(sys.argv[1:]))
""" % (ABSENT_ON_DEVICE,)


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    """One toy run of the whole command (about a minute on one core), in a process where the packages the GPU
    device lacks cannot be imported. Its budget is ten times what it needs, so that a loaded machine (CI beside
    other work on two cores) cuts no phase short: phases end when their work is done, not at their deadline.
    The bundled models are not scored (--no-bundled): the bundled classifier at 256 px would fill the quality
    phase's share on a CPU; test_quality_phase.py compares the run's reducer with the bundled one."""
    out = tmp_path_factory.mktemp("reproduce") / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(PROJECT)}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", WITHOUT_MODULES, "reproduce", str(out), "--scale", "toy",
                             "--minutes", "10", "--device", "cpu", "--progress", "quiet", "--no-bundled"],
                            env=env, cwd=PROJECT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result.returncode, time.monotonic() - started


def test_dry_run_runs_every_phase_inside_its_budget(dry_run):
    out, code, seconds = dry_run
    assert code == 0
    report = json.loads((out / "reproduce.json").read_text())
    assert report["format"] == "iexplain-reproduce"
    phases = {p["name"]: p for p in report["budget"]["phases"]}
    assert list(phases) == ["data", "bench", "classifier", "tune", "reducer", "pseudo-label", "segmenter", "finetune",
                            "quality"]
    assert all(p["status"] == "done" for p in phases.values()), phases
    assert report["budget"]["ended_inside_budget"] and seconds < 10 * 60
    # A phase that ran past its deadline (a loaded machine) gives the excess back from the later ones: the report's
    # figures must add up so, whatever the load (the allotment itself is tested on a fake clock in test_budget.py).
    for phase in phases.values():
        assert phase["over_s"] == pytest.approx(max(0.0, phase["seconds"] - phase["allotted_s"]), abs=0.5)
    assert sum(p["seconds"] for p in phases.values()) <= report["budget"]["seconds_used"] + 0.5
    assert not (out / "work").exists()  # caches and checkpoints are gone


def test_dry_run_writes_every_model_as_safetensors_with_a_card(dry_run):
    out, _, _ = dry_run
    expected = {"classifier": "classifier", "wsl-segmenter": "segmenter", "finetuned-from-wsl": "segmenter",
                "random-init": "segmenter", "reducer": "reducer"}
    for name, kind in expected.items():
        state, card = load_model_file(out / "models" / f"{name}.safetensors", expected_kind=kind)
        assert state and card["kind"] == kind
    classifier_card = json.loads((out / "models" / "classifier.json").read_text())
    assert "high_threshold" in classifier_card["explain"]          # h tuned and recorded in the card
    finetuned = json.loads((out / "models" / "finetuned-from-wsl.json").read_text())["training"]
    scratch = json.loads((out / "models" / "random-init.json").read_text())["training"]
    assert finetuned["init"] == "pretrained" and scratch["init"] == "random"
    assert finetuned["data"]["case_ids"] == scratch["data"]["case_ids"] == ["phantom-7000"]
    reducer = json.loads((out / "models" / "reducer.json").read_text())    # the reducer phase: slice labels only
    assert reducer["training"]["supervision"] == "slice labels only (mil)"
    assert reducer["reducer"]["architecture"] == "rings-mlp" and reducer["training"]["config"]["epochs"] == 2
    assert reducer["training"]["data"]["case_ids"] == ["phantom-0", "phantom-1"]
    assert reducer["threshold"] == reducer["metrics"]["tuning"]["threshold"]  # chosen on the tuning study


def test_dry_run_scores_on_the_quality_sets_and_times_the_bench(dry_run):
    out, _, _ = dry_run
    quality = json.loads((out / "quality.json").read_text())
    assert quality["format"] == "iexplain-quality" and quality["quick"]
    report = json.loads((out / "reproduce.json").read_text())
    sets = report["phases"]["quality"]["result"]["sets"]
    scored = [block for block in sets.values() if "skipped" not in block]
    assert scored and all({"iexplain", "wsl_segmenter", "finetuned", "random_init", "candidates"} <= set(b)
                          for b in scored)
    reducer = json.loads((out / "models" / "reducer.json").read_text())
    for block in scored:  # the candidate detector with this run's reducer, at the threshold of its card
        candidates = block["candidates"]
        assert candidates["threshold"] == reducer["threshold"] and candidates["studies"] == block["studies"]
        assert {"strict", "intersection", "froc", "by_calibre", "fp_per_negative_study"} <= set(candidates)
    assert quality["candidates"]["model"]["sha256"] == reducer["sha256"]
    assert set(quality["candidates"]["sets"]) == set(sets)
    assert all(min(seed for seed in item["definition"]["positive_seeds"] + item["definition"]["negative_seeds"]
                   or [9000]) >= 9000 for item in quality["sets"])  # held out: never trained on
    pseudo = report["phases"]["pseudo-label"]["result"]
    assert pseudo["studies"] == 2 and pseudo["scored_against_truth"] == 2
    bench = json.loads((out / "bench.json").read_text())
    assert bench["attribution"]["max_relative_difference"] < 1e-4 and bench["attribution"]["flop_per_pass"] > 0
    assert bench["segmenter"]["study_shape_zyx"] == [16, 64, 64]
    markdown = (out / "reproduce.md").read_text()
    assert "## Held-out quality sets" in markdown and "| quality | done |" in markdown
    assert "| reducer | done |" in markdown and "| random init | candidates |" in markdown
    assert "### Candidate detector with this run's reducer" in markdown
    assert "## Candidates + false-positive reducer" in (out / "quality.md").read_text()


def test_without_a_reducer_the_quality_phase_says_the_candidates_were_skipped(dry_run, tmp_path):
    # a run whose phases left out "reducer": its quality phase, given the dry run's classifier and WSL segmenter
    out, _, _ = dry_run
    run = Reproduction(ReproduceOptions(tmp_path / "run", scale_for("toy"), 2.0, device="cpu",
                                        phases=("data", "classifier", "pseudo-label", "segmenter", "quality"),
                                        compare_bundled=False))
    run.device = torch.device("cpu")
    run.models.mkdir(parents=True)
    for name in ("classifier", "wsl-segmenter"):
        for suffix in (".safetensors", ".json"):
            shutil.copy(out / "models" / f"{name}{suffix}", run.models)
    run.budget.run([Phase("quality", 1.0, run.phase_quality)])
    report = build_report(run)
    quality = report["phases"]["quality"]
    assert quality["status"] == "done", quality["message"]
    assert quality["result"]["candidates"] == {"skipped": NO_REDUCER} and "reducer" not in report["models"]
    scored = [block for block in quality["result"]["sets"].values() if "skipped" not in block]
    assert scored and all(block["candidates"] == {"skipped": NO_REDUCER} for block in scored)
    assert json.loads((run.out / "quality.json").read_text())["candidates"] == {"skipped": NO_REDUCER}
    assert f"Skipped: {NO_REDUCER}." in (run.out / "quality.md").read_text()
    assert f"Candidate detector: skipped ({NO_REDUCER})." in format_markdown(report)


def test_an_existing_output_is_refused_without_overwrite(dry_run, capsys):
    out, _, _ = dry_run
    before = (out / "reproduce.json").read_text()
    assert main(["reproduce", str(out), "--scale", "toy", "--device", "cpu"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "not empty" in error[0] and "--overwrite" in error[0]
    assert (out / "reproduce.json").read_text() == before


@pytest.mark.parametrize("arguments, message", [
    (["--minutes", "0"], "--minutes must be positive"),
    (["--backbone", "resnet9000"], "unknown backbone"),
    (["--data", "/nonexistent/dataset"], "dataset /nonexistent/dataset not found"),
    (["--studies", "1"], "at least 2 training studies"),
    (["--device", "tpu"], "unknown device"),
])
def test_bad_input_is_answered_in_one_line(arguments, message, tmp_path, capsys):
    assert main(["reproduce", str(tmp_path / "out"), "--scale", "toy", *arguments]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0], error
    assert not (tmp_path / "out" / "models").exists()


def test_a_failing_phase_keeps_the_finished_ones(tmp_path, monkeypatch):
    def broken(self, deadline):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(Reproduction, "phase_pseudo_label", broken)
    options = ReproduceOptions(tmp_path / "run", scale_for("toy"), 2.0, device="cpu",
                               phases=("data", "classifier", "pseudo-label", "segmenter"))
    report = Reproduction(options).run()
    status = {p["name"]: (p["status"], p["message"]) for p in report["budget"]["phases"]}
    assert status["classifier"] == ("done", "")
    assert status["pseudo-label"] == ("failed", "RuntimeError: CUDA out of memory (simulated)")
    assert status["segmenter"][0] == "skipped" and "pseudo-labels" in status["segmenter"][1]
    on_disk = json.loads((tmp_path / "run" / "reproduce.json").read_text())
    assert on_disk["phases"]["classifier"]["status"] == "done"
    assert load_model_file(tmp_path / "run" / "models" / "classifier.safetensors", expected_kind="classifier")


def test_a_training_phase_short_of_time_ends_on_time_with_its_model(tmp_path):
    # far more epochs than its share allows: the classifier must stop at its deadline, write its model, and keep
    # the data phase's result
    options = ReproduceOptions(tmp_path / "run", scale_for("toy", epochs=10 ** 4), 0.4, device="cpu",
                               phases=("data", "classifier"))
    report = Reproduction(options).run()
    data, classifier = report["budget"]["phases"]
    assert data["status"] == "done"
    assert classifier["status"] == "partial" and classifier["seconds"] <= classifier["allotted_s"] + 2.0
    assert report["budget"]["ended_inside_budget"]
    result = report["phases"]["classifier"]["result"]
    assert result["time_limit"]["stopped_by_deadline"] and result["steps"] < result["time_limit"]["planned_steps"]
    assert Path(result["model"]).exists()


def test_a_failing_benchmark_keeps_the_other_figures(tmp_path, monkeypatch):
    from IExplainLib.benchmarks import attribution

    def out_of_memory(**kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 80 GiB\nmore detail")

    monkeypatch.setattr(attribution, "run", out_of_memory)
    options = ReproduceOptions(tmp_path / "run", scale_for("toy"), 1.0, device="cpu", phases=("bench",))
    report = Reproduction(options).run()
    bench = report["phases"]["bench"]
    assert bench["status"] == "partial"
    assert bench["result"]["attribution"] == {"error": "RuntimeError: CUDA out of memory. Tried to allocate 80 GiB"}
    assert bench["result"]["segmenter"]["seconds"] >= 0
    assert json.loads((tmp_path / "run" / "bench.json").read_text())["segmenter"]["study_shape_zyx"] == [16, 64, 64]


def test_dry_run_models_come_back_as_the_device_call_packs_them(dry_run, tmp_path):
    # what benchmarks/device/run.sh does after the run: both models' weights among at most 8 result files of at
    # most 16 MiB (4 parts beside run.log, reproduce.md, reports.tar.gz and the manifest), then joined and checked
    from IExplainLib.model_parts import MIB, join_parts, pack_models

    out, _, _ = dry_run
    bench = json.loads((out / "bench.json").read_text())
    assert not [key for block in bench.values() for key in block if key in ("error", "errors")], bench
    assert bench["attribution"]["bf16_vs_fp32"]["heat_pearson"] > 0.99
    summary = pack_models(out / "models", tmp_path / "back", max_bytes=60 * MIB, max_parts=4, part_mib=16,
                          work_dir=tmp_path / "bf16")
    assert {"classifier", "wsl-segmenter"} <= set(summary["shipped"]) and not summary["left"]
    parts = sorted((tmp_path / "back").iterdir())
    assert len(parts) + 3 <= 8 and all(path.stat().st_size <= 16 * MIB for path in parts)
    joined = join_parts(summary["manifest"], tmp_path / "joined")
    for name, kind in (("classifier", "classifier"), ("wsl-segmenter", "segmenter")):
        assert load_model_file(tmp_path / "joined" / f"{name}.safetensors", expected_kind=kind)
    assert len(joined) >= 4
    # the report ends with the decision: bundled vs new per model and set, then one ship / keep line per model
    tail = (out / "reproduce.md").read_text().rstrip().splitlines()[-3:]
    assert [line.split(":")[0] for line in tail] == ["- classifier", "- wsl-segmenter", "- reducer"]
    assert all("**ship**" in line or "**keep**" in line for line in tail)
    decision = json.loads((out / "reproduce.json").read_text())["phases"]["quality"]["result"]["decision"]
    assert decision["classifier"]["decision"] == "keep"  # --no-bundled: nothing to compare with
    assert all(row["winner"] == "not compared: the bundled models were not scored (--no-bundled)"
               for row in decision["classifier"]["sets"].values())
