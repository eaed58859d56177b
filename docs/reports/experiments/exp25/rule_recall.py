"""Experiments 25a, 25b and 25d's diagnosis (tuning seeds only): for each embolus of freshly generated studies, the
largest share of clot in a candidate that touches it, and the candidates per study, under the shipped rule and others:
``core_shell`` (25a: the lumen-share check reads the core's own shell), ``bandN`` (25b: a large dense part's voxels
below N HU, smoothed, stand apart), ``dimN`` (25d: defects of dim vessels in the lung below N HU). The truth is read
here to diagnose the candidate pass; nothing trains on it. Only the shipped rule shipped: ``core_shell`` existed at
commit 695b6df only, ``dimN`` at commit 2e7b4b5 only, ``bandN`` in that session's working tree only (its few lines are
in the experiment log); at any other commit the script runs the shipped rule alone.

python docs/reports/experiments/exp25/rule_recall.py {real,synth} FIRST_SEED COUNT [RULE ...]
"""

import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp23"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exp24"))

from recall import rule_row  # noqa: E402
from studies import study_maker  # noqa: E402

from IExplainLib.candidates.proposals import DEFAULT_RULE


def rule_named(name: str):
    if name == "shipped":
        return DEFAULT_RULE
    if name == "core_shell":
        return replace(DEFAULT_RULE, core_shell=True)
    if name.startswith("band"):
        return replace(DEFAULT_RULE, clot_band_hu=float(name[4:]))
    if name.startswith("splitdim"):  # experiment 26c
        return replace(DEFAULT_RULE, split_dim_hu=float(name[8:]))
    if name.startswith("dim"):
        return replace(DEFAULT_RULE, dim_ceiling_hu=float(name[3:]))
    raise SystemExit(f"unknown rule {name!r}")


def main():
    kind, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    names = sys.argv[4:] or ["shipped", "core_shell"]
    rules = {name: rule_named(name) for name in names}
    make = study_maker(kind)
    for seed in range(first, first + count):
        print(json.dumps(rule_row(seed, make(seed), rules)), flush=True)


if __name__ == "__main__":
    main()
