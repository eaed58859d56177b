"""The quality phase inside its share (issue 25): a study running past the share is given up at its next network call
and costs only its own set; the decision bundled vs new; the dry plan of a lent GPU's call."""

import itertools

import pytest
import torch

from IExplainLib.cli.main import main
from IExplainLib.reproduce.budget import PhaseTimeUp, cut_at
from IExplainLib.reproduce.quality_phase import (CUT, TIME_SPENT, StudyTimes, decide, decision_markdown,
                                                 figure_of, per_set)


class Clock:
    """Moves only when told: studies take exactly the time a test gives them."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_overrunning_study_is_cut_at_a_window_and_keeps_the_sets_before():
    clock = Clock()
    network = torch.nn.Linear(4, 1)
    windows = torch.rand(1, 4)
    times = StudyTimes(clock=clock)
    calls = []

    def score(name: str, study_deadline: float) -> dict:
        windows_run = 0
        for study in range(2):
            if clock() >= study_deadline:  # the scorer's own check: no study started after its deadline
                break
            times("quality", None, f"{name}: {study}", case=f"{name}-{study}")
            for _ in range(3 if name == "first" else 100):  # "second": one study far longer than the share
                network(windows)                            # a window batch: where cut_at may stop it
                windows_run += 1
                clock.now += 1.0
        calls.append((name, windows_run))
        return {"windows": windows_run}

    results, missing = per_set(score, ["first", "second", "third"], deadline=20.0, times=times, clock=clock)
    assert results == {"first": {"windows": 6}}             # two studies of three windows
    assert missing == {"second": CUT, "third": TIME_SPENT}
    # the second set ran until the first network call at or after the deadline, then gave up its study
    assert calls == [("first", 6)] and clock.now == 20.0
    assert times.seconds == [3.0, 3.0, 14.0] and times.longest() == 14.0
    network(windows)  # the hook is gone after the block


def test_cut_at_lets_work_before_the_deadline_run():
    clock = Clock()
    network = torch.nn.Linear(2, 1)
    with cut_at(5.0, clock):
        network(torch.rand(1, 2))
        clock.now = 5.0
        with pytest.raises(PhaseTimeUp, match="inside a study"):
            network(torch.rand(1, 2))


def test_a_set_is_started_only_with_room_for_its_longest_study():
    clock = Clock()
    times = StudyTimes(clock=clock)
    times("quality", None, "", case="a")
    clock.now = 8.0
    times.close()
    handed = []
    per_set(lambda name, study_deadline: handed.append(study_deadline), ["x"], deadline=30.0, times=times,
            clock=clock)
    assert handed == [22.0]  # 30 s less the longest study (8 s)


def _block(f1=None, fp=None, studies=2, true_pes=2):
    strict = {"f1": f1}
    return {"studies": studies, "true_pes": true_pes, "skipped": None,
            "iexplain": {"shipped": {"strict": strict}, "fp_per_negative_study": fp},
            "segmenter": {"strict": strict, "fp_per_negative_study": fp}}


def test_the_decision_ships_a_model_better_on_a_set_with_emboli_and_worse_on_none():
    new = {"classifier": {"synthetic": figure_of("classifier", _block(0.4)),
                          "negative": figure_of("classifier", _block(fp=1.0, true_pes=0))},
           "wsl-segmenter": {"synthetic": figure_of("wsl-segmenter", _block(0.4)),
                             "negative": figure_of("wsl-segmenter", _block(fp=5.0, true_pes=0))},
           "reducer": {"synthetic": figure_of("reducer", {"studies": 2, "true_pes": 2, "strict": {"f1": 0.3}})}}
    bundled = {"classifier": {"synthetic": figure_of("classifier", _block(0.2)),
                              "negative": figure_of("classifier", _block(fp=2.0, true_pes=0))},
               "wsl-segmenter": {"synthetic": figure_of("wsl-segmenter", _block(0.2)),
                                 "negative": figure_of("wsl-segmenter", _block(fp=3.0, true_pes=0))},
               "reducer": {"synthetic": figure_of("reducer", {"studies": 1, "true_pes": 1, "strict": {"f1": 0.1}})}}
    decisions = decide(new, bundled)
    assert decisions["classifier"]["decision"] == "ship"
    assert decisions["classifier"]["sets"]["negative"]["winner"] == "new"      # fewer false findings
    assert decisions["wsl-segmenter"]["decision"] == "keep"                    # more false findings on negatives
    assert decisions["wsl-segmenter"]["why"] == "worse than the bundled model on 1 set(s)"
    assert decisions["reducer"]["decision"] == "keep"                          # other studies: not compared
    assert decisions["reducer"]["sets"]["synthetic"]["winner"] == "not compared: 2 vs 1 studies"
    lines = decision_markdown(decisions)
    assert lines[0] == "## Decision: bundled vs new"
    assert lines[-3:] == ["- classifier: **ship** (better on 1 set(s) with true PEs, worse on none; bundled: "
                          "demo-classifier)",
                          "- wsl-segmenter: **keep** (worse than the bundled model on 1 set(s); bundled: "
                          "demo-segmenter)",
                          "- reducer: **keep** (not compared on any set with true PEs; bundled: demo-reducer)"]


def test_a_model_not_scored_is_kept():
    decisions = decide({"classifier": {"synthetic": figure_of("classifier", _block(0.9))}}, {},
                       {"classifier": "the bundled models' share of the phase ran out"})
    row = decisions["classifier"]["sets"]["synthetic"]
    assert row == {"new": 0.9, "bundled": None, "metric": "strict F1",
                   "winner": "not compared: the bundled models' share of the phase ran out"}
    assert decisions["classifier"]["decision"] == "keep" and decisions["reducer"]["sets"] == {}


def test_the_dry_plan_of_a_lent_gpu_fits_its_budget_and_brings_both_models_back(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["reproduce", str(out), "--dry-plan", "--device", "cuda", "--minutes", "6.5"]) == 0
    text = capsys.readouterr().out
    assert not out.exists()  # nothing ran, nothing written, no GPU needed
    rows = [line.split() for line in text.splitlines() if line.strip()]
    heading = [row[0] for row in rows].index("phase")
    phases = {row[0]: float(row[1]) for row in rows[heading + 1:heading + 10]}
    assert list(phases) == ["data", "bench", "classifier", "tune", "reducer", "pseudo-label", "segmenter",
                            "finetune", "quality"]
    assert all(value > 0 for value in phases.values()) and sum(phases.values()) <= 390.0 + 0.5
    assert rows[heading + 10][:4] == ["total", f"{sum(phases.values()):.1f}", "of", "390.0"]
    assert "tf_efficientnetv2_s at 384 px" in text and "DynUNet 32-64-128-160-160-160" in text
    models = {row[0]: row for row in rows[[row[0] for row in rows].index("model") + 1:]}
    assert models["classifier"][-1] == "bfloat16" and models["wsl-segmenter"][-1] == "bfloat16"
    assert models["reducer"][-1] == "original"
    assert "no (its card comes back)" in next(line for line in text.splitlines() if "random-init" in line)


def test_phase_time_up_is_an_exception_budget_records():
    from IExplainLib.reproduce.budget import Phase, PhaseBudget

    def phase(deadline):
        raise PhaseTimeUp("the phase's share ended inside a study (at Linear)")

    ticks = itertools.count()
    records = PhaseBudget(1.0, clock=lambda: float(next(ticks))).run([Phase("quality", 1.0, phase)])
    assert records[0].status == "failed" and "inside a study" in records[0].message


def test_a_run_reducer_is_compared_with_the_bundled_one_on_the_same_studies(tmp_path):
    # data, reducer and quality only (no classifier: iExplain is not scored); the candidate detector is cheap, so
    # both reducers are scored on every quality set inside the phase's share
    from IExplainLib.reproduce import ReproduceOptions, Reproduction, scale_for

    report = Reproduction(ReproduceOptions(tmp_path / "run", scale_for("toy"), 3.0, device="cpu", real_ct="/none",
                                           phases=("data", "reducer", "quality"))).run()
    phases = {p["name"]: p for p in report["budget"]["phases"]}
    assert phases["quality"]["status"] == "done", phases["quality"]
    decision = report["phases"]["quality"]["result"]["decision"]
    rows = decision["reducer"]["sets"]
    assert set(rows) == {"synthetic", "negative"}           # the real-CT sets need the CT given as /none
    assert rows["synthetic"]["metric"] == "strict F1" and rows["negative"]["metric"].startswith("false findings")
    assert all(row["winner"] in ("new", "bundled", "tie") for row in rows.values())
    assert decision["reducer"]["decision"] in ("ship", "keep") and decision["reducer"]["why"]
    assert decision["classifier"]["sets"] == {}             # not scored: no classifier in this run
    assert (tmp_path / "run" / "reproduce.md").read_text().rstrip().endswith(
        f"- reducer: **{decision['reducer']['decision']}** ({decision['reducer']['why']}; bundled: demo-reducer)")


def test_tuning_h_past_its_share_gives_up_its_study_and_keeps_the_cards_h(tmp_path):
    import json
    import time

    from IExplainLib.reproduce import ReproduceOptions, Reproduction, scale_for

    run = Reproduction(ReproduceOptions(tmp_path / "run", scale_for("toy"), 2.0, device="cpu",
                                        phases=("data", "classifier")))
    run.run()
    card = (run.models / "classifier.json").read_text()
    started = time.monotonic()
    result = run.phase_tune(deadline=started)  # the share is spent: the study it must start is cut at once
    assert time.monotonic() - started < 10
    assert result["partial"] and result["cut_inside_study"] and result["high_threshold"] is None
    assert "h was not tuned" in result["message"]
    assert (run.models / "classifier.json").read_text() == card                      # the card's h is kept
    assert "high_threshold" not in json.loads(card).get("explain", {})
