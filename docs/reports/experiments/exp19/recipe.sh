#!/usr/bin/env bash
# Experiment 19: the bundled segmenter's recipe (train_demo_segmenter.sh: 30 phantoms, seeds 2000-2029, 256x256x48,
# DynUNet 4-8-16-32, 840 iterations of batch 4, same seed) with one change: its labels are the candidate detector's
# pseudo-labels (`pseudo-label --method candidates`, slice labels only behind the reducer) instead of iExplain's.
# Usage: docs/reports/experiments/exp19/recipe.sh WORK REDUCER [SIZE SLICES]   (repository root, venv active)
# Round 1 used the recipe's 256x256x48 phantoms; round 2 the reducer's own 512x512x64 (its training resolution).
set -euo pipefail
WORK="$1"; REDUCER="$2"; SIZE="${3:-256}"; SLICES="${4:-48}"
iexplain synth "$WORK/train" --studies 30 --seed 2000 --size "$SIZE" --slices "$SLICES" --layout nifti --progress quiet
iexplain pseudo-label "$WORK/train" -o "$WORK/pseudo" --method candidates --reducer "$REDUCER" --progress quiet
OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node 2 -m IExplainLib.cli.main train-segmenter \
  --images "$WORK/train" --labels "$WORK/pseudo" --out "$WORK/seg-candidates.safetensors" \
  --filters 4,8,16,32 --patch-size 32,48,48 --inplane-spacing 2.0 --threshold 0.5 \
  --iterations 840 --batch-size 4 --lr 2e-3 --warmup 20 --seed 0 --checkpoint-every 100 --device cpu --overwrite
python - "$WORK/seg-candidates.json" <<'PY'
import json, sys
card = json.load(open(sys.argv[1])); card["explain"] = {"location_filter": "chest", "defect_check": True}
json.dump(card, open(sys.argv[1], "w"), indent=2)
PY
python docs/reports/segmenter_quality.py "$WORK/seg-candidates.safetensors" Resources/Models/demo-segmenter.safetensors
