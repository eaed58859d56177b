"""Score a segmenter on held-out datasets (finding-level, the paper's cluster matching) and record the result in
its model card: ``python -m IExplainLib.evaluation.segmenter_held_out MODEL DATASET [DATASET ...] [--no-card]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def evaluate_into_card(model: Path, datasets: list[Path], write_card: bool = True, device: str = "cpu") -> dict:
    from ..modelfile import model_paths, read_card
    from ..outputs import write_text_atomic
    from .segmenter_report import score_segmenter

    results = {}
    for dataset in datasets:
        scored = score_segmenter(model, dataset, device)
        results[str(dataset)] = {key: value for key, value in scored.items() if key != "per_case"}
    if write_card:
        card = read_card(model)
        card.setdefault("metrics", {})["held_out"] = results
        write_text_atomic(model_paths(model)[1], json.dumps(card, indent=2) + "\n", overwrite=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("datasets", nargs="+")
    parser.add_argument("--no-card", action="store_true", help="print only, leave the card alone")
    args = parser.parse_args(argv)
    results = evaluate_into_card(Path(args.model), [Path(d) for d in args.datasets], not args.no_card)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
