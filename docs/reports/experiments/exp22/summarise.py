"""Means over seeds of experiment 22's arm logs (the lines ``NAME seed S {json}`` the arm scripts print).

python docs/reports/experiments/exp22/summarise.py LOG|REPORT.json ...
"""

import json
import re
import sys
from collections import defaultdict

import numpy as np


def main():
    arms = defaultdict(list)
    for path in sys.argv[1:]:
        if path.endswith(".json"):  # the arm scripts' reports: {"NAME seed S": figures}
            for key, figures in json.load(open(path)).items():
                arms[f"{path.rsplit('/', 1)[-1]}: {key.rsplit(' seed ', 1)[0]}"].append(figures)
            continue
        for line in open(path):
            match = re.match(r"(.+?) seed (\d+) (\{.*\})$", line.strip())
            if match:
                arms[f"{path.rsplit('/', 1)[-1]}: {match[1]}"].append(json.loads(match[3]))
    print("| arm | seeds | tune @2 | synth @0.5/1/2/4/8 | synth @2 per seed | synth F1 | synth FP/neg | real @0.5/1/2/4/8 |"
          " real @2 per seed | real F1 | real FP/neg | CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, runs in arms.items():
        held = [k for k in runs[0] if isinstance(runs[0][k], dict) and "froc" in runs[0][k]]
        cells = [name, str(len(runs)), f"{np.mean([r['tune']['2'] for r in runs]):.2f}"]
        for key in held:
            froc = "/".join(f"{np.mean([r[key]['froc'][p] for r in runs]):.2f}" for p in ("0.5", "1", "2", "4", "8"))
            per_seed = ", ".join(f"{r[key]['froc']['2']:.2f}" for r in runs)
            fp = [r[key]["fp_per_negative_study"] for r in runs]
            cells += [froc, per_seed, f"{np.mean([r[key]['f1'] for r in runs]):.3f}",
                      f"{np.mean([f for f in fp if f is not None]):.2f}"]
        cells.append(f"{np.mean([r['cpu'] for r in runs]):.1f}")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
