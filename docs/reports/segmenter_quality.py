"""The segmenter rows of `iexplain quality` alone (same held-out sets, same scoring, the card's filters), for
comparing segmenters without re-running iExplain: `score_segmenters`, which runs each segmenter through the study
step as `iexplain detect --method segmenter` does. usage: python segmenter_quality.py SEGMENTER [SEGMENTER ...]"""
import sys

from IExplainLib.evaluation.quality_run import score_segmenters
from IExplainLib.explain.params import params_for_model
from IExplainLib.modelfile import read_card


def _cell(block: dict) -> str:
    return f"{block['f1'] or 0:.3f} ({block['tp']}/{block['fp']}/{block['fn']})"


for path in sys.argv[1:]:
    params = params_for_model(read_card(path))
    print(f"## {path} (filters: location {params.location_filter}, defect check {params.defect_check})")
    for name, item in score_segmenters({path: path}, device="cpu")[path].items():
        if "skipped" in item:
            print(f"| {name} | skipped: {item['skipped']} |")
            continue
        negatives = item["fp_per_negative_study"]
        print(f"| {name} | {_cell(item['intersection'])} | {_cell(item['strict'])} | {item['dice'] or 0:.3f} | "
              f"{float('nan') if negatives is None else negatives:.1f} |", flush=True)
